"""Scheduled pushes under fire: three ``scrm serve`` replicas on PostgreSQL, one killed every
few seconds, through a day of scheduled jobs for 500 guides.

    python benchmarks/fault_scheduler.py --database-url postgresql://postgres@127.0.0.1:5432/scrm_fault
    python benchmarks/fault_scheduler.py --database-url ... --guides 100 --kill-every 2

The database is emptied first (never the test or postgres databases). The fake WeCom and
Slack APIs (tests/fakes) run in this process on ephemeral ports; a share of WeCom calls fails
or drops the connection (``--fault-rate``). The replicas are real ``scrm serve`` processes,
each with its scheduler (one leader by advisory lock) and its outbox pump.

The day is compressed, not simulated: every job of a day is set to a real minute in the next
few minutes, so real APScheduler cron triggers fire on the real clock, in this order:
lifecycle recompute, WeCom reconcile, task generation and the morning push, the KPI digests
(one Slack subscription per store manager, in two waves), the manager summary and the weekly
team report. The zone is the fixed-offset one where it is now mid-morning, so quiet hours do
not hold the pushes. Every ``--kill-every`` seconds one replica gets SIGKILL (every other
time the scheduler leader, found by its advisory lock) and is started again a second later.

Pass: every guide with tasks got exactly one morning list, whole (each of its messages, the
text and every button card, exactly once: ``fault_parts``), every digest arrived once, every
manager got one summary and one weekly report, every job ran once for its time, nothing is
dead, expired or pending in the outbox. The exit code is 0 only then.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from benchmarks.common import (
    code_version,
    free_port,
    fresh_database,
    machine,
    save,
    scrm_bin,
    scrm_env,
)
from benchmarks.fault_day import Plan, seed
from benchmarks.fault_parts import list_parts
from bot.outbox import OutboxWorker
from bot.scheduler.leader import current_leader
from storage.db import Database
from storage.models import JobRun, OutboxMessage, Staff, Task
from tests.fakes import slack as S
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import server_env


class Replicas:
    """``scrm serve`` processes that can be killed and started again."""

    def __init__(self, n: int, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.ports = [free_port() for _ in range(n)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * n
        self.down_since: list[float | None] = [None] * n
        self.kills = Counter[str]()

    def start(self, i: int) -> None:
        log = open(self.logs / f"replica-{i}.log", "ab")  # noqa: SIM115
        self.procs[i] = subprocess.Popen(
            [
                scrm_bin(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports[i]),
                "--no-migrate",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.down_since[i] = None

    def kill(self, i: int, why: str) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.kills[why] += 1
        self.procs[i] = None
        self.down_since[i] = time.monotonic()

    def restart_due(self, after: float) -> None:
        for i, since in enumerate(self.down_since):
            if since is not None and time.monotonic() - since >= after:
                self.start(i)

    def index_of(self, pid: int) -> int | None:
        for i, proc in enumerate(self.procs):
            if proc is not None and proc.pid == pid:
                return i
        return None

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            if proc is not None:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def log_counts(logs: Path) -> dict[str, int]:
    """What the replicas' logs say happened: takeovers, and runs a new leader finished."""
    text = "\n".join(p.read_text(errors="replace") for p in logs.glob("replica-*.log"))
    return {
        "leader_takeovers": text.count("is the scheduler leader"),
        "runs_finished_by_next_leader": text.count("was left unfinished by"),
        "runs_skipped_as_already_done": text.count("already ran elsewhere"),
        "jobs_missed": text.count("was missed by"),
    }


def leader_pid(db: Database) -> int | None:
    name = current_leader(db) or ""
    try:
        return int(name.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def pending(db: Database) -> int:
    with db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")
            )
            or 0
        )


DRAIN_TIMEOUT = inspect.signature(OutboxWorker).parameters["max_delay"].default + 60 + 240


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--guides", type=int, default=500)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--kill-every", type=float, default=4.0)
    ap.add_argument("--restart-after", type=float, default=1.0)
    ap.add_argument("--fault-rate", type=float, default=0.05)
    ap.add_argument("--leader-poll", type=float, default=5.0)
    # A real morning retries a list until the evening; the script cannot wait that long, but it
    # must outwait the outbox's longest spacing between two attempts: a plain failure is retried
    # at most 600 s later (OutboxWorker.max_delay), a "maybe delivered" part at most 300 s later
    # (MAYBE_MAX_DELAY, inside WeCom's 1800 s duplicate window), a killed worker's row after its
    # 60 s lease. 300 s could end between two attempts of a row that was still being retried.
    ap.add_argument("--drain-timeout", type=float, default=DRAIN_TIMEOUT)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("replicas share one PostgreSQL: pass a postgresql:// URL")

    url = fresh_database(args.database_url)
    seeding = time.perf_counter()
    plan = Plan.make(lead=60)
    guides, managers, channels = seed(url, plan, args.guides)
    seed_seconds = time.perf_counter() - seeding
    if datetime.now(plan.zone) > plan.start - timedelta(seconds=20):
        raise SystemExit("seeding took longer than planned; rerun with fewer --guides")
    print(
        f"seeded {len(guides)} guides in {seed_seconds:.1f} s; day starts {plan.start:%H:%M} {plan.zone.key}"
    )

    wecom = F.FakeWecom().start()
    wecom.members |= {*guides, *managers, "admin1"}
    wecom.faults = F.Faults(rate=args.fault_rate, paths={"message/send"})
    slack = S.FakeSlack().start()
    for channel in channels:
        slack.channels[channel] = {"is_member": True, "is_private": False, "name": channel.lower()}

    env = scrm_env(url) | server_env(wecom)
    env.update(
        SCRM_LOG_LEVEL="INFO",
        SCRM_TIMEZONE=plan.zone.key,
        SCRM_SLACK_BOT_TOKEN=S.BOT_TOKEN,
        SCRM_SLACK_SIGNING_SECRET="fault-signing-secret",
        SCRM_SLACK_API_BASE=slack.api_base,
        SCRM_LIFECYCLE_TIME=plan.times["lifecycle"],
        SCRM_RECONCILE_TIME=plan.times["reconcile"],
        SCRM_MORNING_PUSH_TIME=plan.times["morning"],
        SCRM_MANAGER_SUMMARY_TIME=plan.times["summary"],
        SCRM_WEEKLY_REPORT_DAY=str(plan.start.weekday()),
        SCRM_WEEKLY_REPORT_TIME=plan.times["summary"],
        SCRM_LEADER_POLL_SECONDS=str(args.leader_poll),
        SCRM_REFIT_WEEKDAY=str((plan.start.weekday() + 1) % 7),  # an incremental night
    )
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"scrm-fault-{os.getpid()}"
    logs.mkdir(parents=True, exist_ok=True)
    replicas = Replicas(args.replicas, env, logs)
    for i in range(args.replicas):
        replicas.start(i)

    db = Database(url)
    rng = random.Random(11)
    started = time.monotonic()
    no_leader_since: float | None = None
    longest_gap = 0.0
    next_kill = time.monotonic() + args.kill_every
    # Besides the steady kills, the leader dies a second after each job fires: mid-run.
    aimed = sorted({plan.start + timedelta(minutes=m, seconds=1) for m in range(6)})
    turn = 0
    try:
        # Kill through the whole day, then let the outbox drain with all replicas up.
        while datetime.now(plan.zone) < plan.end + timedelta(seconds=30):
            replicas.restart_due(args.restart_after)
            pid = leader_pid(db)
            now = time.monotonic()
            if pid is None:
                no_leader_since = no_leader_since or now
                longest_gap = max(longest_gap, now - no_leader_since)
            else:
                no_leader_since = None
            leader = replicas.index_of(pid) if pid else None
            if aimed and datetime.now(plan.zone) >= aimed[0]:
                aimed.pop(0)
                if leader is not None:
                    replicas.kill(leader, "leader mid-job")
                    leader = None
            if now >= next_kill:
                if turn % 2 == 0 and leader is not None:
                    replicas.kill(leader, "leader")
                else:
                    alive = [i for i, p in enumerate(replicas.procs) if p is not None]
                    if alive:
                        victim = rng.choice(alive)
                        replicas.kill(victim, "leader" if victim == leader else "other")
                turn += 1
                next_kill = now + args.kill_every
            time.sleep(0.25)
        replicas.restart_due(0)
        drained_at = time.monotonic()
        while pending(db) and time.monotonic() - drained_at < args.drain_timeout:
            time.sleep(1)
        drain_seconds = time.monotonic() - drained_at
    finally:
        replicas.stop_all()

    result = verify(db, plan, guides, managers, channels, wecom, slack)
    result.update(
        guides=len(guides),
        managers=len(managers),
        replicas=args.replicas,
        kill_every_s=args.kill_every,
        kills=dict(replicas.kills),
        longest_without_leader_s=round(longest_gap, 1),
        leader_poll_s=args.leader_poll,
        wecom_fault_rate=args.fault_rate,
        wecom_calls=len(wecom.calls),
        wecom_duplicates_dropped=wecom.duplicates,
        slack_posts=len(slack.to("chat.postMessage")),
        slack_history_lookups=len(slack.to("conversations.history")),
        **log_counts(logs),
        seed_seconds=round(seed_seconds, 1),
        run_seconds=round(time.monotonic() - started, 1),
        drain_after_day_s=round(drain_seconds, 1),
        zone=plan.zone.key,
        times=plan.times,
        logs=str(logs),
        machine=machine(),
        code=code_version(),
    )
    db.dispose()
    wecom.stop()
    slack.stop()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    save(result, args.json)
    return 0 if result["pass"] else 1


def verify(
    db: Database,
    plan: Plan,
    guides: list[str],
    managers: list[str],
    channels: list[str],
    wecom: F.FakeWecom,
    slack: S.FakeSlack,
) -> dict[str, object]:
    day = plan.start.date()
    with db.session() as s:
        tasked = set(
            s.scalars(
                select(Staff.wecom_userid)
                .join(Task, Task.guide_id == Staff.id)
                .where(Task.day == day)
                .distinct()
            )
        )
        job_runs = Counter(
            (job_id, status)
            for job_id, status in s.execute(
                select(JobRun.job_id, JobRun.status).where(
                    JobRun.job_id.not_in(["outbox_sweep"]),
                )
            )
        )
        outbox = Counter(
            dict(
                s.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                ).all()
            )
        )

    def delivered(userid: str, marker: str) -> int:
        return sum(
            1
            for m in wecom.sent_to(userid)
            if m["msgtype"] == "markdown" and marker in m["markdown"]["content"]
        )

    lists = Counter({g: delivered(g, f"今日任务 {day.isoformat()}") for g in guides})
    summaries = Counter({m: delivered(m, "团队任务（近 1 天）") for m in managers})
    weeklies = Counter({m: delivered(m, "团队任务（近 7 天）") for m in managers})
    digest_posts = Counter(
        str(c.args.get("channel"))
        for c in slack.to("chat.postMessage")
        if str(c.args.get("channel", "")).startswith("CD")
    )
    wrong_lists = {g: n for g, n in lists.items() if n != (1 if g in tasked else 0)}
    parts = list_parts(db, wecom, "tasks:")
    checks = {
        "every tasked guide got exactly one morning list": not wrong_lists,
        "every list arrived whole (each message once)": parts["verdicts"].get("whole", 0)
        == parts["pushes"],
        "most guides had tasks": len(tasked) >= 0.9 * len(guides),
        "every digest arrived once": all(digest_posts[c] == 1 for c in channels),
        "every manager got one summary": all(n == 1 for n in summaries.values()),
        "every manager got one weekly report": all(n == 1 for n in weeklies.values()),
        "every job ran once for its time": all(
            job_runs[(job, "ok")] == 1
            for job in (
                "lifecycle",
                "wecom_reconcile",
                f"morning:{plan.zone.key}",
                "manager_summary",
                "weekly_team",
            )
        )
        and all(job_runs[(f"digest:{i}", "ok")] == 1 for i in range(1, len(channels) + 1)),
        "nothing missed or failed": not any(
            n for (_, status), n in job_runs.items() if status in ("missed", "failed")
        ),
        "nothing dead, expired or pending": not any(
            outbox.get(status, 0) for status in ("dead", "expired", "pending")
        ),
    }
    return {
        "pass": all(checks.values()),
        "checks": checks,
        "guides_with_tasks": len(tasked),
        "morning_lists": dict(Counter(lists.values())),
        "wrong_lists": dict(list(wrong_lists.items())[:10]),
        "list_parts": parts,
        "digests": dict(Counter(digest_posts[c] for c in channels)),
        "summaries": dict(Counter(summaries.values())),
        "weekly": dict(Counter(weeklies.values())),
        "job_runs": {
            f"{j} {st}": n for (j, st), n in sorted(job_runs.items()) if not j.startswith("digest:")
        },
        "digest_runs": dict(
            Counter(
                st for (j, st), n in job_runs.items() for _ in range(n) if j.startswith("digest:")
            )
        ),
        "outbox": dict(outbox),
    }


if __name__ == "__main__":
    raise SystemExit(main())
