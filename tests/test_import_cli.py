"""``scrm import`` and ``scrm staff``: CSV and JSONL, error reports, crash and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.intake.files import SimulatedCrash, import_file
from bot.settings import Settings
from storage.db import Database
from storage.models import Customer, ImportRun, Order, OrderItem, Staff

CSV_HEADER = "order_no,member_no,customer_name,store,guide,ordered_at,paid,sku,item_name,quantity\n"


def _orders_csv(path: Path, n: int, bad_every: int = 0) -> Path:
    lines = [CSV_HEADER]
    for i in range(n):
        paid = "12.345" if bad_every and i % bad_every == bad_every - 1 else f"{100 + i}.50"
        lines.append(
            f"SO{i:05d},M{i % 37},顾客{i % 37},SH01,G01,2026-0{1 + i % 9}-1{i % 9} 10:00,{paid},SKU{i % 5},商品,1\n"
        )
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_staff_add_and_list(cli, db: Database, seed) -> None:  # type: ignore[no-untyped-def]
    code, out = cli(
        "staff", "add", "G10", "赵敏", "--store", "SH01", "--wecom", "zhaomin", "--locale", "en"
    )
    assert code == 0 and "created" in out
    code, out = cli("staff", "add", "G11", "x", "--store", "NOPE")
    assert code == 1 and "unknown store 'NOPE'" in out
    code, out = cli("staff", "add", "G12", "x", "--role", "boss")
    assert code == 1 and "role" in out
    code, out = cli("staff", "list")
    assert code == 0 and "赵敏" in out and "zhaomin" in out and "G11" not in out


def test_import_csv_reports_bad_rows_and_is_idempotent(
    cli, db: Database, seed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = _orders_csv(tmp_path / "orders.csv", 50, bad_every=10)
    code, out = cli("import", "orders", str(path))
    assert code == 1  # some rows were rejected
    assert "45 created" in out and "5 rejected" in out
    raw = (tmp_path / "orders.errors.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel opens it as UTF-8
    report = raw.decode("utf-8-sig").splitlines()
    assert report[0] == "line,field,reason,row"
    assert report[1].startswith("11,paid,12.345 has more than 2 decimal places")
    assert _count(db, Order) == 45 and _count(db, OrderItem) == 45
    # The same file again: the refused rows are tried again, the rest is unchanged.
    code, out = cli("import", "orders", str(path))
    assert "read it again" in out and "45 unchanged, 5 rejected" in out
    assert _count(db, Order) == 45 and _count(db, OrderItem) == 45


def test_import_jsonl_with_items_and_bad_lines(cli, db: Database, seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "orders.jsonl"
    rows = [
        {
            "order_no": "J1",
            "phone": "13811112222",
            "ordered_at": "2026-10-01T10:00:00+08:00",
            "paid_cents": 300,
            "items": [
                {"sku": "A", "quantity": 2, "paid_cents": 200},
                {"sku": "B", "paid_cents": 100},
            ],
        },
    ]
    path.write_text(
        json.dumps(rows[0]) + "\n{broken\n\n" + json.dumps({"order_no": "J2"}) + "\n",
        encoding="utf-8",
    )
    code, out = cli("import", "orders", str(path), "--errors", str(tmp_path / "e.csv"))
    assert code == 1 and "1 created" in out
    errors = (tmp_path / "e.csv").read_text(encoding="utf-8")
    assert "2,row,not valid JSON" in errors
    assert "4,ordered_at,required; add this field" in errors
    with db.session() as s:
        order = s.scalar(select(Order))
        assert order is not None and order.units == 3


def test_import_unknown_kind_and_missing_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    code, out = cli("import", "widgets", str(f))
    assert code == 2 and "Unknown kind 'widgets'" in out
    code, _ = cli("import", "orders", str(tmp_path / "missing.csv"))
    assert code == 2


def test_crash_halfway_then_rerun_loses_nothing_and_doubles_nothing(
    cli, db: Database, seed, settings: Settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = _orders_csv(tmp_path / "big.csv", 1000)
    with pytest.raises(SimulatedCrash):
        import_file(db, "orders", path, tz=settings.tz, chunk_size=300, crash_after_chunks=2)
    # Whole chunks only: 600 orders, and the checkpoint says so.
    assert _count(db, Order) == 600
    with db.session() as s:
        run = s.scalar(select(ImportRun))
        assert run is not None and run.rows_done == 600 and run.status == "running"
    code, out = cli("import", "orders", str(path), "--chunk", "300")
    assert code == 0, out
    assert "Resumed after row 600" in out and "400 created" in out
    assert _count(db, Order) == 1000 and _count(db, OrderItem) == 1000
    assert _count(db, Customer) == 37
    with db.session() as s:
        spend = s.scalar(select(func.sum(Order.paid_cents)))
        from storage.models import CustomerStats

        assert s.scalar(select(func.sum(CustomerStats.spend_cents))) == spend
        assert s.scalar(select(func.sum(CustomerStats.order_count))) == 1000


def test_crash_inside_a_chunk_rolls_the_chunk_back(
    db: Database, seed, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A failure after the orders are inserted but before commit leaves no trace of the chunk."""
    from bot.services import stats

    path = _orders_csv(tmp_path / "o.csv", 100)
    calls = {"n": 0}
    real = stats.apply_orders

    def dying(session, orders):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("power cut")
        real(session, orders)

    monkeypatch.setattr(stats, "apply_orders", dying)
    with pytest.raises(KeyboardInterrupt):
        import_file(db, "orders", path, tz=settings.tz, chunk_size=40)
    assert _count(db, Order) == 40
    monkeypatch.setattr(stats, "apply_orders", real)
    report = import_file(db, "orders", path, tz=settings.tz, chunk_size=40)
    assert report.resumed_from == 40 and report.created == 60
    assert _count(db, Order) == 100


def test_staff_import_from_csv(cli, db: Database, seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "staff.csv"
    f.write_text(
        "code,name,role,store,wecom_userid\nG20,陈静,guide,SH01,chenjing\nG21,,guide,SH01,\n",
        encoding="utf-8",
    )
    code, out = cli("import", "staff", str(f))
    assert code == 1 and "1 created" in out and "1 rejected" in out
    with db.session() as s:
        assert s.scalar(select(Staff.wecom_userid).where(Staff.code == "G20")) == "chenjing"
