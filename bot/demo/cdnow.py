"""The CDNOW transaction log: 69,659 purchases by 23,570 customers, 1997-01 to 1998-06.

The file ships with this package (``bot/demo/data/``, source in ``SOURCE.md`` there), so
neither the demo nor the model check needs ``lifetimes``, which carried it before: that
package is unmaintained and pulls in pandas and autograd.

Used by the demo store (purchase history) and by the lifecycle engine, whose BG/NBD fit must
reproduce the published CDNOW estimates.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
DATA_FILE = "CDNOW_master.txt"
# The log's calendar: every customer's first purchase is in Q1 1997; the log ends here.
FIRST_DAY = date(1997, 1, 1)
LAST_DAY = date(1998, 6, 30)


class CdnowUnavailable(RuntimeError):
    """The CDNOW data file cannot be found or read."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """One line of the log. ``cents`` is the dollar value in US cents (exact, no floats)."""

    customer_id: int
    day: date
    cds: int
    cents: int


@dataclass(frozen=True)
class Columns:
    """The log as typed columns, one entry per transaction, in file order.

    ``array.array`` exposes the buffer protocol, so ``numpy.frombuffer(cols.customer_id,
    dtype=numpy.int32)`` is a zero-copy view, without this module depending on numpy.
    ``day`` counts days since ``FIRST_DAY`` (the unit BG/NBD wants for T and recency).
    """

    customer_id: array[int]  # 'i'
    day: array[int]  # 'i', days since FIRST_DAY
    cds: array[int]  # 'i'
    cents: array[int]  # 'q', US cents

    def __len__(self) -> int:
        return len(self.customer_id)


def data_path() -> Path:
    """Where this package keeps ``CDNOW_master.txt`` (``CDNOW_sample.txt`` lies beside it)."""
    path = DATA_DIR / DATA_FILE
    if not path.is_file():
        raise CdnowUnavailable(
            f"The CDNOW purchase log is missing from {DATA_DIR}: the installation is "
            "incomplete. Reinstall scrm-assistant (`pip install --force-reinstall .`)."
        )
    return path


def _cents(text: str, lineno: int) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise CdnowUnavailable(f"{DATA_FILE} line {lineno}: {text!r} is not an amount") from exc
    cents = value * 100
    if cents != cents.to_integral_value() or cents < 0:
        raise CdnowUnavailable(f"{DATA_FILE} line {lineno}: unexpected amount {text!r}")
    return int(cents)


def parse(text: str) -> list[Transaction]:
    """Parse the log's text: a header line, then ``customer_id YYYYMMDD cds dollars``."""
    out: list[Transaction] = []
    dates: dict[str, date] = {}  # 546 distinct days; parse each once
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] == "customer_id":
            continue
        if len(fields) != 4:
            raise CdnowUnavailable(f"{DATA_FILE} line {lineno}: expected 4 fields, got {line!r}")
        cid, ymd, cds, dollars = fields
        day = dates.get(ymd)
        if day is None:
            try:
                day = dates[ymd] = date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
            except ValueError as exc:
                raise CdnowUnavailable(f"{DATA_FILE} line {lineno}: bad date {ymd!r}") from exc
        out.append(Transaction(int(cid), day, int(cds), _cents(dollars, lineno)))
    return out


@cache
def _load(path: Path) -> tuple[Transaction, ...]:
    return tuple(parse(path.read_text(encoding="ascii")))


def load_cdnow(path: Path | None = None) -> list[Transaction]:
    """Every CDNOW transaction, in file order (by customer, then date).

    Parsed once per process (about 0.3 s); callers get their own list.
    """
    return list(_load(path or data_path()))


def load_cdnow_columns(path: Path | None = None) -> Columns:
    """The same log as typed columns, for numeric work (BG/NBD, RFM)."""
    txs = _load(path or data_path())
    return Columns(
        customer_id=array("i", (t.customer_id for t in txs)),
        day=array("i", ((t.day - FIRST_DAY).days for t in txs)),
        cds=array("i", (t.cds for t in txs)),
        cents=array("q", (t.cents for t in txs)),
    )
