"""REST security with real tokens: scopes, weak settings, docs and metrics, limits, lookups,
audited staff changes, offboarding over the API (docs/security.md)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from bot.app import create_app
from bot.settings import Settings
from storage.db import Database
from storage.models import AuditLog, Customer, Staff

READ = "read-token-0123456789abcdef"
INTAKE = "intake-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
BARE = "bare-token-0123456789abcdefgh"


def _settings(database_url: str, **over: Any) -> Settings:
    tokens = [f"{READ}:read", f"{INTAKE}:intake", f"{ADMIN}:admin", BARE]
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, api_tokens=tokens, scheduler=False, **over
    )


@pytest.fixture
def app_client(database_url: str, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(database_url), db)) as c:
        yield c


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


STAFF = [{"code": "A01", "name": "管理员", "role": "admin", "slack_user_id": "UADMIN01"}]


def test_scopes_decide_who_may_write_what(app_client: TestClient) -> None:
    c = app_client
    # The attack from the issue: an intake token remapping an admin's Slack id.
    assert c.post("/api/v1/staff", json=STAFF, headers=as_(ADMIN)).status_code == 200
    taken = [{**STAFF[0], "slack_user_id": "UATTACKER"}]
    for token in (INTAKE, BARE, READ):
        r = c.post("/api/v1/staff", json=taken, headers=as_(token))
        assert r.status_code == 403
        assert "lacks the 'admin' scope" in r.json()["detail"]
    r = c.post("/api/v1/stores", json=[{"code": "S1", "name": "店"}], headers=as_(INTAKE))
    assert r.status_code == 403
    order = [{"order_no": "O1", "phone": "13812345678", "ordered_at": "2026-10-01", "paid": "10"}]
    r = c.post("/api/v1/orders", json=order, headers=as_(READ))
    assert r.status_code == 403 and "'intake' scope" in r.json()["detail"]
    assert c.post("/api/v1/orders", json=order, headers=as_(INTAKE)).status_code == 200
    assert c.post("/api/v1/orders", json=order, headers=as_(BARE)).status_code == 200
    r = c.get("/api/v1/customers/1", headers=as_(INTAKE))
    assert r.status_code == 403 and "'read' scope" in r.json()["detail"]
    for token in (READ, BARE, ADMIN):
        assert c.get("/api/v1/customers/1", headers=as_(token)).status_code == 200
    assert c.get("/api/v1/customers/1").status_code == 401
    assert c.get("/api/v1/customers/1", headers=as_("x" * 30)).status_code == 401


def test_a_bare_token_warns_at_start_up(
    database_url: str, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    create_app(_settings(database_url), db)
    assert "1 API token(s) in SCRM_API_TOKENS carry no scope" in caplog.text


def test_staff_role_and_chat_id_changes_are_audited(app_client: TestClient, db: Database) -> None:
    c = app_client
    c.post("/api/v1/staff", json=[{"code": "G1", "name": "王芳"}], headers=as_(ADMIN))
    row = [{"code": "G1", "name": "王芳", "role": "manager", "wecom_userid": "wf"}]
    c.post("/api/v1/staff", json=row, headers=as_(ADMIN))
    with db.session() as s:
        changes = [
            a.detail["changes"]
            for a in s.scalars(select(AuditLog).where(AuditLog.action == "staff_change"))
        ]
    assert changes[-1] == {"role": ["guide", "manager"], "wecom_userid": [None, "wf"]}


def test_deactivate_over_the_api_needs_admin_and_keeps_the_row(
    app_client: TestClient, db: Database
) -> None:
    c = app_client
    c.post("/api/v1/staff", json=[{"code": "G1", "name": "王芳"}], headers=as_(ADMIN))
    assert c.post("/api/v1/staff/G1/deactivate", headers=as_(INTAKE)).status_code == 403
    r = c.post("/api/v1/staff/G1/deactivate", headers=as_(ADMIN))
    assert r.status_code == 200 and r.json()["changed"] is True
    assert c.post("/api/v1/staff/NOPE/deactivate", headers=as_(ADMIN)).status_code == 404
    c.post("/api/v1/staff", json=[{"code": "G2", "name": "李娜"}], headers=as_(ADMIN))
    rows = [{"phone": "13800001111", "name": "丁", "guide": "G1"}]
    c.post("/api/v1/customers", json=rows, headers=as_(ADMIN))
    move = {"to": "G2", "customers": "all"}
    assert c.post("/api/v1/staff/G1/handover", json=move, headers=as_(INTAKE)).status_code == 403
    r = c.post("/api/v1/staff/G1/handover", json=move, headers=as_(ADMIN))
    assert r.status_code == 200 and len(r.json()["moved"]) == 1, r.text
    r = c.post("/api/v1/staff/G1/handover", json={"to": "G1"}, headers=as_(ADMIN))
    assert r.status_code == 422 and "same staff member" in r.json()["detail"]
    with db.session() as s:
        member = s.scalar(select(Staff).where(Staff.code == "G1"))
        assert member is not None and member.active is False
        assert s.scalar(select(AuditLog.id).where(AuditLog.action == "staff_deactivate"))


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"slack_signing_secret": "password"}, "weak value"),
        ({"wecom_secret": "123456"}, "weak value"),
        ({"wechat_secret": "secret "}, "surrounding whitespace"),
        ({"api_tokens": ["x"]}, "at least 24"),
        ({"api_tokens": ["a" * 30]}, "weak value"),
        ({"wecom_aes_key": "abcde"}, "exactly 43"),
        ({"metrics_token": "short-metrics"}, "at least 24"),
        ({"api_tokens": ["t" * 10 + "0123456789abcdef:root"]}, "TOKEN:SCOPE"),
    ],
)
def test_weak_settings_are_refused_at_start_up(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **over)  # type: ignore[call-arg]


def test_docs_can_be_turned_off_and_metrics_need_their_token(
    database_url: str, db: Database
) -> None:
    with TestClient(create_app(_settings(database_url), db)) as c:
        assert c.get("/openapi.json").status_code == 200 and c.get("/docs").status_code == 200
        assert c.get("/metrics").status_code == 200  # no SCRM_METRICS_TOKEN: open
    metrics = "metrics-token-0123456789abcdef"
    off = _settings(database_url, api_docs=False, metrics_token=metrics)
    with TestClient(create_app(off, db)) as c:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert c.get(path).status_code == 404
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=as_(ADMIN)).status_code == 401
        assert "scrm_" in c.get("/metrics", headers=as_(metrics)).text


def test_hostile_bodies_and_ids_get_a_4xx_sentence(app_client: TestClient) -> None:
    c = app_client
    nested = "[" * 100_000 + "]" * 100_000
    r = c.post("/api/v1/orders", content=nested, headers=as_(ADMIN))
    assert r.status_code == 400 and "nested too deeply" in r.json()["detail"]
    r = c.post("/api/v1/customers/lookup", content=nested, headers=as_(ADMIN))
    assert r.status_code in (400, 422)

    def chunks() -> Iterator[bytes]:
        for _ in range(7):
            yield b" " * (1024 * 1024)

    r = c.post("/api/v1/orders", content=chunks(), headers=as_(ADMIN))  # no Content-Length
    assert r.status_code == 413 and "send smaller batches" in r.json()["detail"]
    r = c.get(f"/api/v1/customers/{10**30}", headers=as_(ADMIN))
    assert r.status_code == 404 and "no customer" in r.json()["detail"]
    body = {"kind": "member_no", "value": "M\x00001"}
    r = c.post("/api/v1/customers/lookup", json=body, headers=as_(READ))
    assert r.status_code == 422 and "control character" in r.json()["detail"]
    r = c.get("/api/v1/customers", params=body, headers=as_(READ))
    assert r.status_code == 422
    rows = [{"customer_id": 10**30, "name": "x"}]
    r = c.post("/api/v1/customers", json=rows, headers=as_(ADMIN))
    assert r.status_code == 200 and r.json()["rejected"] == 1


def test_identity_lookup_by_post_keeps_the_phone_out_of_the_url(app_client: TestClient) -> None:
    c = app_client
    c.post("/api/v1/customers", json=[{"phone": "13812345678", "name": "张三"}], headers=as_(ADMIN))
    r = c.post(
        "/api/v1/customers/lookup",
        json={"kind": "phone", "value": "138 1234 5678"},
        headers=as_(READ),
    )
    assert r.status_code == 200 and r.json()["name"] == "张三"
    r = c.post(
        "/api/v1/customers/lookup",
        json={"kind": "phone", "value": "13900000000"},
        headers=as_(READ),
    )
    assert r.status_code == 404 and "****0000" in r.json()["detail"]
    assert "13900000000" not in r.json()["detail"]


def test_names_lose_control_characters_and_times_are_bounded(
    app_client: TestClient, db: Database
) -> None:
    c = app_client
    r = c.post(
        "/api/v1/customers",
        json=[{"phone": "13812345678", "name": "张\x07三\u202e", "remark": "VIP\x1b[31m"}],
        headers=as_(ADMIN),
    )
    assert r.json()["created"] == 1
    with db.session() as s:
        assert s.scalar(select(Customer.name)) == "张三"
    base = {"phone": "13812345678", "paid": "10"}
    orders = [
        {**base, "order_no": "FUT", "ordered_at": "9999-12-31 23:59:59"},
        {**base, "order_no": "OLD", "ordered_at": "1900-01-01"},
        {**base, "order_no": "OK", "ordered_at": "2026-10-01"},
    ]
    out = c.post("/api/v1/orders", json=orders, headers=as_(ADMIN)).json()
    reasons = {r["index"]: r["errors"][0]["reason"] for r in out["results"] if r["errors"]}
    assert "future" in reasons[0] and "before 1970" in reasons[1] and out["created"] == 1
    refunds = [
        {"refund_no": "R1", "order_no": "OK", "amount": "1", "refunded_at": "9999-12-31"},
        {"refund_no": "R2", "order_no": "OK", "amount": "1", "refunded_at": "1969-12-31"},
    ]
    out = c.post("/api/v1/refunds", json=refunds, headers=as_(ADMIN)).json()
    assert out["rejected"] == 2


def test_kpi_csv_escapes_formulas_and_the_file_name(app_client: TestClient) -> None:
    c = app_client
    h = as_(ADMIN)
    c.post("/api/v1/stores", json=[{"code": "S1", "name": '=HYPERLINK("http://x")'}], headers=h)
    code = 'D11"; x=1\u202e'
    campaign = {
        "code": code,
        "name": "@SUM(A1)",
        "starts_at": "2026-11-01",
        "ends_at": "2026-11-11",
        "stores": ["S1"],
    }
    assert c.post("/api/v1/campaigns", json=[campaign], headers=h).json()["created"] == 1
    code = 'D11"; x=1'  # the RLO was stripped on the way in
    order = {"order_no": "O1", "phone": "13812345678", "ordered_at": "2026-11-02", "paid": "10"}
    c.post("/api/v1/orders", json=[{**order, "store": "S1", "campaign": code}], headers=h)
    r = c.get(
        f"/api/v1/campaigns/{code}/kpis", params={"format": "csv", "breakdown": "store"}, headers=h
    )
    assert r.status_code == 200, r.text
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="D11_x_1-store.csv"; filename*=UTF-8')
    assert disposition.count('"') == 2
    cells = [v for row in csv.reader(io.StringIO(r.text)) for v in row]
    assert '\'=HYPERLINK("http://x")' in cells
    assert not any(v.startswith(("=", "+", "@")) for v in cells)
    r = c.get(
        f"/api/v1/campaigns/{code}/kpis", params={"period": "0999-01-01..0999-01-05"}, headers=h
    )
    assert r.status_code == 422 and "before 1970" in r.json()["detail"]


def test_the_playground_is_off_by_default_and_loopback_only(
    database_url: str, db: Database
) -> None:
    with TestClient(create_app(_settings(database_url), db)) as c:
        assert c.get("/playground").status_code == 404
    on = _settings(database_url, playground=True)
    with TestClient(create_app(on, db), client=("203.0.113.9", 4000)) as c:
        r = c.post("/playground/api/send", json={"staff": "A01", "text": "help"})
        assert r.status_code == 403 and "loopback" in r.json()["detail"]
    with TestClient(create_app(on, db), client=("127.0.0.1", 4000)) as c:
        page = c.get("/playground")
        assert page.status_code == 200 and "admin included, with no login" in page.text


def test_chat_tags_and_notes_lose_control_characters(api, cli, db: Database) -> None:  # type: ignore[no-untyped-def]
    from storage.models import Interaction, Tag
    from tests.chat_fixtures import build_store

    build_store(api)
    code, out = cli("chat", "--as", "G01", "--command", "tag 张三 V\x07IP\u202e")
    assert code == 0, out
    code, out = cli("chat", "--as", "G01", "--command", "note 张三 回访\u202e\x1b完成")
    assert code == 0, out
    with db.session() as s:
        tags = list(s.scalars(select(Tag.name)))
        notes = list(s.scalars(select(Interaction.body).where(Interaction.kind == "note")))
    assert "VIP" in tags and not any("\x07" in t or "\u202e" in t for t in tags)
    assert notes == ["回访完成"]


def test_a_failing_command_is_logged_without_its_text(
    api,
    settings: Settings,
    db: Database,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    from bot.chat.dispatch import Dispatcher
    from bot.chat.types import Channel, IncomingMessage
    from bot.commands.base import Command
    from tests.chat_fixtures import build_store

    build_store(api)

    def crash(ctx: Any, args: Any) -> Any:
        raise RuntimeError("boom")

    boom = Command("boom", "炸", "Boom\n炸", parse=lambda tokens: tokens, handle=crash)
    dispatcher = Dispatcher(db, settings, commands=[boom])
    caplog.set_level(logging.ERROR)
    reply = dispatcher.handle(IncomingMessage(Channel.CONSOLE, "G01", "boom 张三 13812345678"))
    assert reply.kind == "error"
    assert "command failed" in caplog.text and "'boom' and" in caplog.text
    assert "13812345678" not in caplog.text and "张三" not in caplog.text
