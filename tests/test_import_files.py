"""``scrm import`` with the files staff really have: GBK CSV from Excel, .xlsx, Chinese
headers, JSON arrays, bad numbers; conflicts and ``--update``; re-runs after a fix."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import func, select

from bot.intake.files import count_rows
from storage.db import Database
from storage.models import Customer, CustomerStats, Order

ZH_HEADER = "订单号,手机号,客户姓名,门店,导购,下单时间,实付金额\n"


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _paid(db: Database, no: str) -> int | None:
    with db.session() as s:
        return s.scalar(select(Order.paid_cents).where(Order.order_no == no))


def test_gbk_csv_with_chinese_headers_imports(cli, db: Database, seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Excel on Chinese Windows saves "CSV" in GBK.
    f = tmp_path / "订单.csv"
    text = ZH_HEADER + "A1,13800000001,张三,SH01,G01,2026/10/01 10:00,199.00\n"
    text += "A2,13800000002,李四,SH01,G01,2026/10/02 11:00,59.90\n"
    f.write_bytes(text.encode("gbk"))
    code, out = cli("import", "orders", str(f))
    assert code == 0, out
    assert "2 created" in out
    assert _paid(db, "A1") == 19900
    with db.session() as s:
        assert set(s.scalars(select(Customer.name))) == {"张三", "李四"}


def test_utf8_with_bom_and_a_quoted_cell_over_lines(
    cli, db: Database, seed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "customers.csv"
    body = 'phone,name,remark,guide\n13800000001,张三,"喜欢红色\n周末来店",G01\n'
    body += '13800000002,李四,"一行",G01\n13800000003,王五,"三\n行\n备注",G01\n'
    f.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    assert count_rows(f, "customers") == 3  # rows, not the 7 lines
    code, out = cli("import", "customers", str(f))
    assert code == 0, out
    assert "3 created" in out and "3/3" in out  # the progress bar counted rows
    assert _count(db, Customer) == 3


def test_an_unknown_column_is_one_message_with_a_suggestion(
    cli, db: Database, seed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "orders.csv"
    rows = "".join(f"A{i},M1,2026-10-01,{i}.00\n" for i in range(50))
    f.write_text("oder_no,member_no,ordered_at,paid\n" + rows, encoding="utf-8")
    code, out = cli("import", "orders", str(f))
    assert code == 2
    assert "unknown column 'oder_no'; did you mean order_no?" in out
    assert out.count("unknown column") == 1 and "Nothing was imported" in out
    assert _count(db, Order) == 0
    assert not (tmp_path / "orders.errors.csv").exists()


def test_xlsx_keeps_long_numbers_and_dates(cli, db: Database, seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["订单号", "手机号", "下单时间", "实付金额", "门店"])
    # In the workbook the phone keeps all its digits, whatever the column shows (1.38E+10).
    sheet.append(["X1", 13800000001, datetime(2026, 10, 1, 10, 0), 199.5, "SH01"])
    sheet.append(["X2", 13800000002, 46000, 10, "SH01"])  # a date column left as General
    sheet.append([None, None, None, None, None])
    f = tmp_path / "orders.xlsx"
    book.save(f)
    code, out = cli("import", "orders", str(f))
    assert code == 1 and "1 created" in out and "1 rejected" in out
    assert _paid(db, "X1") == 19950
    with db.session() as s:
        assert s.scalar(select(Customer.phone)) == "13800000001"
    report = (tmp_path / "orders.errors.csv").read_text(encoding="utf-8-sig")
    assert "3,ordered_at,46000 looks like a date Excel turned into a serial number" in report


def test_a_json_array_file_is_read_as_its_rows(cli, db: Database, seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "orders.json"
    rows = [
        {"order_no": f"J{i}", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": 100}
        for i in range(3)
    ]
    f.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    code, out = cli("import", "orders", str(f))
    assert code == 0, out
    assert "3 created" in out and _count(db, Order) == 3


def test_nan_and_huge_numbers_in_jsonl_are_row_errors_on_every_run(
    cli, db: Database, seed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "orders.jsonl"
    lines = [
        '{"order_no": "OK", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": 1}',
        '{"order_no": "N1", "member_no": "M1", "ordered_at": "2026-10-01", "paid": NaN}',
        '{"order_no": "N2", "member_no": "M1", "ordered_at": "2026-10-01", "paid": Infinity}',
        '{"order_no": "N3", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": 1e999999}',
        '{"order_no": "N4", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": 1,'
        ' "units": ' + "9" * 30 + "}",
    ]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for _ in range(2):
        code, out = cli("import", "orders", str(f))
        assert code == 1 and "4 rejected" in out
    report = (tmp_path / "orders.errors.csv").read_text(encoding="utf-8-sig")
    for field in ("2,paid,", "3,paid,", "4,paid_cents,", "5,units,"):
        assert field in report
    assert _count(db, Order) == 1


def test_rerunning_after_the_fix_imports_the_rows_refused_before(
    cli, api, db: Database, seed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "orders.csv"
    f.write_text(
        "order_no,member_no,store,ordered_at,paid\n"
        "A1,M1,SH01,2026-10-01,10.00\nA2,M2,GZ01,2026-10-02,20.00\n",
        encoding="utf-8",
    )
    code, out = cli("import", "orders", str(f))
    assert code == 1 and "unknown store 'GZ01'" in (tmp_path / "orders.errors.csv").read_text(
        encoding="utf-8-sig"
    )
    api("stores", [{"code": "GZ01", "name": "广州店"}])  # the fix: add the missing store
    code, out = cli("import", "orders", str(f))
    assert code == 0, out
    assert "1 created" in out and "1 unchanged" in out and "0 rejected" in out
    assert _count(db, Order) == 2
    code, out = cli("import", "orders", str(f))  # nothing refused any more: nothing to do
    assert "nothing new to do" in out


def test_a_corrected_file_is_a_conflict_until_update(
    cli, db: Database, seed, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "orders.csv"
    header = "order_no,member_no,ordered_at,paid\n"
    f.write_text(header + "A1,M1,2026-10-01,10.00\nA2,M1,2026-10-02,20.00\n", encoding="utf-8")
    assert cli("import", "orders", str(f))[0] == 0
    fixed = tmp_path / "orders-fixed.csv"
    fixed.write_text(header + "A1,M1,2026-10-01,12.00\nA2,M1,2026-10-02,20.00\n", "utf-8")
    code, out = cli("import", "orders", str(fixed))
    assert code == 1 and "1 unchanged, 1 conflict" in out and "--update" in out
    report = (tmp_path / "orders-fixed.errors.csv").read_text(encoding="utf-8-sig")
    assert '2,paid_cents,"conflict: stored 1000, this file 1200;' in report
    assert _paid(db, "A1") == 1000
    code, out = cli("import", "orders", str(fixed), "--update")
    assert code == 0, out
    assert "1 updated" in out and "1 unchanged" in out
    assert _paid(db, "A1") == 1200
    with db.session() as s:
        assert s.scalar(select(func.sum(CustomerStats.spend_cents))) == 3200


def test_merges_during_import_are_counted(cli, api, db: Database, seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api("customers", [{"phone": "13800000001"}, {"member_no": "VIP1"}])
    f = tmp_path / "customers.csv"
    f.write_text("手机号,会员号,姓名\n13800000001,VIP1,张三\n", encoding="utf-8")
    code, out = cli("import", "customers", str(f))
    assert code == 0, out
    assert "1 merged" in out
    with db.session() as s:
        assert s.scalar(select(func.count()).where(Customer.merged_into.is_not(None))) == 1


def test_a_missing_column_is_named_once(cli, db: Database, seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "orders.csv"
    f.write_text("订单号,会员号,下单时间\nA1,M1,2026-10-01\nA2,M1,2026-10-02\n", encoding="utf-8")
    code, out = cli("import", "orders", str(f))
    assert code == 2 and out.count("missing column paid_cents or paid") == 1
    assert _count(db, Order) == 0
