"""Task generation commits in chunks of guides: a run cut short (a killed scheduler leader)
keeps what it wrote, and the rerun finishes with exactly the list one uninterrupted run makes
(ranks, caps, hold-out, carry-over, and a customer moved between guides of two chunks)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from bot.lifecycle import recompute
from bot.lifecycle import tasks as tasks_module
from bot.lifecycle.tasks import generate, in_holdout
from bot.settings import Settings
from storage.db import Database
from storage.models import Customer, Staff, Task

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
GUIDES = [f"G{g}" for g in range(1, 6)]


@pytest.fixture
def cfg(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # The same settings for `scrm tasks generate`, which reads them from the environment.
    monkeypatch.setenv("SCRM_TASKS_PER_GUIDE", "4")
    monkeypatch.setenv("SCRM_HOLDOUT_PERCENT", "25")
    return settings.model_copy(update={"holdout_percent": 25.0, "tasks_per_guide": 4})


@pytest.fixture
def shop(api, db: Database, cfg: Settings):  # type: ignore[no-untyped-def]
    """Five guides with ten lapsing repeat buyers each; yesterday's lists generated, one task
    done, one snoozed until today, and one customer with an open task moved from G1 to G5."""
    api("stores", [{"code": "SH01", "name": "上海店"}])
    api("staff", [{"code": g, "name": f"导购{g}", "store": "SH01"} for g in GUIDES])
    customers, orders = [], []
    for i in range(50):
        customers.append({"member_no": f"M{i}", "guide": GUIDES[i // 10], "store": "SH01"})
        last = NOW - timedelta(days=50 + 3 * (i % 10))
        for k in range(4):
            orders.append(
                {
                    "order_no": f"O{i}-{k}",
                    "member_no": f"M{i}",
                    "ordered_at": (last - timedelta(days=30 * k)).isoformat(),
                    "paid_cents": 7_000 * (1 + i % 7),
                }
            )
    api("customers", customers)
    assert api("orders", orders)["rejected"] == 0
    recompute.full(db, cfg, NOW, refit=True)
    generate(db, cfg, DAY - timedelta(days=1))
    with db.uow() as uow:
        s = uow.session
        ids = {code: s.scalar(select(Staff.id).where(Staff.code == code)) for code in GUIDES}
        g1 = list(
            s.scalars(
                select(Task)
                .where(Task.guide_id == ids["G1"], Task.status == "open")
                .order_by(Task.rank)
            )
        )
        assert len(g1) == 4
        g1[0].status = "done"
        g1[1].status, g1[1].snoozed_until = "snoozed", DAY
        s.execute(
            update(Customer).where(Customer.id == g1[2].customer_id).values(guide_id=ids["G5"])
        )
        uow.commit()
    return db


def snapshot(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as s:
        return sorted(
            s.execute(
                select(
                    Task.guide_id,
                    Task.customer_id,
                    Task.day,
                    Task.kind,
                    Task.rank,
                    Task.status,
                    Task.value_at_risk_cents,
                    Task.origin_day,
                    Task.suggested_message,
                )
            ).all(),
            key=lambda row: tuple(str(v) for v in row),
        )


def test_a_rerun_after_a_cut_writes_what_one_run_writes(
    cli, shop: Database, cfg: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    with shop.session() as s:
        before = dict(s.execute(select(Task.id, Task.status)).all())
    report = generate(shop, cfg, DAY, guides_per_commit=2)
    clean = snapshot(shop)
    today = [r for r in clean if r[2] == DAY]
    # The setting is worth testing: caps bind, some are held out, some carried, five guides.
    assert report.carried > 0 and report.holdout > 0
    assert len({r[0] for r in today}) == 5 and max(r[4] for r in today) == 4
    assert {r[5] for r in today if in_holdout(r[1], cfg)} == {"holdout"}

    # Undo the day: remove its rows and put back yesterday's statuses.
    with shop.uow() as uow:
        uow.session.execute(delete(Task).where(Task.day == DAY))
        for task_id, status in before.items():
            uow.session.execute(update(Task).where(Task.id == task_id).values(status=status))
        uow.commit()

    real_insert = tasks_module._insert
    calls = []

    def cut_after_first_chunk(s, rows):  # type: ignore[no-untyped-def]
        calls.append(len(rows))
        if len(calls) == 2:
            raise ConnectionError("leader killed")
        real_insert(s, rows)

    monkeypatch.setattr(tasks_module, "_insert", cut_after_first_chunk)
    with pytest.raises(ConnectionError):
        generate(shop, cfg, DAY, guides_per_commit=2)
    partial = snapshot(shop)
    written = {r[0] for r in partial if r[2] == DAY}
    assert len(written) == 2  # the first chunk (two guides) was committed
    with shop.session() as s:  # yesterday's tasks still untouched: carried only at the end
        assert dict(s.execute(select(Task.id, Task.status).where(Task.day < DAY)).all()) == before

    monkeypatch.setattr(tasks_module, "_insert", real_insert)
    generate(shop, cfg, DAY, guides_per_commit=2)
    assert snapshot(shop) == clean

    code, out = cli("tasks", "generate", "--date", DAY.isoformat())
    assert code == 0 and f"{DAY} already generated" in " ".join(out.split())
    assert snapshot(shop) == clean
