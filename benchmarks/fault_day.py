"""The day the fault script drives: its plan (every job of a day at a real minute of the
next six, in the zone where it is mid-morning) and its seed (stores, staff, customers and
orders through the intake path; one Slack digest subscription per store manager)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.intake.kinds import ingest
from bot.lifecycle import recompute
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import DigestSubscription, Staff

CAMPAIGN = "FAULT-DAY"
GUIDES_PER_STORE = 20
LAPSED = 8  # customers per guide who stopped buying (the task list)
RECENT = 2  # customers per guide who bought in the campaign (the digests)


def morning_zone(now: datetime) -> ZoneInfo:
    """The fixed-offset zone where it is between 10:00 and 11:00 now (Etc/GMT signs are
    inverted: Etc/GMT-8 is UTC+8)."""
    offset = (10 - now.hour + 12) % 24 - 12
    return ZoneInfo(f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC")


@dataclass
class Plan:
    zone: ZoneInfo
    start: datetime  # local, on a minute
    times: dict[str, str] = field(default_factory=dict)

    @classmethod
    def make(cls, lead: float) -> Plan:
        now = datetime.now(UTC)
        zone = morning_zone(now)
        start = (
            (now + timedelta(seconds=lead + 60)).astimezone(zone).replace(second=0, microsecond=0)
        )
        plan = cls(zone, start)
        for name, minutes in (
            ("lifecycle", 0),
            ("reconcile", 1),
            ("morning", 2),
            ("digest_a", 3),
            ("digest_b", 4),
            ("summary", 5),
        ):
            plan.times[name] = (start + timedelta(minutes=minutes)).strftime("%H:%M")
        return plan

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=6)


def seed(url: str, plan: Plan, guides: int) -> tuple[list[str], list[str], list[str]]:
    """Stores, staff, customers and orders through the intake path; digest subscriptions.
    Returns (guide userids, manager userids, digest channels)."""
    upgrade(url)
    db = Database(url)
    tz = plan.zone
    today = datetime.now(tz)
    stores = (guides + GUIDES_PER_STORE - 1) // GUIDES_PER_STORE
    store_rows = [
        {"code": f"S{s:03d}", "name": f"门店{s}", "timezone": tz.key} for s in range(stores)
    ]
    staff_rows = [{"code": "A01", "name": "管理员", "role": "admin", "wecom_userid": "admin1"}]
    managers, guide_ids = [], []
    for s in range(stores):
        managers.append(f"m{s:03d}")
        staff_rows.append(
            {
                "code": f"M{s:03d}",
                "name": f"店长{s}",
                "role": "manager",
                "store": f"S{s:03d}",
                "wecom_userid": f"m{s:03d}",
                "slack_user_id": f"UM{s:05d}",
            }
        )
    for g in range(guides):
        guide_ids.append(f"g{g:04d}")
        staff_rows.append(
            {
                "code": f"G{g:04d}",
                "name": f"导购{g}",
                "store": f"S{g // GUIDES_PER_STORE:03d}",
                "wecom_userid": f"g{g:04d}",
            }
        )
    campaign = {
        "code": CAMPAIGN,
        "name": "冬季会员日",
        "starts_at": (today - timedelta(days=10)).isoformat(),
        "ends_at": (today + timedelta(days=20)).isoformat(),
    }
    customers, orders = [], []
    for g in range(guides):
        store = f"S{g // GUIDES_PER_STORE:03d}"
        for j in range(LAPSED + RECENT):
            member = f"F{g:04d}-{j}"
            customers.append(
                {"member_no": member, "name": f"客户{g}-{j}", "guide": f"G{g:04d}", "store": store}
            )
            lapsed = j < LAPSED
            last = today - timedelta(days=(50 + 9 * j) if lapsed else 2 + j)
            for k in range(5):
                orders.append(
                    {
                        "order_no": f"O{g:04d}-{j}-{k}",
                        "member_no": member,
                        "store": store,
                        "guide": f"G{g:04d}",
                        "campaign": CAMPAIGN if not lapsed and k == 0 else None,
                        "ordered_at": (last - timedelta(days=30 * k)).isoformat(),
                        "paid_cents": 20_000 + 1_000 * j,
                    }
                )
    for kind, rows in (
        ("stores", store_rows),
        ("staff", staff_rows),
        ("campaigns", [campaign]),
        ("customers", customers),
        ("orders", orders),
    ):
        for i in range(0, len(rows), 2000):
            with db.uow() as uow:
                result = ingest(uow.session, kind, rows[i : i + 2000], tz=tz)
                if result.summary().get("rejected"):
                    raise SystemExit(f"seed rejected {kind}: {result.as_dict()['rows'][:3]}")
                uow.commit()
    settings = Settings(database_url=url, timezone=tz.key)
    recompute.full(db, settings, datetime.now(UTC), refit=True)  # last night's run
    channels = []
    with db.uow() as uow:
        session = uow.session
        for n, code in enumerate(
            sorted(r["code"] for r in staff_rows if r.get("role") == "manager")
        ):
            channel = f"CD{n:05d}"
            channels.append(channel)
            session.add(
                DigestSubscription(
                    staff_id=session.scalar(select(Staff.id).where(Staff.code == code)),
                    channel="slack",
                    target=channel,
                    time_of_day=plan.times["digest_a" if n % 2 == 0 else "digest_b"],
                    timezone=tz.key,
                )
            )
        uow.commit()
    if db.dialect == "postgresql":
        # A shop's database has planner statistics; tables loaded a minute ago have none until
        # autovacuum gets to them, and the planner then nested-loops 500 guides x 5,000
        # customers: each task-list query took 0.55 s instead of < 50 ms.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    db.dispose()
    return guide_ids, managers, channels
