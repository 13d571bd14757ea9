"""Re-sent orders and refunds: the same contents are ``unchanged``; different contents are an
ERP correction, reported as ``conflict`` with the fields that differ (nothing written) or,
when the caller asked for it, written as ``updated`` together with everything derived from
the order (customer stats, campaign credit and facts) in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.intake import merges, refs
from bot.intake.batch import Pending
from bot.intake.rows import OrderIn, RefundIn
from bot.kpi import hooks as kpi
from bot.kpi.facts import chunks
from bot.services import identity, stats
from storage.base import utcnow
from storage.models import Campaign, Order, OrderItem, Refund, Staff, Store
from storage.upsert import copy_rows

_ITEM = ("sku", "name", "quantity", "paid_cents", "cost_cents")
_ORDER = (
    Order.id,
    Order.order_no,
    Order.customer_id,
    Order.store_id,
    Order.guide_id,
    Order.campaign_id,
    Order.attribution,
    Order.ordered_at,
    Order.paid_cents,
    Order.cost_cents,
    Order.discount_cents,
    Order.units,
    Order.coupon_code,
    Order.refunded_cents,
)


def _codes(session: Session, model: Any, ids: set[int]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 900):
        q = select(model.id, model.code).where(model.id.in_(wanted[start : start + 900]))
        out.update({i: code for i, code in session.execute(q)})
    return out


def _show(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _diff(stored: dict[str, Any], sent: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"field": name, "stored": _show(stored[name]), "sent": _show(sent[name])}
        for name in sent
        if stored[name] != sent[name]
    ]


def _items(row: OrderIn) -> list[tuple[Any, ...]]:
    return sorted(
        (i.sku, i.name, i.quantity, i.paid_cents or 0, i.cost_cents or 0) for i in row.items
    )


def orders(session: Session, batch: Sequence[Pending[OrderIn]], *, update_them: bool) -> None:
    """Settle rows whose order number is stored already (every row of ``batch`` is one)."""
    if not batch:
        return
    # Plain rows, not ORM objects: a re-run of a big file compares every one of its orders.
    by_no = {
        o.order_no: o
        for part in chunks(sorted({p.row.order_no for p in batch}))
        for o in session.execute(select(*_ORDER).where(Order.order_no.in_(part)))
    }
    ids = sorted(o.id for o in by_no.values())
    items: dict[int, list[tuple[Any, ...]]] = {i: [] for i in ids}
    cols = [getattr(OrderItem, f) for f in _ITEM]
    for part in chunks(ids):
        q = select(OrderItem.order_id, *cols).where(OrderItem.order_id.in_(part))
        for oid, *item in session.execute(q):
            items[oid].append(tuple(item))
    stores = _codes(session, Store, {o.store_id for o in by_no.values() if o.store_id})
    staff = _codes(session, Staff, {o.guide_id for o in by_no.values() if o.guide_id})
    campaigns = _codes(session, Campaign, {o.campaign_id for o in by_no.values() if o.campaign_id})
    store_ids = refs.stores(session, (p.row.store for p in batch))
    staff_ids = refs.staff(session, (p.row.guide for p in batch))
    campaign_ids = refs.campaigns(session, (p.row.campaign for p in batch))

    owners = identity.canonical_many(session, {o.customer_id for o in by_no.values()})
    claims = [identity.Claim(p.row.identity_pairs(), p.row.customer_id) for p in batch]
    todo: list[tuple[Pending[OrderIn], Any, bool]] = []
    for p, named_now in zip(batch, merges.named_before(session, claims), strict=True):
        r, res, o = p.row, p.result, by_no[p.row.order_no]
        res.id = o.id
        owner = owners.get(o.customer_id)
        # The row names the order's customer if any of its identities is theirs.
        named = owner if owner in named_now else min(named_now, default=None)
        stored = {
            "customer": owner,
            "store": stores.get(o.store_id) if o.store_id else None,
            "guide": staff.get(o.guide_id) if o.guide_id else None,
            "campaign": campaigns.get(o.campaign_id)
            if o.attribution == "explicit" and o.campaign_id
            else None,
            "ordered_at": o.ordered_at,
            "paid_cents": o.paid_cents,
            "cost_cents": o.cost_cents,
            "discount_cents": o.discount_cents,
            "units": o.units,
            "coupon_code": o.coupon_code,
            "items": sorted(items[o.id]),
        }
        sent = {
            "customer": named
            if named is not None
            else ", ".join(f"{k}:{v}" for k, v in r.identity_pairs())
            or f"customer_id:{r.customer_id}",
            "store": r.store,
            "guide": r.guide,
            "campaign": r.campaign,
            "ordered_at": r.ordered_at,
            "paid_cents": r.paid_cents,
            "cost_cents": r.cost_cents or 0,
            "discount_cents": r.discount_cents or 0,
            "units": r.units or 0,
            "coupon_code": r.coupon_code,
            "items": _items(r),
        }
        res.differs = _diff(stored, sent)
        if not res.differs:
            res.status = "unchanged"  # the same order sent again: nothing to do
            continue
        if not update_them:
            res.status = "conflict"
            continue
        for name, table in (("store", store_ids), ("guide", staff_ids), ("campaign", campaign_ids)):
            code = getattr(r, name)
            if code and code not in table:
                res.reject(name, refs.MISSING[name].format(code))
        if r.ordered_at > utcnow() + timedelta(days=1):  # as for a new order (orders.py)
            res.reject("ordered_at", f"{r.ordered_at.isoformat()} is in the future; check the date")
        if r.customer_id and identity.canonical_id(session, r.customer_id) is None:
            res.reject("customer_id", f"customer {r.customer_id} does not exist")
        if r.paid_cents < o.refunded_cents:
            res.reject(
                "paid_cents",
                f"its refunds already total {o.refunded_cents} cents, more than {r.paid_cents}; "
                "correct the refunds first",
            )
        if not res.errors:
            todo.append((p, o, named != owner))
    if not todo:
        return

    before = kpi.order_snapshot(session, [o.id for _, o, _ in todo])
    moved = [(p, o) for p, o, customer_changed in todo if customer_changed]
    new_owner = dict(
        zip(
            (o.id for _, o in moved),
            identity.resolve(
                session,
                [
                    identity.Claim(pairs=p.row.identity_pairs(), customer_id=p.row.customer_id)
                    for p, _ in moved
                ],
                reason="order identities",
            ).ids,
            strict=True,
        )
    )
    customers: set[int] = set()
    rows: list[dict[str, Any]] = []
    new_items: list[dict[str, Any]] = []
    for p, o, _ in todo:
        r = p.row
        customers.add(o.customer_id)
        cid = new_owner.get(o.id, o.customer_id)
        customers.add(cid)
        if r.campaign:
            campaign, attribution = campaign_ids[r.campaign], "explicit"
        elif o.attribution == "explicit":
            campaign, attribution = None, None  # the ERP took its campaign back: rules decide
        else:
            campaign, attribution = o.campaign_id, o.attribution
        rows.append(
            {
                "id": o.id,
                "customer_id": cid,
                "store_id": store_ids.get(r.store or ""),
                "guide_id": staff_ids.get(r.guide or ""),
                "campaign_id": campaign,
                "attribution": attribution,
                "ordered_at": r.ordered_at,
                "paid_cents": r.paid_cents,
                "cost_cents": r.cost_cents or 0,
                "discount_cents": r.discount_cents or 0,
                "units": r.units or 0,
                "coupon_code": r.coupon_code,
            }
        )
        new_items.extend(
            {"order_id": o.id, **dict(zip(_ITEM, item, strict=True))} for item in _items(r)
        )
        p.result.status = "updated"
    session.flush()
    session.execute(update(Order), rows)
    session.expire_all()  # the bulk UPDATE bypassed any loaded Order objects
    for part in chunks([r["id"] for r in rows]):
        session.execute(delete(OrderItem).where(OrderItem.order_id.in_(part)))
    if new_items:
        copy_rows(session, OrderItem, new_items)
    session.flush()
    stats.recompute(session, customers)
    kpi.orders_changed(session, before)


def refunds(session: Session, batch: Sequence[Pending[RefundIn]], *, update_them: bool) -> None:
    """Settle rows whose refund number is stored already (every row of ``batch`` is one)."""
    if not batch:
        return
    by_no = {
        r.refund_no: r
        for part in chunks(sorted({p.row.refund_no for p in batch}))
        for r in session.scalars(select(Refund).where(Refund.refund_no.in_(part)))
    }
    order_nos = {p.row.order_no for p in batch}
    order_ids = {r.order_id for r in by_no.values()}
    # Locked, like the refund intake does: two batches must not both spend one balance.
    orders_by_id = {
        o.id: o
        for part in chunks(sorted(order_ids))
        for o in session.scalars(select(Order).where(Order.id.in_(part)).with_for_update())
    }
    orders_by_id.update(
        (o.id, o)
        for part in chunks(sorted(order_nos))
        for o in session.scalars(select(Order).where(Order.order_no.in_(part)).with_for_update())
    )
    orders_by_no = {o.order_no: o for o in orders_by_id.values()}
    balance = {oid: o.refunded_cents for oid, o in orders_by_id.items()}
    todo: list[tuple[Pending[RefundIn], Refund, Order]] = []
    for p in batch:
        r, res, old = p.row, p.result, by_no[p.row.refund_no]
        res.id = old.id
        stored = {
            "order_no": orders_by_id[old.order_id].order_no,
            "amount_cents": old.amount_cents,
            "units": old.units,
            "reason": old.reason,
            "refunded_at": old.refunded_at,
        }
        sent = {
            "order_no": r.order_no,
            "amount_cents": r.amount_cents,
            "units": r.units,
            "reason": r.reason,
            "refunded_at": r.refunded_at,
        }
        res.differs = _diff(stored, sent)
        if not res.differs:
            res.status = "unchanged"
            continue
        if not update_them:
            res.status = "conflict"
            continue
        target = orders_by_no.get(r.order_no)
        if target is None:
            res.reject(
                "order_no", f"unknown order {r.order_no!r}; send the order before its refund"
            )
            continue
        after = (
            balance[target.id]
            + r.amount_cents
            - (old.amount_cents if old.order_id == target.id else 0)
        )
        if after > target.paid_cents:
            res.reject(
                "amount_cents",
                f"refunds would total {after} cents but order {r.order_no} paid "
                f"{target.paid_cents}; check the amount",
            )
            continue
        if r.refunded_at < target.ordered_at:
            res.reject("refunded_at", "a refund cannot be earlier than its order; check the date")
            continue
        balance[old.order_id] -= old.amount_cents
        balance[target.id] += r.amount_cents
        todo.append((p, old, target))
    if not todo:
        return
    touched = {old.order_id for _, old, _ in todo} | {t.id for _, _, t in todo}
    before = kpi.order_snapshot(session, touched)
    for p, old, target in todo:
        old.order_id, old.amount_cents, old.units = target.id, p.row.amount_cents, p.row.units
        old.reason, old.refunded_at = p.row.reason, p.row.refunded_at
        p.result.status = "updated"
    for oid in touched:
        orders_by_id[oid].refunded_cents = balance[oid]
    session.flush()
    stats.recompute(session, {orders_by_id[oid].customer_id for oid in touched})
    kpi.orders_changed(session, before)
