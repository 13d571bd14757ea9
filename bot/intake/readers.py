"""Reading an import file into rows: CSV (any encoding a spreadsheet writes), .xlsx, JSON
Lines and a JSON array; column headers in English or Chinese, checked once up front.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.intake import damage

JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
SAMPLE = 1 << 20

# Column names Chinese ERPs and spreadsheets use; per kind where one word means two fields.
_COMMON = {
    "订单号": "order_no",
    "订单编号": "order_no",
    "手机号": "phone",
    "手机": "phone",
    "手机号码": "phone",
    "电话": "phone",
    "会员号": "member_no",
    "会员卡号": "member_no",
    "会员编号": "member_no",
    "门店": "store",
    "门店编码": "store",
    "导购": "guide",
    "导购编码": "guide",
    "活动": "campaign",
    "活动编码": "campaign",
    "优惠券": "coupon_code",
    "优惠券码": "coupon_code",
    "备注": "remark",
}
ALIASES: dict[str, dict[str, str]] = {
    "orders": _COMMON
    | {
        "实付金额": "paid",
        "实付": "paid",
        "支付金额": "paid",
        "成本": "cost",
        "成本金额": "cost",
        "优惠金额": "discount",
        "折扣金额": "discount",
        "下单时间": "ordered_at",
        "订单时间": "ordered_at",
        "客户姓名": "customer_name",
        "姓名": "customer_name",
        "件数": "units",
        "商品编码": "sku",
        "商品名称": "item_name",
        "数量": "quantity",
    },
    "refunds": _COMMON
    | {
        "退款单号": "refund_no",
        "退款金额": "amount",
        "退款时间": "refunded_at",
        "退款原因": "reason",
        "退货件数": "units",
        "件数": "units",
    },
    "customers": _COMMON
    | {"姓名": "name", "客户姓名": "name", "性别": "gender", "生日": "birthday"},
    "staff": {"工号": "code", "姓名": "name", "角色": "role", "门店": "store"},
    "stores": {
        "门店编码": "code",
        "编码": "code",
        "门店名称": "name",
        "名称": "name",
        "城市": "city",
    },
    "campaigns": {
        "活动编码": "code",
        "活动名称": "name",
        "开始时间": "starts_at",
        "结束时间": "ends_at",
    },
}


class FileProblem(ValueError):
    """The file as a whole cannot be read (encoding, header, format); nothing was written."""


@dataclass
class BadLine:
    reason: str


def encoding_of(path: Path) -> str:
    """UTF-8 (with or without BOM) when it decodes as such, else what charset-normalizer finds
    (GB18030 for the GBK family: Excel on Chinese Windows saves CSV in GBK)."""
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(sample) < SAMPLE)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise FileProblem(
            f"{path.name}: cannot tell the text encoding; save the file as CSV UTF-8 and retry"
        )
    name = codecs.lookup(best.encoding).name
    return "gb18030" if name in {"gb2312", "gbk", "gb18030", "hz"} else name


def _cell(value: Any) -> Any:
    """An .xlsx cell as the text a CSV would hold (the cell keeps full precision: no 1.4E+10)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def _header_key(raw: Any) -> str:
    text = str(raw or "").strip().lstrip("\ufeff")
    return re.sub(r"[\s\-]+", "_", text).lower() if text.isascii() else text


@dataclass(frozen=True)
class Columns:
    """The columns a kind accepts, and the ones it needs (any one name of each group)."""

    names: set[str]
    required: list[tuple[str, ...]]

    @classmethod
    def of(cls, schema: type[BaseModel]) -> Columns:
        yuan: dict[str, str] = dict(getattr(schema, "money", ()))
        required: list[tuple[str, ...]] = [
            (name, yuan[name]) if name in yuan else (name,)
            for name, f in schema.model_fields.items()
            if f.is_required()
        ]
        return cls(set(schema.model_fields) | set(yuan.values()), required)


def check_header(kind: str, header: list[Any], columns: Columns) -> list[str]:
    """The field name of every column; one FileProblem naming every unknown or missing one."""
    aliases = ALIASES.get(kind, {})
    accepted = columns.names
    names, problems = [], []
    for raw in header:
        key = _header_key(raw)
        name = aliases.get(key, key)
        names.append(name)
        if name and name not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted | set(aliases)), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"unknown column {str(raw).strip()!r}{hint}")
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    problems += [f"two columns both mean {n}; keep one" for n in dupes]
    for group in columns.required:
        if not set(group) & set(names):
            problems.append(f"missing column {' or '.join(group)}")
    if problems:
        raise FileProblem(
            "; ".join(problems) + f". Columns for {kind}: {', '.join(sorted(accepted))}"
        )
    return names


def rows(path: Path, kind: str, columns: Columns) -> Iterator[tuple[int, Any]]:
    """(line or row number, row) for every data row; blank rows are skipped."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        yield from _xlsx(path, kind, columns)
    elif suffix in JSON_SUFFIXES:
        yield from _json(path)
    else:
        yield from _csv(path, kind, columns)


def _named(names: list[str], values: list[Any]) -> dict[str, Any] | BadLine | None:
    if not any(str(v).strip() for v in values):
        return None
    extra = [v for v in values[len(names) :] if str(v).strip()]
    if extra:
        return BadLine(f"{len(extra)} more cells than the header has columns")
    return {n: v for n, v in zip(names, values, strict=False) if n}


def _csv(path: Path, kind: str, columns: Columns) -> Iterator[tuple[int, Any]]:
    encoding = encoding_of(path)
    try:
        with path.open(encoding=encoding, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                return
            names = check_header(kind, header, columns)
            for values in reader:
                row = _named(names, values)
                if row is not None:
                    yield reader.line_num, row
    except UnicodeDecodeError as exc:
        raise FileProblem(
            f"{path.name} is not all {encoding} (byte {exc.start} of a line cannot be read); "
            "save the file as CSV UTF-8 and retry"
        ) from exc


def _xlsx(path: Path, kind: str, columns: Columns) -> Iterator[tuple[int, Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a file that is not .xlsx
        raise FileProblem(f"{path.name} is not an Excel .xlsx workbook ({exc})") from exc
    try:
        sheet = book.worksheets[0]
        it = sheet.iter_rows(values_only=True)
        header = next(it, None)
        if header is None:
            return
        names = check_header(kind, list(header), columns)
        for number, values in enumerate(it, start=2):
            row = _named(names, [_cell(v) for v in values])
            if row is not None:
                yield number, row
    finally:
        book.close()


def _json(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding=encoding_of(path)) as fh:
        head = fh.read(SAMPLE)
        if head.lstrip().startswith("["):  # a JSON array: read it whole, number its elements
            try:
                data = json.loads(head + fh.read(), **damage.JSON_HOOKS)
            except ValueError as exc:
                raise FileProblem(f"{path.name} is not valid JSON ({exc})") from exc
            yield from ((i, r) for i, r in enumerate(data, start=1))
            return
        fh.seek(0)
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line, **damage.JSON_HOOKS)
            except ValueError as exc:
                yield lineno, BadLine(f"not valid JSON: {exc}")
