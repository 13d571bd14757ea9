"""From CDNOW transactions to intake rows: the whole demo as data, before any database.

Pure and seeded: the same transactions, seed, day and zone give the same rows. Every
customer draws from a generator of their own (seed and CDNOW id), so a customer, their
orders, refunds and tags are the same in a subset and in the full demo, and building the
full demo over a subset only adds.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from bot.demo import cast
from bot.demo.campaigns import CampaignSpec, campaign_rows, campaign_specs
from bot.demo.cdnow import LAST_DAY, Transaction
from bot.demo.names import PeopleMaker, remark

# A dollar of 1997 CDs priced as a yuan of fashion today: x7 keeps amounts exact in cents.
CNY_PER_USD = 7
REFUND_SHARE = 0.02
NOTE_SHARE = 0.02
REMARK_SHARE = 0.35
PREFERENCE_SHARE = 0.25
COUPON_SHARE = 0.4  # of the orders inside a campaign window
# Store hours 10:00-22:00, busiest in the evening.
HOURS = tuple(range(10, 22))
HOUR_WEIGHTS = (3, 5, 6, 7, 6, 6, 7, 8, 9, 10, 8, 5)
REFUND_REASONS = ("尺码不合适", "颜色与图片不符", "质量问题", "不喜欢了", "重复下单")

Coupon = tuple[CampaignSpec, str, int]  # campaign, code, value in cents


@dataclass
class DemoCustomer:
    cdnow_id: int
    member_no: str
    guide: str
    row: dict[str, Any]  # for the ``customers`` intake kind
    tags: list[tuple[str, str, str | None]] = field(default_factory=list)  # group, tag, staff


@dataclass(frozen=True)
class Note:
    member_no: str
    guide: str
    body: str
    occurred_at: datetime


@dataclass
class Plan:
    today: date
    customers: list[DemoCustomer]
    campaigns: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    notes: list[Note]


def pick_customers(transactions: Sequence[Transaction], count: int | None) -> list[int]:
    """All CDNOW customers, or ``count`` of them spread evenly over the ids.

    Ids follow the first purchase date, so an even spread keeps every acquisition cohort
    (a prefix would hold only the New Year's Day buyers).
    """
    ids = sorted({t.customer_id for t in transactions})
    if count is None or count >= len(ids):
        return ids
    return [ids[i * len(ids) // count] for i in range(max(count, 0))]


def member_no(cdnow_id: int) -> str:
    # Keeps the CDNOW id readable in the member number, to relate a demo customer to the log.
    return f"M{cdnow_id:08d}"


def order_no(cdnow_id: int, day: date, n: int) -> str:
    # The original CDNOW day, not the shifted one: the number must not depend on when the
    # demo was built, or a re-run on another day would store every order twice.
    return f"CD{cdnow_id:05d}-{day:%Y%m%d}-{n}"


def _tiers(transactions: Sequence[Transaction]) -> dict[int, str]:
    """Membership tier by lifetime spend rank over all of CDNOW (not the subset, so that a
    customer's tier does not depend on who else is in the demo)."""
    spend: dict[int, int] = defaultdict(int)
    for t in transactions:
        spend[t.customer_id] += t.cents
    ranked = sorted(spend, key=lambda cid: (-spend[cid], cid))
    tiers = {}
    for rank, cid in enumerate(ranked, start=1):
        tier = next((t for cut, t in cast.TIER_CUTS if rank / len(ranked) <= cut), None)
        if tier:
            tiers[cid] = tier
    return tiers


class _Planner:
    def __init__(self, *, tz: tzinfo, now: datetime, shift: timedelta, seed: int) -> None:
        self.tz, self.now, self.shift, self.seed = tz, now, shift, seed
        self.people = PeopleMaker(seed)
        self.guides: dict[str, list[str]] = defaultdict(list)
        for g in cast.GUIDES:
            self.guides[g["store"]].append(g["code"])
        self.cities = {s["code"]: s["city"] for s in cast.STORES}

    def customer(self, cid: int, rng: random.Random, tier: str | None) -> DemoCustomer:
        person = self.people.person(cid, rng)
        store = rng.choices(list(cast.STORE_WEIGHTS), list(cast.STORE_WEIGHTS.values()))[0]
        guide = rng.choice(self.guides[store])
        row: dict[str, Any] = {
            "member_no": member_no(cid),
            "phone": person.phone,
            "name": person.name,
            "gender": person.gender,
            "birthday": person.birthday,
            "store": store,
            "guide": guide,
        }
        if rng.random() < REMARK_SHARE:  # the guide's WeCom contacts carry a remark
            row["remark"] = remark(person, self.cities[store], rng)
            row["wecom_external_userid"] = f"wm{rng.getrandbits(96):024x}"
        customer = DemoCustomer(cid, member_no(cid), guide, row)
        sources = list(cast.SOURCE_WEIGHTS)
        source = rng.choices(sources, list(cast.SOURCE_WEIGHTS.values()))[0]
        customer.tags.append((cast.SOURCES.name, source, guide))
        if rng.random() < PREFERENCE_SHARE:
            customer.tags.append((cast.PREFERENCES.name, rng.choice(cast.PREFERENCES.tags), guide))
        if tier:
            customer.tags.append((cast.TIERS.name, tier, None))
        return customer

    def ordered_at(self, day: date, rng: random.Random) -> datetime:
        hour = rng.choices(HOURS, HOUR_WEIGHTS)[0]
        at = datetime.combine(day + self.shift, time(hour, rng.randrange(60), rng.randrange(60)))
        at = at.replace(tzinfo=self.tz)
        if at > self.now:  # history ends now: today's orders happened earlier today
            at = max(self.now - timedelta(minutes=1), at.replace(hour=0, minute=0, second=0))
        return at

    def orders(
        self,
        customer: DemoCustomer,
        txs: list[Transaction],
        coupons: list[Coupon],
        rng: random.Random,
    ) -> list[dict[str, Any]]:
        out = []
        same_day: dict[date, int] = defaultdict(int)
        for t in sorted(txs, key=lambda t: t.day):  # stable: file order within a day
            same_day[t.day] += 1
            paid = t.cents * CNY_PER_USD
            at = self.ordered_at(t.day, rng)
            item = rng.choice(cast.CATALOGUE)
            order: dict[str, Any] = {
                "order_no": order_no(t.customer_id, t.day, same_day[t.day]),
                "member_no": customer.member_no,
                "store": customer.row["store"],
                "guide": customer.guide,
                "ordered_at": at,
                "paid_cents": paid,
                "cost_cents": round(paid * cast.COST_SHARE),
                "sku": item.sku,
                "item_name": item.name,
                "quantity": t.cds,
            }
            # A coupon only inside its campaign, on a basket worth twice its value (满减).
            usable = [(c, v) for s, c, v in coupons if s.covers(at) and paid >= 2 * v]
            if usable and rng.random() < COUPON_SHARE:
                order["coupon_code"], order["discount_cents"] = rng.choice(usable)
            out.append(order)
        return out

    def refund(self, order: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
        if order["paid_cents"] == 0 or rng.random() >= REFUND_SHARE:
            return None
        paid, units = order["paid_cents"], order["quantity"]
        full = units == 1 or rng.random() < 0.6
        at = min(order["ordered_at"] + timedelta(days=rng.randint(1, 10)), self.now)
        return {
            "refund_no": "RF" + order["order_no"],
            "order_no": order["order_no"],
            # A partial refund returns one unit at its share of the price.
            "amount_cents": paid if full else max(paid // units, 1),
            "units": units if full else 1,
            "refunded_at": max(at, order["ordered_at"]),
            "reason": rng.choice(REFUND_REASONS),
        }

    def note(self, customer: DemoCustomer, last: dict[str, Any], rng: random.Random) -> Note:
        body = rng.choice(cast.NOTES).format(item=last["item_name"])
        at = min(last["ordered_at"] + timedelta(days=rng.randint(1, 5), hours=1), self.now)
        return Note(customer.member_no, customer.guide, body, at)


def make_plan(
    transactions: Sequence[Transaction],
    *,
    today: date,
    tz: tzinfo,
    now: datetime,
    seed: int = 7,
    customers: int | None = None,
) -> Plan:
    """Every row of the demo. CDNOW's last day (1998-06-30) becomes ``today`` in ``tz``;
    nothing is later than ``now``."""
    planner = _Planner(tz=tz, now=now, shift=today - LAST_DAY, seed=seed)
    specs = campaign_specs(today, tz)
    coupons = [(s, c, v) for s in specs for c, v in s.coupons]
    tiers = _tiers(transactions)
    by_customer: dict[int, list[Transaction]] = defaultdict(list)
    for t in transactions:
        by_customer[t.customer_id].append(t)

    plan = Plan(today, [], campaign_rows(specs), [], [], [])
    for cid in pick_customers(transactions, customers):
        rng = random.Random(f"{seed}:{cid}")
        customer = planner.customer(cid, rng, tiers.get(cid))
        orders = planner.orders(customer, by_customer[cid], coupons, rng)
        plan.customers.append(customer)
        plan.orders.extend(orders)
        plan.refunds.extend(r for o in orders if (r := planner.refund(o, rng)) is not None)
        if orders and rng.random() < NOTE_SHARE:
            plan.notes.append(planner.note(customer, orders[-1], rng))
    return plan
