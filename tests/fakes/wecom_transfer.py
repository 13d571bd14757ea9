"""The fake WeCom's customer-transfer endpoints (在职继承 and 离职继承).

developer.work.weixin.qq.com/document/path/92125 and 94081: ``transfer_customer`` queues
each customer (per-customer errcode; 84061 when FROM does not follow them), and
``transfer_result`` reports each queued customer's status (1 taken over, 2 waiting,
3 refused, 4 TO at the contact limit), paged by ``next_cursor``. The in-service call refuses a
FROM who has left the corp (40096 here) and the resigned call one who has not (40097 here):
the real API has the same split. ``settle`` is the test's hand in time: the customer accepts
(the relation moves to TO) or refuses.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.wecom import FakeWecom

PAGE = 2  # small pages, so the client's cursor loop is exercised


def _transfers(fake: FakeWecom) -> dict[tuple[str, str, str], dict[str, Any]]:
    if not hasattr(fake, "transfers"):
        fake.transfers = {}  # type: ignore[attr-defined]
    return fake.transfers  # type: ignore[attr-defined,no-any-return]


def transfer(fake: FakeWecom, d: dict[str, Any], *, resigned: bool) -> dict[str, Any]:
    src, dst = d.get("handover_userid", ""), d.get("takeover_userid", "")
    externals = d.get("external_userid") or []
    if not 1 <= len(externals) <= 100:
        return {"errcode": 40058, "errmsg": "external_userid must hold 1 to 100 ids"}
    if dst not in fake.members:
        return {"errcode": 60111, "errmsg": "takeover userid not found"}
    if resigned and src in fake.members:
        return {"errcode": 40097, "errmsg": "handover user has not resigned"}
    if not resigned and src not in fake.members:
        return {"errcode": 40096, "errmsg": "handover user has resigned"}
    out = []
    for ext in externals:
        if ext not in fake.follows.get(src, {}):
            out.append({"external_userid": ext, "errcode": 84061})
            continue
        _transfers(fake)[(src, dst, ext)] = {"status": 2, "takeover_time": 0, "resigned": resigned}
        out.append({"external_userid": ext, "errcode": 0})
    return {"errcode": 0, "errmsg": "ok", "customer": out}


def result(fake: FakeWecom, d: dict[str, Any], *, resigned: bool) -> dict[str, Any]:
    src, dst = d.get("handover_userid", ""), d.get("takeover_userid", "")
    rows = [
        {"external_userid": ext, "status": t["status"], "takeover_time": t["takeover_time"]}
        for (s, t_, ext), t in sorted(_transfers(fake).items())
        if s == src and t_ == dst and t["resigned"] == resigned
    ]
    cursor = d.get("cursor") or ""
    start = int(base64.b64decode(cursor).decode()) if cursor else 0
    nxt = start + PAGE
    return {
        "errcode": 0,
        "errmsg": "ok",
        "customer": rows[start:nxt],
        "next_cursor": base64.b64encode(str(nxt).encode()).decode() if nxt < len(rows) else "",
    }


def settle(fake: FakeWecom, external_userid: str, status: int) -> None:
    """The customer's answer: 1 taken over (the follow moves to TO), 3 refused."""
    with fake.lock:
        for (src, dst, ext), t in _transfers(fake).items():
            if ext == external_userid and t["status"] == 2:
                t["status"], t["takeover_time"] = status, 1
                if status == 1:
                    follow = fake.follows.get(src, {}).pop(ext, None)
                    if follow is not None:
                        fake.follows.setdefault(dst, {})[ext] = {**follow, "userid": dst}
