"""Hand a guide's WeCom external contacts to another guide, and follow the outcome.

WeCom owns the guide–customer relation, so a handover goes through its customer-transfer
API (developer.work.weixin.qq.com/document/path/92125 在职继承, 94081 离职继承):

- ``externalcontact/transfer_customer`` while FROM still works here (the customer is told and
  may refuse within 24 hours), ``externalcontact/resigned/transfer_customer`` once FROM has
  left (FROM is deactivated here); at most 100 customers per call;
- ``externalcontact/transfer_result`` (or ``resigned/transfer_result``) then reports each
  customer: 1 taken over, 2 waiting, 3 refused, 4 TO has reached the contact limit, 5 no
  transfer on record.

Outbox kind ``transfer`` makes the calls; kind ``transfer_check`` asks for the result every
``CHECK_SECONDS`` (a Retry, so it survives restarts) until no customer is waiting. A customer
taken over moves here too (relation, guide, open tasks); the manager then gets the outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.outbox import Outgoing, Retry, enqueue
from bot.services import audit, offboarding
from storage.models import Staff

if TYPE_CHECKING:
    from integrations.wecom.sender import WecomSender

CHECK_SECONDS = 4 * 3600.0  # the customer has 24 h to refuse; 8 outbox attempts cover 32 h
BATCH = 100
OUTCOME = {1: "taken_over", 2: "waiting", 3: "refused", 4: "limit", 5: "none"}


def _path(resigned: bool, name: str) -> str:
    return f"externalcontact/{'resigned/' if resigned else ''}{name}"


def transfer(sender: WecomSender, m: Outgoing) -> None:
    p = m.payload
    api = sender.ctx.contact_api
    results: dict[str, str] = {}
    externals = sorted(p["customers"])
    for start in range(0, len(externals), BATCH):
        body: dict[str, Any] = {
            "handover_userid": p["handover_userid"],
            "takeover_userid": p["takeover_userid"],
            "external_userid": externals[start : start + BATCH],
        }
        answer = api.post(_path(p["resigned"], "transfer_customer"), body)
        for row in answer.get("customer") or []:
            code = int(row.get("errcode") or 0)
            results[str(row.get("external_userid"))] = "waiting" if code == 0 else f"error {code}"
    with sender.ctx.get_db().uow() as uow:
        enqueue(
            uow.session,
            channel="wecom",
            kind="transfer_check",
            target=m.target,
            payload={**p, "results": results},
            key=f"{m.key}:check",
        )
        uow.commit()


def check(sender: WecomSender, m: Outgoing) -> None:
    p = m.payload
    results: dict[str, str] = dict(p.get("results") or {})
    cursor = ""
    while True:
        body = {
            "handover_userid": p["handover_userid"],
            "takeover_userid": p["takeover_userid"],
            "cursor": cursor,
        }
        answer = sender.ctx.contact_api.post(_path(p["resigned"], "transfer_result"), body)
        for row in answer.get("customer") or []:
            ext = str(row.get("external_userid"))
            if ext in p["customers"] and results.get(ext) == "waiting":
                results[ext] = OUTCOME.get(int(row.get("status") or 0), "waiting")
        cursor = answer.get("next_cursor") or ""
        if not cursor:
            break
    taken = [ext for ext, r in results.items() if r == "taken_over"]
    with sender.ctx.get_db().uow() as uow:
        s = uow.session
        for ext in taken:
            offboarding.move(s, int(p["customers"][ext]), p["from_id"], p["to_id"], by="wecom")
        uow.commit()  # a customer taken over stays moved even if others still wait
    waiting = [ext for ext, r in results.items() if r == "waiting"]
    if waiting:
        # Moving again on the next check changes nothing, so the check simply repeats.
        raise Retry(f"{len(waiting)} customer(s) still waiting", after=CHECK_SECONDS)
    with sender.ctx.get_db().uow() as uow:
        s = uow.session
        audit.record(
            s,
            staff_id=p["from_id"],
            channel="wecom",
            action="wecom_transfer",
            results={str(p["customers"][e]): r for e, r in results.items()},
        )
        manager = s.get(Staff, p["manager"]) if p.get("manager") else None
        if manager is not None and manager.wecom_userid:
            # Through the outbox like every push: it lands with the audit row or not at all.
            enqueue(
                s,
                channel="wecom",
                kind="text",
                target=manager.wecom_userid,
                payload={"text": summary(p, results)},
                key=f"{m.key}:told",
            )
        uow.commit()


def summary(p: dict[str, Any], results: dict[str, str]) -> str:
    taken = sum(1 for r in results.values() if r == "taken_over")
    others = [f"{p['customers'][e]} ({r})" for e, r in sorted(results.items()) if r != "taken_over"]
    line = (
        f"客户交接完成：{p['handover_userid']} → {p['takeover_userid']}，"
        f"{taken} 位已接替，{len(others)} 位未接替"
    )
    line_en = (
        f"Customer handover {p['handover_userid']} → {p['takeover_userid']}: {taken} taken over,"
        f" {len(others)} not"
    )
    if others:
        line += f"（客户 {', '.join(others)}）"
        line_en += f" (customers {', '.join(others)})"
    return f"{line}。\n{line_en}."
