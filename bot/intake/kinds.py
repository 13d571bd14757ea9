"""The intake kinds: schema, key and writer for each. The API and CLI both use this table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from functools import partial
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy.orm import Session

from bot.intake import directory, orders
from bot.intake.batch import BatchResult, Writer, run_batch
from bot.intake.rows import CampaignIn, CustomerIn, OrderIn, RefundIn, StaffIn, StoreIn
from bot.kpi import config as kpi_config
from bot.kpi import participants


@dataclass(frozen=True)
class Kind:
    name: str
    schema: type[BaseModel]
    writer: Writer
    key: Callable[[Any], str]
    corrects: bool = False  # its writer can write a correction of a stored row (``update``)


def _identity_key(row: Any) -> str:
    pairs = row.identity_pairs()
    return f"{pairs[0][0]}:{pairs[0][1]}" if pairs else f"customer_id:{row.customer_id}"


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("stores", StoreIn, directory.write_stores, lambda r: r.code),
        Kind("staff", StaffIn, directory.write_staff, lambda r: r.code),
        Kind("customers", CustomerIn, directory.write_customers, _identity_key),
        Kind("campaigns", CampaignIn, directory.write_campaigns, lambda r: r.code),
        Kind("orders", OrderIn, orders.write_orders, lambda r: r.order_no, corrects=True),
        Kind("refunds", RefundIn, orders.write_refunds, lambda r: r.refund_no, corrects=True),
        Kind(
            "participants",
            participants.ParticipantIn,
            participants.write_participants,
            participants.key,
        ),
    )
}


def ingest(
    session: Session,
    kind: str,
    rows: Sequence[Any],
    *,
    tz: tzinfo,
    offset: int = 0,
    task_days: int | None = None,
    update: bool = False,
) -> BatchResult:
    """Validate and write one batch of ``kind`` in the caller's transaction (not committed).

    ``update``: an order or refund sent again with other contents is a correction to write
    (status ``updated``) rather than a ``conflict`` to report."""
    spec = KINDS[kind]
    # KPI facts follow the caller's zone and, when given, the task attribution window.
    kpi_config.use(session, tz=tz, task_days=task_days)
    writer: Writer = (
        partial(cast(Any, spec.writer), update=update) if spec.corrects else spec.writer
    )
    return run_batch(session, spec.schema, rows, writer, tz=tz, key=spec.key, offset=offset)
