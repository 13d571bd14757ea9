"""Retention engine v2 through the paths people use: the CLI (recompute, tasks generate,
customers export, model report) and the profile in WeCom and Slack."""

# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.lifecycle import backtest, recompute
from bot.lifecycle.tasks import generate, in_holdout
from bot.settings import Settings
from storage.db import Database
from storage.models import Customer, CustomerIdentity, CustomerStats, ModelFit, Order, Task
from tests.chat_fixtures import build_store
from tests.conftest import TOKEN
from tests.fakes.slack import FakeSlack, SlackHarness, link, make_app
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401

TODAY = "2026-11-22"
NOW = datetime(2026, 11, 22, 15, 59, 59, tzinfo=UTC)  # the end of TODAY in Shanghai


def shop(api: Any, n: int = 300, seed: int = 7) -> None:
    """n customers of two guides: each buys at a rhythm of their own (15–120 days) until a
    lifetime of their own ends; 40% buy only once. A year and a half of history."""
    api("stores", [{"code": "SH01", "name": "上海店"}])
    api(
        "staff",
        [
            {"code": "A01", "name": "管理员", "role": "admin"},
            {"code": "G01", "name": "王芳", "store": "SH01"},
            {"code": "G02", "name": "Amy", "store": "SH01", "locale": "en"},
        ],
    )
    rng = np.random.default_rng(seed)
    customers, orders = [], []
    for i in range(n):
        customers.append(
            {
                "member_no": f"M{i:03d}",
                "name": f"客户{i:03d}",
                "phone": f"1380000{i:04d}",
                "store": "SH01",
                "guide": "G01" if i % 2 else "G02",
            }
        )
        start = NOW - timedelta(days=int(rng.integers(100, 540)))
        gap = float(rng.choice([15, 30, 60, 120]))
        end = start + timedelta(days=float(rng.exponential(300)))
        at, k = start, 0
        while at < min(end, NOW) and (k == 0 or rng.uniform() > 0.4 or k > 1):
            orders.append(
                {
                    "order_no": f"O{i}-{k}",
                    "member_no": f"M{i:03d}",
                    "ordered_at": at.isoformat(),
                    "paid_cents": int(rng.integers(50, 800)) * 100,
                }
            )
            k += 1
            at += timedelta(days=gap * float(rng.uniform(0.6, 1.4)))
    api("customers", customers)
    for part in range(0, len(orders), 500):
        assert api("orders", orders[part : part + 500])["rejected"] == 0


def _by_member(db: Database) -> dict[str, CustomerStats]:
    with db.session() as s:
        rows = s.execute(
            select(CustomerIdentity.value, CustomerStats)
            .join(CustomerStats, CustomerStats.customer_id == CustomerIdentity.customer_id)
            .where(CustomerIdentity.kind == "member_no")
        ).all()
        return {m: st for m, st in rows}


def test_churn_probability_is_calibrated_by_a_backtest_and_decides_the_stages(
    api: Any, cli: Any, db: Database
) -> None:
    shop(api)
    code, out = cli("recompute", "--full", "--refit", "--today", TODAY)
    assert code == 0, out
    assert "churn probability from: logistic" in out or "churn probability from: mbgnbd" in out
    stats = _by_member(db)
    buyers = [st for st in stats.values() if st.order_count]
    assert len(buyers) == 300
    for st in buyers:
        assert st.churn_probability is not None and 0 <= st.churn_probability <= 1
        c, stage = st.churn_probability, st.stage
        assert stage in {"new", "active", "silent", "churn_risk", "lost"}
        assert stage != "lost" or c >= 0.9 - 1e-4
        assert stage != "churn_risk" or 0.6 - 1e-4 <= c < 0.9
        assert stage not in ("active", "silent") or c < 0.6
        assert abs(json.loads(st.stage_reason or "{}")["c"] - c) <= 0.0051
    with db.session() as s:
        fit = s.scalars(select(ModelFit)).one()
        bt = fit.params["backtest"]
    assert bt["cutoff"].startswith("2026-08-24")  # today − 90 days
    assert bt["customers"] > 200 and 0 < bt["stayed_away"] < 1
    assert fit.params["churn"]["method"] in ("logistic", "mbgnbd")
    assert bt["model"]["auc"] > 0.5 and bt["logistic"]["auc"] > 0.5
    # The calibration is fitted on the backtest: its deciles track what happened.
    cal = bt["calibration"]
    assert len(cal) == 10
    mean_predicted = sum(r["n"] * r["predicted"] for r in cal) / sum(r["n"] for r in cal)
    assert abs(mean_predicted - bt["stayed_away"]) < 0.05

    code, out = cli("model", "report")
    assert code == 0, out
    assert "Backtest: fitted as of 2026-08-24" in out
    assert "MBG/NBD calibrated" in out and "logistic regression" in out and "decile" in out
    assert "expected loss" in out and "Median first-to-second purchase interval" in out


def test_the_backtest_sees_each_customer_as_they_stood_at_the_cutoff(
    api: Any, db: Database
) -> None:
    shop(api, n=220)
    cutoff = NOW - timedelta(days=90)
    with db.session() as s:
        data = recompute._load(s)
        state = backtest._as_of(s, data, cutoff)
        assert state is not None
        orders = s.execute(select(Order.customer_id, Order.ordered_at, Order.paid_cents)).all()
    by_customer: dict[int, list[tuple[datetime, int]]] = {}
    for cid, at, paid in orders:
        by_customer.setdefault(cid, []).append((at, paid))
    for i, cid in enumerate(state["customer_id"].tolist()):
        before = [(at, p) for at, p in by_customer[cid] if at <= cutoff]
        after = [at for at, _ in by_customer[cid] if at > cutoff]
        assert state["purchase_days"][i] == len({at.astimezone(UTC).date() for at, _ in before})
        assert state["spend_cents"][i] == sum(p for _, p in before)
        assert bool(state["stayed"][i]) == (not after)


def _export(cli: Any, tmp_path: Path, *args: str) -> tuple[int, str, list[dict[str, str]]]:
    target = tmp_path / "customers.csv"
    target.unlink(missing_ok=True)
    code, out = cli("customers", "export", str(target), *args)
    if code:
        return code, out, []
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    with target.open(encoding="utf-8-sig") as fh:
        return code, out, list(csv.DictReader(fh))


def test_customers_export(api: Any, cli: Any, db: Database, tmp_path: Path) -> None:
    shop(api)
    cli("recompute", "--full", "--refit", "--today", TODAY)
    code, out = cli("tasks", "generate", "--date", "2026-11-23")
    assert code == 0, out
    code, out, rows = _export(cli, tmp_path)
    assert code == 0, out and "300 customers written" in out
    assert list(rows[0]) == [
        "member_no",
        "name",
        "phone",
        "store",
        "guide",
        "stage",
        "churn_probability",
        "expected_purchases",
        "value_at_risk",
        "rfm_segment",
        "task_rank",
    ]
    assert len(rows) == 300
    first = next(r for r in rows if r["member_no"] == "M001")
    assert first["phone"] == "****0001" and first["guide"] == "G01" and first["store"] == "SH01"
    assert all("1380000" not in r["phone"] for r in rows)
    stats = _by_member(db)
    assert float(first["churn_probability"]) == round(stats["M001"].churn_probability or 0, 4)
    # task_rank is the rank on the latest day's list; blank off the list and in the hold-out
    with db.session() as s:
        ranks = {
            m: r
            for m, r in s.execute(
                select(CustomerIdentity.value, Task.rank)
                .join(Task, Task.customer_id == CustomerIdentity.customer_id)
                .where(Task.day == date(2026, 11, 23), Task.status == "open")
            )
        }
        held = {
            m
            for (m,) in s.execute(
                select(CustomerIdentity.value)
                .join(Task, Task.customer_id == CustomerIdentity.customer_id)
                .where(Task.status == "holdout")
            )
        }
    assert ranks and all(
        r["task_rank"] == str(ranks[r["member_no"]]) for r in rows if r["member_no"] in ranks
    )
    assert all(r["task_rank"] == "" for r in rows if r["member_no"] not in ranks)
    assert held and all(r["task_rank"] == "" for r in rows if r["member_no"] in held)

    # Audiences: a stage or an RFM segment, in English or Chinese; anything else is refused.
    _, out, risk = _export(cli, tmp_path, "--audience", "流失预警")
    assert risk and {r["stage"] for r in risk} == {"churn_risk"}
    assert len(risk) == sum(1 for st in stats.values() if st.stage == "churn_risk")
    _, _, champions = _export(cli, tmp_path, "--audience", "champions")
    assert {r["rfm_segment"] for r in champions} <= {"Champions"}
    code, out, _ = _export(cli, tmp_path, "--audience", "双11老客")
    assert code == 2 and "Saved audiences are not available yet" in out and "churn_risk" in out

    # Full phones: an admin only.
    code, out, _ = _export(cli, tmp_path, "--with-phones")
    assert code == 2 and "need an admin" in out
    code, out, _ = _export(cli, tmp_path, "--with-phones", "--as", "G01")
    assert code == 2 and "need an admin" in out
    code, out, rows = _export(cli, tmp_path, "--with-phones", "--as", "A01")
    assert code == 0 and any(r["phone"] == "13800000001" for r in rows)


def test_task_lists_rank_by_expected_loss_with_a_second_purchase_track(
    api: Any, db: Database, settings: Settings
) -> None:
    shop(api)
    cfg = settings.model_copy(update={"tasks_per_guide": 400})
    recompute.full(db, cfg, NOW, refit=True)
    with db.session() as s:
        interval = s.scalars(select(ModelFit)).one().params["second_purchase_days"]
    assert interval and interval > 0
    day = date(2026, 11, 23)
    first = datetime.combine(day, datetime.min.time(), cfg.tz) + timedelta(hours=12)
    first -= timedelta(days=round(interval))
    api("customers", [{"member_no": "ONE", "name": "一次客", "guide": "G01", "store": "SH01"}])
    api(
        "orders",
        [
            {
                "order_no": "ONE-1",
                "member_no": "ONE",
                "ordered_at": first.isoformat(),
                "paid_cents": 90000,
            }
        ],
    )
    recompute.incremental(db, cfg, NOW + timedelta(hours=1))
    generate(db, cfg, day)
    stats = {st.customer_id: st for st in _by_member(db).values()}
    with db.session() as s:
        tasks = s.execute(
            select(Task, Customer.id)
            .join(Customer)
            .where(Task.day == day)
            .order_by(Task.guide_id, Task.rank)
        ).all()
        one = s.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.value == "ONE"))
    shown = [(t, cid) for t, cid in tasks if t.status == "open"]
    kinds = {cid: t.kind for t, cid in tasks}
    if not in_holdout(one, cfg):
        assert kinds[one] == "second_purchase"
    # One-time buyers come through the second-purchase track (or as high-value lost), not
    # as churn-risk or silent tasks.
    for t, cid in tasks:
        st = stats[cid]
        if t.kind in ("churn_risk", "silent"):
            assert st.purchase_days >= 2 or (st.rfm_m or 0) >= 4
        if t.kind == "lost":
            assert (st.rfm_m or 0) >= 4
    assert any(t.kind == "lost" for t, _ in shown)
    # Within a guide's list, retention tasks come by expected loss, largest first.
    for guide in {t.guide_id for t, _ in shown}:
        losses = [
            (stats[cid].churn_probability or 0) * t.value_at_risk_cents
            for t, cid in shown
            if t.guide_id == guide and t.kind in ("churn_risk", "silent", "lost", "second_purchase")
        ]
        assert losses == sorted(losses, reverse=True)
    # Held-out customers of every retention kind get a hidden row, never a shown task.
    assert {t.kind for t, _ in tasks if t.status == "holdout"} >= {"lost"}


def _scored_chat_store(db: Database, settings: Settings, post: Any) -> None:
    """The chat test store, 张三 with five orders 40 days apart, and a dozen more buyers of
    王芳's so that the purchase model has enough customers to fit."""
    build_store(post)
    start = datetime(2026, 3, 1, 6, tzinfo=UTC)
    post(
        "customers",
        [{"member_no": f"X{i}", "guide": "G01", "store": "SH01"} for i in range(12)],
    )
    more = [
        {
            "order_no": f"Z{k}",
            "phone": "13812345678",
            "ordered_at": (start + timedelta(days=40 * k)).isoformat(),
            "paid_cents": 50000,
        }
        for k in range(5)
    ] + [
        {
            "order_no": f"X{i}-{k}",
            "member_no": f"X{i}",
            "ordered_at": (start + timedelta(days=9 * i + 25 * k)).isoformat(),
            "paid_cents": 20000,
        }
        for i in range(12)
        for k in range(i % 4 + 1)
    ]
    assert post("orders", more)["rejected"] == 0
    recompute.full(db, settings, NOW, refit=True)


def test_profile_shows_the_churn_probability_in_wecom(wx: Harness) -> None:
    _scored_chat_store(wx.db, Settings(_env_file=None), wx.api)  # type: ignore[call-arg]
    with wx.db.session() as s:
        c = s.scalar(
            select(CustomerStats.churn_probability).join(Customer).where(Customer.name == "张三")
        )
    assert c is not None
    wx.say("wangfang", "查 张三")
    wx.drain()
    (message,) = wx.fake.sent_to("wangfang")
    assert f"流失概率 {round(c * 100)}%（90 天内）" in message["markdown"]["content"]


def test_profile_shows_the_churn_probability_in_slack(settings: Settings, db: Database) -> None:
    server = FakeSlack().start()
    try:
        app, sender = make_app(settings, db, server)
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {TOKEN}"
            _scored_chat_store(
                db, settings, lambda kind, rows: client.post(f"/api/v1/{kind}", json=rows).json()
            )
            link(db, "G01", "UGDE0001")
            with db.session() as s:
                c = s.scalar(
                    select(CustomerStats.churn_probability)
                    .join(Customer)
                    .where(Customer.name == "张三")
                )
            assert c is not None
            slack = SlackHarness(client, server, sender)
            ack = slack.command("/customer", "13812345678", "UGDE0001")[0].json()
            text = json.dumps(ack, ensure_ascii=False)
            assert f"流失概率 {round(c * 100)}%（90 天内）" in text
    finally:
        server.stop()
