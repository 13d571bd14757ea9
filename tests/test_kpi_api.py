"""GET /api/v1/campaigns/{code}/kpis (JSON and CSV) and POST .../participants."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from unittest import mock

import pytest
from fastapi.testclient import TestClient

from bot.settings import Settings
from storage.db import Database
from tests.test_kpi_shop import TODAY, shop_client


@pytest.fixture
def shop(settings: Settings, db: Database) -> Iterator[TestClient]:
    with shop_client(settings, db) as client, mock.patch("bot.api.campaigns.utcnow", lambda: TODAY):
        yield client


def kpis(body: dict) -> dict:  # type: ignore[type-arg]
    return {k["key"]: k for k in body["kpis"]}


def test_json_has_the_same_figures_as_chat(shop: TestClient) -> None:
    response = shop.get("/api/v1/campaigns/D11-2026/kpis")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["campaign"]["code"] == "D11-2026"
    assert body["range"] == {"from": None, "to": "2026-11-19"}
    assert body["baseline"]["code"] == "D11-2025" and body["compared"] is True
    k = kpis(body)
    assert k["gross_sales"]["value"] == 165000 and k["gross_sales"]["previous"] == 60000
    assert k["gross_sales"]["change"] == 105000 and k["gross_sales"]["change_pct"] == 1.75
    assert k["registered"]["change_pct"] is None  # base 0
    assert k["roi"]["definition"] == "GMV (gross sales) ÷ promotion cost."
    assert [f["value"] for f in body["funnel"]] == [3, 2, 2, 0]
    stores = {r["name"]: r for r in body["by_store"]}
    assert stores["上海南京西路店"]["net_sales"] == 100000
    assert stores["北京三里屯店"]["net_sales"] == 0
    guides = {r["name"]: r["orders"] for r in body["by_guide"]}
    assert guides == {"王芳": 4, "李娜": 1}
    daily = {d["day"]: d for d in body["daily"]}
    assert daily["2026-11-02"]["net_sales"] == 40000  # O1 ¥500 - R1 ¥100
    assert daily["2026-11-03"]["previous_net_sales"] == 40000  # 2025-11-03: P1
    assert daily["2026-11-15"]["net_sales"] == 25000  # after the window, by task
    assert "coupon code" in body["definitions"]["attribution"]


def test_chinese_labels_and_filters(shop: TestClient) -> None:
    body = shop.get(
        "/api/v1/campaigns/D11-2026/kpis", params={"lang": "zh", "store": "上海南京西路店"}
    ).json()
    assert kpis(body)["net_sales"]["label"] == "净销售额"
    assert kpis(body)["orders"]["value"] == 4


def test_csv_for_export(shop: TestClient) -> None:
    response = shop.get("/api/v1/campaigns/D11-2026/kpis?format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "D11-2026-kpis.csv" in response.headers["content-disposition"]
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(response.text))}
    assert rows["net_sales"]["value"] == "100000" and rows["net_sales"]["previous"] == "60000"
    by_accept = shop.get("/api/v1/campaigns/D11-2026/kpis", headers={"Accept": "text/csv"})
    assert by_accept.text == response.text
    stores = shop.get("/api/v1/campaigns/D11-2026/kpis?format=csv&breakdown=store").text
    assert stores.splitlines()[0].startswith("store_id,name,gross_sales,net_sales")


def test_errors_say_what_to_fix(shop: TestClient) -> None:
    missing = shop.get("/api/v1/campaigns/NOPE/kpis")
    assert missing.status_code == 404 and "campaigns" in missing.json()["detail"]
    bad = shop.get("/api/v1/campaigns/D11-2026/kpis", params={"period": "soon"})
    assert bad.status_code == 422 and "yesterday, 7d" in bad.json()["detail"]
    shop.headers.pop("Authorization")
    assert shop.get("/api/v1/campaigns/D11-2026/kpis").status_code == 401


def test_registration_per_row_results_and_idempotence(shop: TestClient) -> None:
    url = "/api/v1/campaigns/D11-2026/participants"
    rows = [
        {"phone": "13800000001", "registered_at": "2026-11-01 09:00"},  # 张三, a buyer
        {"phone": "13900000099", "name": "新客"},  # nobody yet: created
        {"nickname": "x"},  # no identity
    ]
    body = shop.post(url, json=rows).json()
    assert [r["status"] for r in body["results"]] == ["updated", "created", "rejected"]
    assert body["results"][2]["errors"][0]["field"] in {"nickname", "row"}
    again = shop.post(url, json=rows[:2]).json()
    assert [r["status"] for r in again["results"]] == ["unchanged", "unchanged"]
    k = kpis(shop.get("/api/v1/campaigns/D11-2026/kpis").json())
    assert k["registered"]["value"] == 3  # 赵六, 钱七, 张三 (the new one registered today)
    assert k["targeted"]["value"] == 4
    assert k["purchased"]["value"] == 3  # 张三 now counts as a targeted buyer too
    assert shop.post("/api/v1/campaigns/NOPE/participants", json=rows).status_code == 404
    assert shop.post(url, content=b"{").status_code == 400
