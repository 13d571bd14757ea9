"""Offboarding and chat-id links: deactivate a member, hand their customers over, link and
unlink a Slack account. Every change lands in the audit log (docs/security.md).

A handover moves, for each customer in scope, the guide relation, the customer's guide and
the open tasks from FROM to TO. A customer who is a WeCom external contact of FROM cannot
simply be moved here: WeCom owns that relation, so such customers are queued for the
customer-transfer API (``integrations/wecom/handover.py``, outbox kind ``transfer``), and
their relation moves once WeCom reports them taken over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.outbox import enqueue
from bot.services import audit
from storage.base import utcnow
from storage.models import Customer, CustomerIdentity, GuideRelation, Staff, Task

OPEN = ("open", "snoozed")


class Refused(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def member(session: Session, code: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.code == code))
    if staff is None:
        raise Refused(
            f"没有工号为 {code} 的员工；用 scrm staff list 查看。",
            f"no staff member {code!r}; see `scrm staff list`",
        )
    return staff


def deactivate(session: Session, code: str, *, channel: str) -> dict[str, Any]:
    staff = member(session, code)
    was = staff.active
    staff.active = False
    if was:
        audit.record(session, staff_id=staff.id, channel=channel, action="staff_deactivate")
    followed = session.scalar(
        select(GuideRelation.id)
        .where(GuideRelation.staff_id == staff.id, GuideRelation.removed_at.is_(None))
        .limit(1)
    )
    return {"code": code, "active": False, "changed": was, "has_customers": followed is not None}


_COLUMN = {"slack": "slack_user_id", "wecom": "wecom_userid"}


def unlink(session: Session, code: str, chat: str, *, channel: str) -> str | None:
    """Remove a chat-id link; returns the id that was linked (None: there was none)."""
    staff = member(session, code)
    column = _COLUMN[chat]
    old: str | None = getattr(staff, column)
    if old:
        setattr(staff, column, None)
        audit.record(session, staff_id=staff.id, channel=channel, action=f"unlink_{chat}", user=old)
    return old


def link(session: Session, code: str, chat: str, user_id: str, *, channel: str) -> None:
    staff = member(session, code)
    column = _COLUMN[chat]
    other = session.scalar(select(Staff.code).where(getattr(Staff, column) == user_id))
    if other and other != code:
        raise Refused(
            f"{chat} 账号 {user_id} 已关联员工 {other}；先运行 scrm staff unlink {other} {chat}。",
            f"{chat} user {user_id} is already linked to {other}; run"
            f" `scrm staff unlink {other} {chat}` first",
        )
    old = getattr(staff, column)
    setattr(staff, column, user_id)
    audit.record(
        session, staff_id=staff.id, channel=channel, action=f"link_{chat}", user=user_id, old=old
    )


@dataclass
class Handover:
    moved: list[int] = field(default_factory=list)  # customers moved here and now
    wecom: list[int] = field(default_factory=list)  # customers queued for the WeCom transfer
    tasks: int = 0


def handover(
    session: Session,
    from_code: str,
    to_code: str,
    customers: list[int] | None,
    *,
    channel: str,
) -> Handover:
    """Move FROM's customers (``None``: all of them) to TO; WeCom contacts go through WeCom."""
    src, dst = member(session, from_code), member(session, to_code)
    if src.id == dst.id:
        raise Refused("交接双方是同一个人。", "FROM and TO are the same staff member")
    if not dst.active:
        raise Refused(
            f"{to_code} 已停用，不能接手客户。", f"{to_code} is deactivated and cannot take over"
        )
    q = select(GuideRelation.customer_id).where(
        GuideRelation.staff_id == src.id, GuideRelation.removed_at.is_(None)
    )
    followed = set(session.scalars(q))
    wanted = followed if customers is None else set(customers)
    stray = sorted(wanted - followed)
    if stray:
        raise Refused(
            f"{from_code} 没有跟进这些客户：{stray}。",
            f"{from_code} does not follow customers {stray}; check the ids",
        )
    ext = dict(
        session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.value).where(
                CustomerIdentity.customer_id.in_(wanted),
                CustomerIdentity.kind == "wecom_external_userid",
            )
        ).all()
    )
    out = Handover()
    via_wecom = {c: e for c, e in ext.items() if src.wecom_userid and dst.wecom_userid}
    for cid in sorted(wanted):
        if cid in via_wecom:
            out.wecom.append(cid)
        else:
            out.tasks += move(session, cid, src.id, dst.id, by=channel)
            out.moved.append(cid)
    if via_wecom:
        enqueue(
            session,
            channel="wecom",
            kind="transfer",
            target=dst.wecom_userid or "",
            payload={
                "handover_userid": src.wecom_userid,
                "takeover_userid": dst.wecom_userid,
                "resigned": not src.active,
                "from_id": src.id,
                "to_id": dst.id,
                "customers": {via_wecom[c]: c for c in sorted(via_wecom)},
                "manager": _manager(session, src),
            },
            key=f"transfer:{src.id}:{dst.id}:{utcnow().isoformat()}",
        )
    audit.record(
        session,
        staff_id=src.id,
        channel=channel,
        action="staff_handover",
        to=to_code,
        moved=out.moved,
        wecom=out.wecom,
        tasks=out.tasks,
    )
    return out


def move(session: Session, customer_id: int, src: int, dst: int, *, by: str) -> int:
    """Move one customer's relation, guide and open tasks; returns how many tasks moved."""
    now = utcnow()
    session.execute(
        update(GuideRelation)
        .where(
            GuideRelation.customer_id == customer_id,
            GuideRelation.staff_id == src,
            GuideRelation.removed_at.is_(None),
        )
        .values(removed_at=now, removed_by="handover")
    )
    rel = session.scalar(
        select(GuideRelation).where(
            GuideRelation.customer_id == customer_id, GuideRelation.staff_id == dst
        )
    )
    if rel is None:
        session.add(GuideRelation(customer_id=customer_id, staff_id=dst, added_by="handover"))
    elif rel.removed_at is not None:
        rel.removed_at, rel.removed_by, rel.added_at, rel.added_by = None, None, now, "handover"
    session.execute(
        update(Customer)
        .where(Customer.id == customer_id, Customer.guide_id == src)
        .values(guide_id=dst)
    )
    moved = 0
    for task in session.scalars(
        select(Task).where(
            Task.customer_id == customer_id, Task.guide_id == src, Task.status.in_(OPEN)
        )
    ):
        taken = session.scalar(
            select(Task.id).where(
                Task.customer_id == customer_id, Task.guide_id == dst, Task.day == task.day
            )
        )
        if taken is None:
            task.guide_id = dst
            moved += 1
        else:  # TO already has this customer's task that day: one task is enough
            task.status, task.skip_reason = "skipped", "handed over"
    session.flush()
    return moved


def _manager(session: Session, staff: Staff) -> int | None:
    """Who hears how the WeCom transfer ended: a manager of FROM's store, else an admin."""
    for role, same_store in (("manager", True), ("admin", False)):
        q = select(Staff.id).where(Staff.role == role, Staff.active.is_(True))
        if same_store:
            q = q.where(Staff.store_id == staff.store_id)
        found = session.scalar(q.order_by(Staff.id).limit(1))
        if found is not None:
            return found
    return None
