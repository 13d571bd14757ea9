"""The outbox alone under WeCom faults: N task lists (text, then button cards) pushed through
one worker and the real WeCom sender to the fake WeCom, a share of ``message/send`` calls
failing (-1, 45009) or dropping the connection before or after acting on it. The worker's
clock jumps to each next retry, so a day of retries takes seconds.

    python benchmarks/fault_outbox.py --lists 300 --fault-rate 0.3

Reports, per list, whether each of its messages arrived exactly once (whole), some did not
(partial), or one arrived twice (doubled), next to the row's status."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from benchmarks.common import code_version, machine
from bot.app import create_app
from bot.chat.types import Action, Item, Reply
from bot.outbox import OutboxWorker
from bot.scheduler.pushes import push_reply
from storage.base import utcnow
from storage.db import Database
from storage.migrate import upgrade
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import Harness, wecom_settings


def _fingerprint(m: dict[str, Any]) -> str:
    body = m[m["msgtype"]]
    if m["msgtype"] == "template_card":
        return "card:" + body["task_id"]
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lists", type=int, default=300)
    ap.add_argument("--tasks", type=int, default=10, help="tasks per list")
    ap.add_argument("--fault-rate", type=float, default=0.3)
    args = ap.parse_args()

    url = f"sqlite:///{tempfile.mkdtemp(prefix='scrm-fault-outbox-')}/outbox.db"
    upgrade(url)
    db = Database(url)
    fake = F.FakeWecom().start()
    guides = [f"g{i:04d}" for i in range(args.lists)]
    fake.members |= set(guides)
    settings = wecom_settings(url, fake)
    n = args.tasks
    reply = Reply(
        title="今日任务",
        text="\n".join(f"{i}. 顾客{i}" for i in range(1, n + 1)),
        items=[Item(i, f"顾客{i}", actions=[Action("完成", f"完成 {i}")]) for i in range(1, n + 1)],
    )
    started = time.perf_counter()
    with TestClient(create_app(settings, db)) as client:
        wx = Harness(client, db, fake)
        wx.worker = OutboxWorker(
            db, client.app.state.senders, base_delay=1.0, clock=wx.clock, rng=random.Random(3)
        )
        with db.uow() as uow:
            for g in guides:
                push_reply(
                    uow.session,
                    settings=settings,
                    channel="wecom",
                    target=g,
                    reply=reply,
                    key=f"tasks:{g}:2026-12-01",
                    now=utcnow(),
                    respect_quiet_hours=False,
                )
            uow.commit()
        fake.faults = F.Faults(rate=args.fault_rate, paths={"message/send"})
        wx.drain(rounds=100 * args.lists)
        rows = wx.outbox()
        parts = max(r.parts_sent for r in rows)
        verdicts: Counter[str] = Counter()
        for r in rows:
            got = Counter(_fingerprint(m) for m in fake.sent_to(r.target))
            if len(got) == parts and set(got.values()) == {1}:
                verdict = "whole"
            elif any(v > 1 for v in got.values()):
                verdict = "doubled"
            else:
                verdict = f"partial {len(got)}/{parts}"
            verdicts[f"{r.status} {verdict}"] += 1
        calls = fake.calls_to("message/send")
        result = {
            "lists": len(rows),
            "messages_per_list": parts,
            "fault_rate": args.fault_rate,
            "verdicts": dict(verdicts),
            "attempts": dict(Counter(r.attempts for r in rows)),
            "send_calls": len(calls),
            "send_outcomes": dict(Counter(c.outcome for c in calls)),
            "duplicates_dropped": fake.duplicates,
            "seconds": round(time.perf_counter() - started, 1),
            "machine": machine(),
            "code": code_version(),
        }
    fake.stop()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if verdicts.get("sent whole", 0) == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
