"""Loss alerts (流失提醒) and bulk-deletion alerts, queued as WeCom text pushes.

- A customer deletes their guide (``del_follow_user``): the guide and the managers of the
  guide's store hear who, how long the relation lasted, the last interaction and what the
  customer is worth.
- A guide deletes many customers in a short time (``del_external_contact``, e.g. someone
  leaving with the client list): the managers hear it once per window.

Alerts respect the quiet hours (``SCRM_QUIET_START``/``SCRM_QUIET_END``): one raised at night
waits in the outbox until the morning.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.commands.base import money
from bot.outbox import enqueue
from bot.settings import Settings
from storage.models import (
    Customer,
    CustomerStats,
    GuideRelation,
    Interaction,
    ManagerStore,
    Staff,
)

# A guide removing this many customers within the window is worth a manager's look.
BULK_DELETE_THRESHOLD = 5
BULK_DELETE_WINDOW = timedelta(hours=1)


def _hm(value: str) -> time:
    hour, _, minute = value.partition(":")
    return time(int(hour), int(minute or 0))


def not_before(settings: Settings, now: datetime) -> datetime | None:
    """The end of the quiet hours when ``now`` falls inside them, else None."""
    start, end = _hm(settings.quiet_start), _hm(settings.quiet_end)
    local = now.astimezone(settings.tz)
    t = local.time()
    quiet = (start <= t or t < end) if start > end else (start <= t < end)
    if not quiet or start == end:
        return None
    wake = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if wake <= local:
        wake += timedelta(days=1)
    return wake


def managers_of(session: Session, guide: Staff) -> list[Staff]:
    """Managers of the guide's store: by their own store, or by an extra ManagerStore row."""
    if guide.store_id is None:
        return []
    extra = select(ManagerStore.staff_id).where(ManagerStore.store_id == guide.store_id)
    return list(
        session.scalars(
            select(Staff)
            .where(
                Staff.role == "manager",
                Staff.active.is_(True),
                Staff.id != guide.id,
                or_(Staff.store_id == guide.store_id, Staff.id.in_(extra)),
            )
            .order_by(Staff.id)
        )
    )


def push(
    session: Session, settings: Settings, staff: Staff, text: str, key: str, now: datetime
) -> None:
    if not staff.wecom_userid:
        return
    enqueue(
        session,
        channel="wecom",
        kind="text",
        target=staff.wecom_userid,
        payload={"text": text},
        key=f"{key}:{staff.id}",
        not_before=not_before(settings, now),
    )


def loss_alert(
    session: Session,
    settings: Settings,
    *,
    customer_id: int,
    guide: Staff,
    relation: GuideRelation,
    at: datetime,
    key: str,
) -> None:
    customer = session.get(Customer, customer_id)
    name = (customer.name if customer else None) or relation.remark or f"#{customer_id}"
    days = max((at - relation.added_at).days, 0)
    last = session.execute(
        select(Interaction.kind, Interaction.occurred_at)
        .where(Interaction.customer_id == customer_id)
        .order_by(Interaction.occurred_at.desc())
        .limit(1)
    ).one_or_none()
    stats = session.get(CustomerStats, customer_id)
    net = (stats.spend_cents - stats.refund_cents) if stats else 0
    orders = stats.order_count if stats else 0
    for staff in [guide, *managers_of(session, guide)]:
        zh = staff.locale != "en"
        if last is None:
            seen = "无互动记录" if zh else "no interaction on record"
        else:
            ago = max((at - last.occurred_at).days, 0)
            seen = (
                f"{last.occurred_at.astimezone(settings.tz):%Y-%m-%d}（{last.kind}，{ago} 天前）"
                if zh
                else f"{last.occurred_at.astimezone(settings.tz):%Y-%m-%d} ({last.kind}, {ago} days ago)"
            )
        who = "你" if staff.id == guide.id else guide.name
        if zh:
            text = (
                f"流失提醒：客户 {name} 删除了{who}（企业微信）。\n"
                f"保持好友 {days} 天；最近互动：{seen}；\n"
                f"客户价值：累计 {money(net)}，{orders} 单。"
            )
        else:
            who = "you" if staff.id == guide.id else guide.name
            text = (
                f"Loss alert: customer {name} removed {who} in WeCom.\n"
                f"Kept {days} days; last interaction: {seen};\n"
                f"value: {money(net)} over {orders} orders."
            )
        push(session, settings, staff, text, f"wecom-loss:{key}", at)


def bulk_delete_check(session: Session, settings: Settings, *, guide: Staff, at: datetime) -> bool:
    """Alert the managers when ``guide`` removed many customers recently; True if alerted."""
    recent, first = session.execute(
        select(func.count(), func.min(GuideRelation.removed_at)).where(
            GuideRelation.staff_id == guide.id,
            GuideRelation.removed_by == "guide",
            GuideRelation.removed_at > at - BULK_DELETE_WINDOW,
            GuideRelation.removed_at <= at,
        )
    ).one()
    if (recent or 0) < BULK_DELETE_THRESHOLD or first is None:
        return False
    # One alert per burst, however many deletions follow: the key names the burst by its
    # first deletion, which stays the same while the burst lasts. (A clock bucket would
    # alert twice for a burst that straddles the bucket's edge.)
    bucket = int(first.timestamp())
    for manager in managers_of(session, guide):
        zh = manager.locale != "en"
        text = (
            f"异常提醒：导购 {guide.name} 在 {int(BULK_DELETE_WINDOW.total_seconds() // 60)} 分钟内"
            f"删除了 {recent} 位客户（企业微信）。请核实。"
            if zh
            else f"Alert: guide {guide.name} removed {recent} customers in WeCom within "
            f"{int(BULK_DELETE_WINDOW.total_seconds() // 60)} minutes. Please check."
        )
        push(session, settings, manager, text, f"wecom-bulkdel:{guide.id}:{bucket}", at)
    return True
