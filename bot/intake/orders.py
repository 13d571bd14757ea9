"""Orders and refunds. Orders are idempotent on ``order_no``; refunds on ``refund_no``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from bot.intake import corrections, merges, refs
from bot.intake.batch import Pending
from bot.intake.rows import OrderIn, RefundIn
from bot.kpi import hooks as kpi
from bot.services import identity, stats
from storage.base import utcnow
from storage.models import Order, OrderItem, Refund
from storage.upsert import copy_rows, insert_ignore_returning

# A clock a little off should not reject a real order; a year in the future is a typo.
FUTURE_SLACK = timedelta(days=1)


def _existing(session: Session, column: Any, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 900):
        found.update(session.scalars(select(column).where(column.in_(keys[start : start + 900]))))
    return found


def _live(session: Session, ids: set[int]) -> set[int]:
    return {
        cid
        for cid, survivor in identity.canonical_many(session, ids).items()
        if survivor is not None
    }


def write_orders(session: Session, batch: list[Pending[OrderIn]], *, update: bool = False) -> None:
    """New orders are inserted; a stored order number goes to ``corrections`` (``update``:
    write a correction instead of reporting it as a conflict)."""
    existing = _existing(session, Order.order_no, [p.row.order_no for p in batch])
    corrections.orders(
        session, [p for p in batch if p.row.order_no in existing], update_them=update
    )
    batch = [p for p in batch if p.row.order_no not in existing]
    if not batch:
        return
    rows = [p.row for p in batch]
    store_ids = refs.stores(session, (r.store for r in rows))
    staff_ids = refs.staff(session, (r.guide for r in rows))
    campaign_ids = refs.campaigns(session, (r.campaign for r in rows))
    known_ids = _live(session, {r.customer_id for r in rows if r.customer_id})
    latest = utcnow() + FUTURE_SLACK

    todo: list[Pending[OrderIn]] = []
    for p in batch:
        r, res = p.row, p.result
        for name, table in (("store", store_ids), ("guide", staff_ids), ("campaign", campaign_ids)):
            code = getattr(r, name)
            if code and code not in table:
                res.reject(name, refs.MISSING[name].format(code))
        if r.customer_id and r.customer_id not in known_ids:
            res.reject("customer_id", f"customer {r.customer_id} does not exist")
        if r.ordered_at > latest:
            res.reject("ordered_at", f"{r.ordered_at.isoformat()} is in the future; check the date")
        if not res.errors:
            todo.append(p)
    if not todo:
        return

    claims = [
        identity.Claim(
            pairs=p.row.identity_pairs(),
            customer_id=p.row.customer_id,
            name=p.row.customer_name,
            extra={
                "store_id": store_ids.get(p.row.store or ""),
                "guide_id": staff_ids.get(p.row.guide or ""),
            },
        )
        for p in todo
    ]
    named = merges.named_before(session, claims)
    customers = identity.resolve(session, claims, reason="order identities").ids
    merges.report([p.result for p in todo], named, customers)
    order_rows = [
        {
            "order_no": p.row.order_no,
            "customer_id": cid,
            "store_id": store_ids.get(p.row.store or ""),
            "guide_id": staff_ids.get(p.row.guide or ""),
            "campaign_id": campaign_ids.get(p.row.campaign or ""),
            "attribution": "explicit" if p.row.campaign else None,
            "ordered_at": p.row.ordered_at,
            "paid_cents": p.row.paid_cents,
            "cost_cents": p.row.cost_cents or 0,
            "discount_cents": p.row.discount_cents or 0,
            "refunded_cents": 0,
            "units": p.row.units or 0,
            "coupon_code": p.row.coupon_code,
            "created_at": utcnow(),
        }
        for p, cid in zip(todo, customers, strict=True)
    ]
    inserted = dict(
        (no, oid)
        for oid, no in insert_ignore_returning(
            session, Order, order_rows, ["order_no"], Order.id, Order.order_no
        )
    )
    items: list[dict[str, Any]] = []
    fresh: list[stats.NewOrder] = []
    for p, cid in zip(todo, customers, strict=True):
        oid = inserted.get(p.row.order_no)
        if oid is None:
            p.result.status = "unchanged"  # another request stored it a moment ago
            continue
        p.result.status, p.result.id = "created", oid
        fresh.append(stats.NewOrder(cid, p.row.ordered_at, p.row.paid_cents))
        items.extend(
            {
                "order_id": oid,
                "sku": it.sku,
                "name": it.name,
                "quantity": it.quantity,
                "paid_cents": it.paid_cents or 0,
                "cost_cents": it.cost_cents or 0,
            }
            for it in p.row.items
        )
    if items:
        copy_rows(session, OrderItem, items)
    stats.apply_orders(session, fresh)
    kpi.orders_added(session, list(inserted.values()))  # attribution, task conversions, facts


def write_refunds(
    session: Session, batch: list[Pending[RefundIn]], *, update: bool = False
) -> None:
    existing = _existing(session, Refund.refund_no, [p.row.refund_no for p in batch])
    known = [p for p in batch if p.row.refund_no in existing]
    corrections.refunds(session, known, update_them=update)
    batch = [p for p in batch if p.row.refund_no not in existing]
    if not batch:
        return
    rows = [p.row for p in batch]
    order_nos = sorted({r.order_no for r in rows})
    orders: dict[str, Any] = {}
    for start in range(0, len(order_nos), 900):
        q = (
            select(
                Order.id,
                Order.order_no,
                Order.customer_id,
                Order.paid_cents,
                Order.refunded_cents,
                Order.ordered_at,
                Order.units,
            )
            .where(Order.order_no.in_(order_nos[start : start + 900]))
            .with_for_update()  # two refund batches must not both spend the same balance
        )
        orders.update({o.order_no: o for o in session.execute(q)})

    refunded: dict[int, int] = {}
    todo: list[tuple[Pending[RefundIn], Any]] = []
    for p in batch:
        r, res = p.row, p.result
        order = orders.get(r.order_no)
        if order is None:
            res.reject(
                "order_no", f"unknown order {r.order_no!r}; send the order before its refund"
            )
            continue
        already = refunded.get(order.id, order.refunded_cents)
        if already + r.amount_cents > order.paid_cents:
            res.reject(
                "amount_cents",
                f"refunds would total {already + r.amount_cents} cents but order {r.order_no} "
                f"paid {order.paid_cents}; check the amount",
            )
            continue
        if r.refunded_at < order.ordered_at:
            res.reject("refunded_at", "a refund cannot be earlier than its order; check the date")
            continue
        refunded[order.id] = already + r.amount_cents
        todo.append((p, order))
    if not todo:
        return

    inserted = dict(
        (no, rid)
        for rid, no in insert_ignore_returning(
            session,
            Refund,
            [
                {
                    "refund_no": p.row.refund_no,
                    "order_id": o.id,
                    "amount_cents": p.row.amount_cents,
                    "units": p.row.units,
                    "reason": p.row.reason,
                    "refunded_at": p.row.refunded_at,
                    "created_at": utcnow(),
                }
                for p, o in todo
            ],
            ["refund_no"],
            Refund.id,
            Refund.refund_no,
        )
    )
    delta: dict[int, int] = {}
    customers: set[int] = set()
    for p, o in todo:
        rid = inserted.get(p.row.refund_no)
        if rid is None:
            p.result.status = "unchanged"
            continue
        p.result.status, p.result.id = "created", rid
        delta[o.id] = delta.get(o.id, 0) + p.row.amount_cents
        customers.add(o.customer_id)
    if delta:
        orders_t = cast(Table, Order.__table__)
        session.execute(
            orders_t.update()
            .where(orders_t.c.id == bindparam("oid"))
            .values(refunded_cents=orders_t.c.refunded_cents + bindparam("amount")),
            [{"oid": oid, "amount": amount} for oid, amount in delta.items()],
        )
        stats.recompute(session, customers)
        kpi.refunds_added(session, list(inserted.values()))  # refunds follow their order
