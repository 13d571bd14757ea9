"""Seeded, deterministic retail data for benchmarks, in files ready for ``scrm import``.

    python benchmarks/generate.py --customers 1000000 --orders 10000000 --seed 42 \
        --end 2026-06-30 --out benchmarks/data/full
    python benchmarks/generate.py --self-check

Writes stores.csv, staff.jsonl, campaigns.jsonl, customers.jsonl, orders.jsonl (chronological)
and refunds.jsonl, plus manifest.json with the counts and the sha256 of every file. The same
arguments give byte-identical files (``--end`` defaults to today, so pin it to reproduce).

How customers buy (a Pareto/NBD-like story, the one the lifecycle model assumes): ~8% of
customers are registered members who never buy; of the buyers ~45% buy once; the others buy
at their own rate (gamma-distributed, so a few buy weekly and most a few times a year) until
an exponentially distributed lifetime ends, after which they are churned. The first purchase
falls on a join day that grows over the window and follows the season (weekends, 618,
Double 11 ...). Repeat orders are a multinomial draw over (customer, day) cells weighted by
rate x season, done day by day with conditional binomials, so ``--orders`` is met exactly
while only one day of orders is ever in memory.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

try:
    import numpy as np
except ImportError:  # pragma: no cover - a clear message beats a traceback
    sys.exit("benchmarks/generate.py needs numpy: pip install numpy")

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import vocab

TZ = ZoneInfo("Asia/Shanghai")
OFFSET = "+08:00"
PROSPECT_SHARE = 0.08  # registered members who never buy
ONE_TIME_SHARE = 0.45  # of buyers
MEAN_LIFETIME_DAYS = 700
REFUND_SHARE = 0.03
# Share of orders per local hour: quiet at night, peaks at lunch and in the evening.
HOURS = np.array(
    [3, 1, 1, 1, 1, 1, 2, 4, 8, 14, 30, 45, 60, 55, 45, 45, 50, 55, 60, 75, 85, 80, 55, 25],
    dtype=float,
)


@dataclass(frozen=True)
class Params:
    customers: int
    orders: int
    seed: int
    end: date
    years: int = 3
    guides_per_store: int = 9

    @property
    def days(self) -> int:
        return 365 * self.years


class Sink:
    """A file written in UTF-8 whose sha256 and line count are kept on the way."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = path.open("wb", buffering=1 << 20)
        self.digest = hashlib.sha256()
        self.lines = 0

    def write(self, lines: list[str]) -> None:
        data = "".join(lines).encode()
        self.fh.write(data)
        self.digest.update(data)
        self.lines += len(lines)

    def close(self) -> str:
        self.fh.close()
        return self.digest.hexdigest()


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


class Names:
    """Chinese names: a surname by its real frequency, then one or two given characters."""

    def __init__(self) -> None:
        self.surnames = [s for s, _ in vocab.SURNAMES]
        weights = np.array([w for _, w in vocab.SURNAMES], dtype=float)
        self.surname_p = weights / weights.sum()
        self.female = list(vocab.GIVEN_FEMALE + vocab.GIVEN_ANY)
        self.male = list(vocab.GIVEN_MALE + vocab.GIVEN_ANY)

    def draw(self, rng: np.random.Generator, female: np.ndarray) -> list[str]:
        n = len(female)
        sur = rng.choice(len(self.surnames), n, p=self.surname_p)
        two = rng.random(n) < 0.7
        a = rng.integers(0, 1 << 30, n)
        b = rng.integers(0, 1 << 30, n)
        out = []
        for i in range(n):
            chars = self.female if female[i] else self.male
            given = chars[a[i] % len(chars)]
            if two[i]:
                given += chars[b[i] % len(chars)]
            out.append(self.surnames[sur[i]] + given)
        return out


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    # An affine map i -> (a*i + b) mod 7e9 is a bijection when gcd(a, 7e9) = 1, so the numbers
    # 13000000000 + that are unique mobiles 1[3-9]xxxxxxxxx without a set of the ones drawn.
    space = 7_000_000_000
    a = int(rng.integers(10**8, 10**9))
    while a % 2 == 0 or a % 5 == 0 or a % 7 == 0:
        a += 1
    b = int(rng.integers(0, space))
    i = np.arange(n, dtype=np.int64)
    # a*i overflows int64 for large i; split a so every product stays below 2**63.
    hi, lo = divmod(a, 1 << 16)
    v = ((hi * i % space) * (1 << 16) % space + lo * i % space + b) % space
    return 13_000_000_000 + v


def _season(days: list[date]) -> tuple[np.ndarray, np.ndarray]:
    """Relative demand per day, and the campaign (index into the year's list) running then."""
    weight = np.ones(len(days))
    campaign = np.full(len(days), -1, dtype=np.int64)
    for i, day in enumerate(days):
        w = {4: 1.1, 5: 1.35, 6: 1.3}.get(day.weekday(), 1.0)
        if day.month == 2 and day.day <= 12:
            w *= 0.55  # around the Spring Festival, approximately: shops close, couriers stop
        for c, (_, _, sm, sd, em, ed, pm, pd, _, _) in enumerate(vocab.CAMPAIGNS):
            if date(day.year, sm, sd) <= day <= date(day.year, em, ed):
                campaign[i] = c
                w *= 4.0 if (day.month, day.day) == (pm, pd) else 1.7
        weight[i] = w
    return weight, campaign


def _campaign_rows(start: date, end: date) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    last: dict[str, str] = {}
    for year in range(start.year, end.year + 1):
        for suffix, name, sm, sd, em, ed, _, _, value, threshold in vocab.CAMPAIGNS:
            first, final = date(year, sm, sd), date(year, em, ed)
            if final < start or first > end:
                continue
            code = f"C{year}-{suffix}"
            row: dict[str, object] = {
                "code": code,
                "name": f"{year} {name}",
                "starts_at": f"{first.isoformat()}T00:00:00{OFFSET}",
                "ends_at": f"{final.isoformat()}T23:59:59{OFFSET}",
                "coupons": [{"code": f"{code}-{value}", "value_cents": value * 100}],
                "fixed_cost_cents": threshold * 1000,
            }
            if suffix in last:
                row["previous"] = last[suffix]
            last[suffix] = code
            rows.append(row)
    return rows


def generate(p: Params, out: Path, *, log: bool = True) -> dict[str, object]:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(p.seed)
    names = Names()
    start = p.end - timedelta(days=p.days - 1)
    days = [start + timedelta(days=d) for d in range(p.days)]

    # Stores and staff: one manager and ``guides_per_store`` guides per store.
    stores = [
        (f"S{i + 1:03d}", f"{city}{place}店", city)
        for i, (city, place, _) in enumerate(vocab.STORES)
    ]
    n_stores = len(stores)
    store_codes = [s[0] for s in stores]
    store_p = np.array([s for _, _, s in vocab.STORES], dtype=float)
    store_p /= store_p.sum()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["code", "name", "city", "timezone"])
    writer.writerows([*s, "Asia/Shanghai"] for s in stores)
    files = {"stores.csv": hashlib.sha256(buf.getvalue().encode()).hexdigest()}
    (out / "stores.csv").write_bytes(buf.getvalue().encode())

    g = p.guides_per_store
    staff_sink = Sink(out / "staff.jsonl")
    staff_names = names.draw(rng, rng.random(n_stores * (g + 1)) < 0.8)
    guide_codes: list[str] = []
    lines = []
    for s, (store_code, _, _) in enumerate(stores):
        for k in range(g + 1):
            n = s * (g + 1) + k + 1
            code = f"E{n:05d}"
            role = "manager" if k == 0 else "guide"
            if k:
                guide_codes.append(code)
            lines.append(
                _dumps(
                    {
                        "code": code,
                        "name": staff_names[n - 1],
                        "role": role,
                        "store": store_code,
                        "wecom_userid": f"wm{n:05d}",
                    }
                )
            )
    staff_sink.write(lines)
    files["staff.jsonl"] = staff_sink.close()

    campaigns = _campaign_rows(start, p.end)
    camp_sink = Sink(out / "campaigns.jsonl")
    camp_sink.write([_dumps(c) for c in campaigns])
    files["campaigns.jsonl"] = camp_sink.close()

    # Customers: who they are, and how they buy.
    C = p.customers
    season, day_campaign = _season(days)
    home = rng.choice(n_stores, C, p=store_p).astype(np.int32)
    has_guide = rng.random(C) < 0.8
    guide = np.where(has_guide, home * g + rng.integers(0, g, C), -1).astype(np.int32)
    gender = rng.choice(3, C, p=[0.72, 0.26, 0.02])  # female, male, unknown
    age = np.clip(rng.normal(33, 9, C), 18, 70)
    birth_offset = (age * 365.25).astype(np.int64)
    has_birthday = rng.random(C) < 0.75
    phones = _phones(rng, C)

    buyers = min(C - int(C * PROSPECT_SHARE), p.orders)
    order = rng.permutation(C)
    one_time = min(buyers, int(buyers * ONE_TIME_SHARE)) if p.orders > buyers else buyers
    is_buyer = np.zeros(C, dtype=bool)
    is_buyer[order[:buyers]] = True
    repeater = np.zeros(C, dtype=bool)
    repeater[order[one_time:buyers]] = True
    growth = 1.0 + 1.5 * np.arange(p.days) / p.days  # the member base grows over the window
    join_p = growth * season / (growth * season).sum()
    join = np.full(C, p.days, dtype=np.int32)  # p.days: never
    join[is_buyer] = rng.choice(p.days, buyers, p=join_p)
    life = rng.exponential(MEAN_LIFETIME_DAYS, C)
    last_day = np.where(repeater, np.minimum(join + life, p.days - 1), -1).astype(np.int32)
    rate = np.where(repeater, rng.gamma(0.9, 1.0, C), 0.0)

    repeats = p.orders - buyers
    if repeats and not repeater.any():
        raise SystemExit("more orders than buyers but nobody repeats; add customers")
    # Expected repeat demand per day: sum of the rates of customers active that day.
    r_idx = np.flatnonzero(repeater)
    r_join, r_last, r_rate = join[r_idx], last_day[r_idx], rate[r_idx]
    live = r_join < r_last
    active = np.bincount(r_join[live] + 1, r_rate[live], p.days + 1)
    active -= np.bincount(r_last[live] + 1, r_rate[live], p.days + 1)
    demand = np.cumsum(active)[: p.days] * season
    per_day = np.zeros(p.days, dtype=np.int64)
    left, mass = repeats, demand.sum()
    for d in range(p.days):
        if left and mass > 0:
            per_day[d] = left if d == p.days - 1 else rng.binomial(left, min(1.0, demand[d] / mass))
            left -= per_day[d]
            mass -= demand[d]
    if left:
        raise SystemExit("could not place every repeat order; give more customers or years")

    if log:
        print(
            f"customers: {C:,} ({buyers:,} buyers, {buyers - one_time:,} repeat)", file=sys.stderr
        )
    cust_sink = Sink(out / "customers.jsonl")
    genders = ("female", "male", None)
    for lo in range(0, C, 100_000):
        hi = min(C, lo + 100_000)
        batch_names = names.draw(rng, gender[lo:hi] == 0)
        lines = []
        for i in range(lo, hi):
            row: dict[str, object] = {
                "member_no": f"M{i + 1:09d}",
                "phone": str(phones[i]),
                "name": batch_names[i - lo],
                "store": stores[home[i]][0],
            }
            if guide[i] >= 0:
                row["guide"] = guide_codes[guide[i]]
            if genders[gender[i]]:
                row["gender"] = genders[gender[i]]
            if has_birthday[i]:
                row["birthday"] = (p.end - timedelta(days=int(birth_offset[i]))).isoformat()
            lines.append(_dumps(row))
        cust_sink.write(lines)
    files["customers.jsonl"] = cust_sink.close()

    # Products and the per-day order loop.
    price = np.array([pr[2] * 100 for pr in vocab.PRODUCTS], dtype=np.int64)
    cost = (price * np.array([pr[3] for pr in vocab.PRODUCTS])).astype(np.int64)
    pop = np.array([pr[4] for pr in vocab.PRODUCTS], dtype=float)
    pop /= pop.sum()
    item_head = [
        f'{{"sku":"SKU{k + 1:04d}","name":{json.dumps(pr[0] + " " + pr[1], ensure_ascii=False)},"quantity":'
        for k, pr in enumerate(vocab.PRODUCTS)
    ]
    hour_p = HOURS / HOURS.sum()
    clock = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
    day_str = [d.isoformat() for d in days]
    day_no = [d.strftime("%Y%m%d") for d in days]
    by_join = np.argsort(join, kind="stable")
    join_bounds = np.searchsorted(join[by_join], np.arange(p.days + 1))
    reasons = vocab.REFUND_REASONS
    orders_sink, refunds_sink = Sink(out / "orders.jsonl"), Sink(out / "refunds.jsonl")
    seq = n_items_total = 0
    for d in range(p.days):
        firsts = by_join[join_bounds[d] : join_bounds[d + 1]]
        k = int(per_day[d])
        if k:
            on = np.flatnonzero((r_join < d) & (r_last >= d))
            cum = np.cumsum(r_rate[on])
            picks = r_idx[on[np.searchsorted(cum, rng.random(k) * cum[-1], side="right")]]
            who = np.concatenate([firsts, picks])
        else:
            who = firsts
        n = len(who)
        if not n:
            continue
        secs = np.sort(rng.choice(24, n, p=hour_p) * 3600 + rng.integers(0, 3600, n))
        who = who[rng.permutation(n)]  # times are sorted; customers are not tied to them
        at_home = rng.random(n) < 0.85
        store = np.where(at_home, home[who], rng.choice(n_stores, n, p=store_p))
        u = rng.random(n)
        cust_guide = guide[who]
        credited = np.where(
            at_home & (cust_guide >= 0) & (u < 0.75),
            cust_guide,
            np.where(u < 0.9, store * g + rng.integers(0, g, n), -1),
        )
        n_items = rng.choice(3, n, p=[0.62, 0.28, 0.10]) + 1
        sku = rng.choice(len(price), (n, 3), p=pop)
        qty = rng.choice(3, (n, 3), p=[0.86, 0.11, 0.03]) + 1
        used = np.arange(3) < n_items[:, None]
        line_list = np.where(used, price[sku] * qty, 0)
        line_cost = np.where(used, cost[sku] * qty, 0)
        listed = line_list.sum(axis=1)
        c_idx = int(day_campaign[d])
        tagged = (rng.random(n) < 0.6) if c_idx >= 0 else np.zeros(n, dtype=bool)
        promo = np.where(tagged, rng.choice([0.0, 0.1, 0.15, 0.2], n), 0.0)
        promo = np.where(~tagged & (rng.random(n) < 0.08), 0.05, promo)
        discount = (listed * promo / 100).astype(np.int64) * 100
        coupon = None
        campaign_code = coupon_code = ""
        if c_idx >= 0:
            suffix, _, _, _, _, _, _, _, value, threshold = vocab.CAMPAIGNS[c_idx]
            campaign_code = f"C{days[d].year}-{suffix}"
            coupon_code = f"{campaign_code}-{value}"
            coupon_value = value * 100
            coupon = rng.random(n) < 0.35
            coupon &= tagged & (listed - discount >= threshold * 100)
            discount = discount + np.where(coupon, coupon_value, 0)
        paid = listed - discount
        # Paid split over the lines in proportion to list price; the last line takes the rest.
        line_paid = line_list * paid[:, None] // np.maximum(listed, 1)[:, None]
        last = n_items - 1
        line_paid[np.arange(n), last] += paid - line_paid.sum(axis=1)
        refund = rng.random(n) < REFUND_SHARE
        refund_kind = rng.random(n)
        refund_delay = rng.integers(2 * 3600, 20 * 86400, n)
        refund_reason = rng.integers(0, len(reasons), n)
        refund_share = rng.uniform(0.2, 0.7, n)

        # Plain lists: indexing them in the loop below is several times faster than numpy.
        who_l, secs_l, store_l, credited_l = (
            who.tolist(),
            secs.tolist(),
            store.tolist(),
            credited.tolist(),
        )
        n_items_l, sku_l, qty_l = n_items.tolist(), sku.tolist(), qty.tolist()
        line_paid_l, line_cost_l = line_paid.tolist(), line_cost.tolist()
        paid_l, discount_l, tagged_l = paid.tolist(), discount.tolist(), tagged.tolist()
        coupon_l = coupon.tolist() if coupon is not None else None
        refund_l = (refund & (paid > 0)).tolist()
        date_part = day_str[d] + "T"
        prefix = "SO" + day_no[d]
        order_lines, refund_lines = [], []
        for i in range(n):
            seq += 1
            c = who_l[i]
            order_no = f"{prefix}{seq:08d}"
            ni, sk, qt, lp, lc = n_items_l[i], sku_l[i], qty_l[i], line_paid_l[i], line_cost_l[i]
            items = ",".join(
                f'{item_head[sk[j]]}{qt[j]},"paid_cents":{lp[j]},"cost_cents":{lc[j]}}}'
                for j in range(ni)
            )
            extra = ""
            if credited_l[i] >= 0:
                extra += f',"guide":"{guide_codes[credited_l[i]]}"'
            if tagged_l[i]:
                extra += f',"campaign":"{campaign_code}"'
                if coupon_l and coupon_l[i]:
                    extra += f',"coupon_code":"{coupon_code}"'
            order_lines.append(
                f'{{"order_no":"{order_no}","member_no":"M{c + 1:09d}",'
                f'"store":"{store_codes[store_l[i]]}"{extra},'
                f'"ordered_at":"{date_part}{clock[secs_l[i]]}{OFFSET}",'
                f'"paid_cents":{paid_l[i]},"cost_cents":{sum(lc)},'
                f'"discount_cents":{discount_l[i]},"items":[{items}]}}\n'
            )
            if refund_l[i]:
                if refund_kind[i] < 0.55:
                    amount, units = paid_l[i], sum(qt[:ni])
                elif ni > 1 and lp[0] > 0:
                    amount, units = lp[0], qt[0]
                else:
                    amount, units = max(1, int(paid_l[i] * refund_share[i])), 0
                when = min(d * 86400 + secs_l[i] + int(refund_delay[i]), p.days * 86400 - 1)
                rd, rs = divmod(when, 86400)
                refund_lines.append(
                    f'{{"refund_no":"RF{order_no[2:]}","order_no":"{order_no}",'
                    f'"amount_cents":{amount},"units":{units},'
                    f'"refunded_at":"{day_str[rd]}T{clock[rs]}{OFFSET}",'
                    f'"reason":"{reasons[refund_reason[i]]}"}}\n'
                )
        n_items_total += int(n_items.sum())
        orders_sink.write(order_lines)
        refunds_sink.write(refund_lines)
        if log and d % 100 == 99:
            print(f"  day {d + 1}/{p.days}: {seq:,} orders", file=sys.stderr)
    files["orders.jsonl"] = orders_sink.close()
    files["refunds.jsonl"] = refunds_sink.close()

    churned = int((repeater & (last_day < p.days - 1)).sum())
    manifest: dict[str, object] = {
        "params": {**asdict(p), "end": p.end.isoformat()},
        "window": [start.isoformat(), p.end.isoformat()],
        "counts": {
            "stores": n_stores,
            "staff": staff_sink.lines,
            "campaigns": len(campaigns),
            "customers": C,
            "prospects": C - buyers,
            "one_time_buyers": one_time,
            "repeat_buyers": buyers - one_time,
            "churned_repeat_buyers": churned,
            "orders": seq,
            "order_items": n_items_total,
            "refunds": refunds_sink.lines,
        },
        "sha256": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if log:
        took = time.perf_counter() - started
        print(f"wrote {out} in {took:.1f}s ({seq / took:,.0f} orders/s)", file=sys.stderr)
    return manifest


def self_check() -> int:
    """Same seed gives the same bytes; another seed does not; every row passes intake's schema."""
    from bot.intake.rows import CampaignIn, CustomerIn, OrderIn, RefundIn, StaffIn, StoreIn

    p = Params(customers=3000, orders=30000, seed=7, end=date(2026, 1, 31))
    with tempfile.TemporaryDirectory() as tmp:
        a = generate(p, Path(tmp) / "a", log=False)
        b = generate(p, Path(tmp) / "b", log=False)
        c = generate(Params(3000, 30000, 8, p.end), Path(tmp) / "c", log=False)
        assert a == b, "same seed, different output"
        assert a["sha256"]["orders.jsonl"] != c["sha256"]["orders.jsonl"], "seed is ignored"  # type: ignore[index]
        ctx = {"tz": TZ}
        root = Path(tmp) / "a"
        with (root / "stores.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                StoreIn.model_validate(row, context=ctx)
        schemas = {
            "staff": StaffIn,
            "campaigns": CampaignIn,
            "customers": CustomerIn,
            "refunds": RefundIn,
        }
        for name, schema in schemas.items():
            for line in (root / f"{name}.jsonl").open(encoding="utf-8"):
                schema.model_validate_json(line, context=ctx)
        phones = {json.loads(x)["phone"] for x in (root / "customers.jsonl").open(encoding="utf-8")}
        assert len(phones) == p.customers, "phone numbers repeat"
        paid: dict[str, int] = {}
        last = None
        latest = datetime(2026, 2, 1, tzinfo=TZ)
        for line in (root / "orders.jsonl").open(encoding="utf-8"):
            o = OrderIn.model_validate_json(line, context=ctx)
            assert o.order_no not in paid, f"{o.order_no} repeats"
            assert sum(i.paid_cents or 0 for i in o.items) == o.paid_cents, o.order_no
            assert last is None or o.ordered_at >= last, "orders are not chronological"
            assert o.ordered_at < latest, "order after --end"
            paid[o.order_no], last = o.paid_cents, o.ordered_at
        assert len(paid) == p.orders
        for line in (root / "refunds.jsonl").open(encoding="utf-8"):
            r = RefundIn.model_validate_json(line, context=ctx)
            assert 0 < r.amount_cents <= paid[r.order_no], r.refund_no
            assert r.refunded_at < latest, "refund after --end"
    print("self-check ok: deterministic, seed-sensitive, every row valid for scrm import")
    print(json.dumps(a["counts"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument(
        "--end", type=date.fromisoformat, default=None, help="last day, YYYY-MM-DD (default today)"
    )
    ap.add_argument("--out", type=Path, default=Path("benchmarks/data/small"))
    ap.add_argument(
        "--self-check", action="store_true", help="check determinism and row validity, then exit"
    )
    args = ap.parse_args(argv)
    if args.self_check:
        return self_check()
    end = args.end or datetime.now(TZ).date()
    generate(Params(args.customers, args.orders, args.seed, end, args.years), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
