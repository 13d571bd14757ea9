"""Campaign KPI latency on PostgreSQL against the generated dataset, and the same figures by a
full scan in DuckDB.

    python benchmarks/bench_kpi.py --database-url postgresql://postgres@127.0.0.1:5432/scrm_kpi_bench \
        --data benchmarks/data/full [--reuse] [--requests 200] [--json benchmarks/results.jsonl]

Load (skipped with --reuse when the database already holds the data): schema by the
migrations; stores, staff and campaigns through the real intake; customers, orders and refunds
bulk-copied (DuckDB turns the JSONL into CSV, PostgreSQL COPYs it; order items are left out:
KPIs never read them); coupon orders credited to their campaign as the intake would; the
per-campaign facts built by ``rebuild_campaign``. One campaign then gets 20,000 registrations
and 8,000 done guide tasks, and ``campaigns_changed`` re-credits its orders (window and task
rules), so the funnel and the "touched" probe run on real numbers.

Measure: the ``kpi`` chat command end to end through the dispatcher (actor, unit of work,
report, reply), with the chart and without it, p50/p99 over --requests calls each, on a mix
of campaigns, filters and a manager's scope. Then DuckDB computes the same campaign's figures
(attribution included) by scanning every order and refund, and the two are checked equal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import psycopg
from sqlalchemy import select, text

from benchmarks.common import fresh_database, machine, save
from bot.chat.dispatch import Dispatcher
from bot.chat.types import Channel, IncomingMessage
from bot.commands import REGISTRY
from bot.commands import kpi as kpi_cmd
from bot.commands.base import Command
from bot.intake.batch import run_batch
from bot.intake.files import import_file
from bot.kpi import charts, hooks
from bot.kpi.allocation import rebuild_campaign
from bot.kpi.campaigns import CampaignIndex
from bot.kpi.config import DEFAULT
from bot.kpi.participants import ParticipantIn, write_participants
from bot.kpi.participants import key as participant_key
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Campaign, CampaignCoupon, Order, Refund, Staff, Store

TZ = DEFAULT.tz
FOCUS = "C2025-1111"  # the largest campaign of the full dataset (283k orders)
REGISTRATIONS, TASKS = 20_000, 8_000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _copy(url: str, table: str, columns: list[str], csv_path: Path) -> None:
    with psycopg.connect(_pg(url)) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK triggers for a bulk load
        cols = ", ".join(columns)
        with (
            cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER false)") as copy,
            open(csv_path, "rb") as fh,
        ):
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        conn.commit()


def load(url: str, data: Path, db: Database) -> dict[str, float]:
    took: dict[str, float] = {}
    t0 = time.perf_counter()
    fresh_database(url)
    upgrade(url)
    for kind, name in (
        ("stores", "stores.csv"),
        ("staff", "staff.jsonl"),
        ("campaigns", "campaigns.jsonl"),
    ):
        import_file(db, kind, data / name, tz=TZ)
    with db.session() as s:
        stores = {k: v for k, v in s.execute(select(Store.code, Store.id))}
        staff = {k: v for k, v in s.execute(select(Staff.code, Staff.id))}
        campaigns = {k: v for k, v in s.execute(select(Campaign.code, Campaign.id))}
        coupons = {
            k: v for k, v in s.execute(select(CampaignCoupon.code, CampaignCoupon.campaign_id))
        }
    took["directory_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    con = duckdb.connect()
    for name, mapping in (
        ("stores", stores),
        ("staff", staff),
        ("campaigns", campaigns),
        ("coupons", coupons),
    ):
        con.execute(f"CREATE TABLE {name}(code VARCHAR, id BIGINT)")
        con.executemany(f"INSERT INTO {name} VALUES (?, ?)", list(mapping.items()))
    con.execute(f"""
        CREATE TABLE o AS SELECT *, row_number() OVER (ORDER BY order_no) AS id FROM read_json(
          '{data / "orders.jsonl"}', format='newline_delimited', columns={{
          'order_no':'VARCHAR','member_no':'VARCHAR','store':'VARCHAR','guide':'VARCHAR',
          'campaign':'VARCHAR','coupon_code':'VARCHAR','ordered_at':'TIMESTAMPTZ',
          'paid_cents':'BIGINT','cost_cents':'BIGINT','discount_cents':'BIGINT',
          'items':'STRUCT(quantity INTEGER)[]'}})""")
    con.execute(f"""
        CREATE TABLE r AS SELECT row_number() OVER (ORDER BY refund_no) AS id, * FROM read_json(
          '{data / "refunds.jsonl"}', format='newline_delimited', columns={{
          'refund_no':'VARCHAR','order_no':'VARCHAR','amount_cents':'BIGINT','units':'INTEGER',
          'refunded_at':'TIMESTAMPTZ','reason':'VARCHAR'}})""")
    con.execute(
        """
        COPY (SELECT o.id, o.order_no, CAST(substr(o.member_no, 2) AS BIGINT), s.id, g.id,
                     coalesce(k.id, c.id),
                     CASE WHEN k.id IS NOT NULL THEN 'coupon' WHEN c.id IS NOT NULL THEN 'explicit' END,
                     o.ordered_at, o.paid_cents, o.cost_cents, o.discount_cents,
                     coalesce(f.cents, 0), coalesce(list_sum(list_transform(o.items, lambda i: i.quantity)), 0),
                     o.coupon_code, o.ordered_at
              FROM o LEFT JOIN stores s ON s.code = o.store LEFT JOIN staff g ON g.code = o.guide
              LEFT JOIN campaigns c ON c.code = o.campaign LEFT JOIN coupons k ON k.code = o.coupon_code
              LEFT JOIN (SELECT order_no, sum(amount_cents) cents FROM r GROUP BY 1) f ON f.order_no = o.order_no)
        TO '"""
        + str(tmp / "orders.csv")
        + "' (FORMAT csv, HEADER false)"
    )
    con.execute(
        """
        COPY (SELECT r.id, r.refund_no, o.id, r.amount_cents, r.units, r.reason, r.refunded_at, r.refunded_at
              FROM r JOIN o ON o.order_no = r.order_no) TO '"""
        + str(tmp / "refunds.csv")
        + "' (FORMAT csv, HEADER false)"
    )
    con.execute(f"""
        COPY (SELECT CAST(substr(member_no, 2) AS BIGINT), name, phone, right(phone, 4), s.id, g.id,
                     now(), now()
              FROM read_json('{data / "customers.jsonl"}', format='newline_delimited') c
              LEFT JOIN stores s ON s.code = c.store LEFT JOIN staff g ON g.code = c.guide)
        TO '{tmp / "customers.csv"}' (FORMAT csv, HEADER false)""")
    con.close()
    took["duckdb_transform_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with db.engine.begin() as conn:  # indexes are faster built once than kept up row by row
        dropped = [i for i in Order.__table__.indexes] + [i for i in Refund.__table__.indexes]  # type: ignore[attr-defined]
        for index in dropped:
            conn.execute(text(f"DROP INDEX IF EXISTS {index.name}"))
    _copy(
        url,
        "customers",
        ["id", "name", "phone", "phone_last4", "store_id", "guide_id", "created_at", "updated_at"],
        tmp / "customers.csv",
    )
    _copy(
        url,
        "orders",
        [
            "id",
            "order_no",
            "customer_id",
            "store_id",
            "guide_id",
            "campaign_id",
            "attribution",
            "ordered_at",
            "paid_cents",
            "cost_cents",
            "discount_cents",
            "refunded_cents",
            "units",
            "coupon_code",
            "created_at",
        ],
        tmp / "orders.csv",
    )
    _copy(
        url,
        "refunds",
        [
            "id",
            "refund_no",
            "order_id",
            "amount_cents",
            "units",
            "reason",
            "refunded_at",
            "created_at",
        ],
        tmp / "refunds.csv",
    )
    shutil.rmtree(tmp, ignore_errors=True)  # 1.5 GB of CSV
    with db.engine.begin() as conn:
        for index in dropped:
            index.create(conn)
        for table in ("customers", "orders", "refunds"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            )
        conn.execute(
            text("""
            INSERT INTO customer_stats (customer_id, first_order_at, last_order_at, order_count, purchase_days,
                                        spend_cents, refund_cents, stage, dirty, updated_at)
            SELECT customer_id, min(ordered_at), max(ordered_at), count(*), count(DISTINCT (ordered_at AT TIME ZONE 'UTC')::date),
                   sum(paid_cents), sum(refunded_cents), 'active', false, now() FROM orders GROUP BY customer_id""")
        )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    took["copy_and_index_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with db.uow() as uow:
        index = CampaignIndex.load(uow.session)
        for c in index:
            rebuild_campaign(uow.session, c.id, DEFAULT, index)
        uow.commit()
    took["facts_build_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with db.uow() as uow:
        s = uow.session
        focus = index.get(campaigns[FOCUS])
        assert focus is not None
        # Registrations through the real intake path (identity, participant, facts).
        ids = list(
            s.scalars(
                text(
                    "SELECT id FROM customers WHERE guide_id IS NOT NULL AND id % 41 = 0 "
                    "ORDER BY id LIMIT :n"
                ),
                {"n": REGISTRATIONS},
            )
        )
        at = (focus.starts_at - timedelta(days=3)).isoformat()
        for start in range(0, len(ids), 2000):
            rows = [
                {"campaign": FOCUS, "customer_id": i, "registered_at": at}
                for i in ids[start : start + 2000]
            ]
            run_batch(s, ParticipantIn, rows, write_participants, tz=TZ, key=participant_key)
        span = (focus.ends_at - focus.starts_at).total_seconds()
        s.execute(
            text("""
            INSERT INTO tasks (guide_id, customer_id, day, kind, rank, value_at_risk_cents, suggested_message,
                               status, done_at, created_at)
            SELECT c.guide_id, c.id, (:start + (c.id % 997) / 997.0 * :span * interval '1 second')::date,
                   'campaign', 0, 0, '', 'done', :start + (c.id % 997) / 997.0 * :span * interval '1 second', now()
            FROM campaign_participants p JOIN customers c ON c.id = p.customer_id
            WHERE p.campaign_id = :c AND p.registered_at IS NOT NULL ORDER BY c.id LIMIT :n"""),
            {"c": focus.id, "start": focus.starts_at, "span": span, "n": TASKS},
        )
        hooks.campaigns_changed(s, [focus.id])
        uow.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    took["registrations_and_recredit_s"] = time.perf_counter() - t0
    return took


ADMIN = "BENCH-ADMIN"
QUERIES = [
    (ADMIN, f"kpi {FOCUS}"),
    (ADMIN, "kpi C2026-618"),
    (ADMIN, f"kpi {FOCUS} store:S001"),
    (ADMIN, "kpi C2026-NEWYEAR period:2026-01-05..2026-01-10"),
    (ADMIN, f"kpi {FOCUS} vs C2024-1111"),
    ("E00001", f"活动 {FOCUS}"),  # a store manager: their store only
]


def _dispatcher(db: Database, settings: Settings, *, chart: bool, now: datetime) -> Dispatcher:
    kpi = kpi_cmd.COMMAND
    if not chart:
        kpi = Command(
            kpi.name,
            kpi.zh,
            kpi.doc,
            kpi.parse,
            lambda ctx, a: kpi_cmd.answer(ctx, a, chart=False),
            managers_only=True,
        )
    commands = [c for c in REGISTRY if c.name != "kpi"] + [kpi]
    return Dispatcher(db, settings, commands=commands, clock=lambda: now)


def measure(db: Database, settings: Settings, requests: int, now: datetime) -> dict[str, Any]:
    with db.uow() as uow:
        uow.session.execute(
            text(
                "INSERT INTO staff (code, name, role, locale, active, created_at) "
                "VALUES (:c, 'Bench', 'admin', 'en', true, now()) ON CONFLICT (code) DO NOTHING"
            ),
            {"c": ADMIN},
        )
        uow.commit()
    out: dict[str, Any] = {}
    for key, chart, cold in (
        ("without_chart", False, False),
        ("with_chart_cold", True, True),  # every PNG drawn afresh
        ("with_chart_cached", True, False),  # the PNG cache: same figures, same picture
    ):
        dispatcher = _dispatcher(db, settings, chart=chart, now=now)
        for who, line in QUERIES:  # warm: plans, caches, the font
            reply = dispatcher.handle(IncomingMessage(Channel.CONSOLE, who, line))
            assert reply.kind == "ok", reply.plain()
            assert (reply.chart is not None) == chart
        times, cpu0, load0 = [], time.process_time(), os.getloadavg()[0]
        for i in range(requests):
            who, line = QUERIES[i % len(QUERIES)]
            if cold:
                charts.cache_clear()
            t = time.perf_counter()
            dispatcher.handle(IncomingMessage(Channel.CONSOLE, who, line))
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        out[key] = {
            "requests": requests,
            "p50_ms": round(statistics.median(times), 1),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
            "max_ms": round(times[-1], 1),
            # this process's CPU per request (PostgreSQL's own time is not in it), and how
            # busy the 2-core machine was: other benchmarks share it
            "client_cpu_ms_per_request": round((time.process_time() - cpu0) * 1000 / requests, 1),
            "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
        }
        log(f"kpi reply {key}: {out[key]}")
    return out


DUCK = """
WITH credited AS (
  SELECT o.*, coalesce(k.campaign_id, CASE WHEN o.attribution = 'explicit' THEN o.campaign_id END,
           CASE WHEN EXISTS (SELECT 1 FROM t WHERE t.customer_id = o.customer_id
                             AND o.ordered_at BETWEEN t.done_at AND t.done_at + INTERVAL 14 DAY) THEN $focus END,
           CASE WHEN p.customer_id IS NOT NULL AND o.ordered_at BETWEEN $start AND $end THEN $focus END) AS credit
  FROM orders o LEFT JOIN coupons k ON k.code = o.coupon_code
  LEFT JOIN p ON p.customer_id = o.customer_id),
mine AS (
  SELECT c.*, coalesce(f.n, 0) AS n_refunds, coalesce(f.u, 0) AS r_units, k2.value AS coupon_value
  FROM credited c LEFT JOIN (SELECT order_id, count(*) n, sum(units) u FROM refunds GROUP BY 1) f ON f.order_id = c.id
  LEFT JOIN coupons k2 ON k2.code = c.coupon_code AND k2.campaign_id = $focus
  WHERE c.credit = $focus AND (c.ordered_at AT TIME ZONE 'Asia/Shanghai')::date <= $hi),
firsts AS (SELECT customer_id, min(ordered_at) AS first_ever FROM orders GROUP BY 1),
buyers AS (
  SELECT m.customer_id, min(m.ordered_at) AS first_buy, count(*) AS n, sum(m.n_refunds) AS refunds,
         bool_or(p.customer_id IS NOT NULL) AS targeted
  FROM mine m LEFT JOIN p ON p.customer_id = m.customer_id GROUP BY 1)
SELECT
  (SELECT count(*) FROM mine), (SELECT sum(paid_cents) FROM mine), (SELECT sum(refunded_cents) FROM mine),
  (SELECT sum(units) - sum(r_units) FROM mine),
  (SELECT sum(cost_cents - CASE WHEN paid_cents > 0 AND refunded_cents >= paid_cents THEN cost_cents
                                WHEN units > 0 AND r_units > 0 THEN least(cost_cents, cost_cents * r_units // units)
                                ELSE 0 END) FROM mine),
  (SELECT coalesce(sum(coupon_value), 0) FROM mine),
  (SELECT count(*) FROM buyers), (SELECT count(*) FROM buyers b JOIN firsts f USING (customer_id) WHERE NOT f.first_ever < b.first_buy),
  (SELECT count(*) FROM buyers WHERE n >= 2), (SELECT count(*) FROM buyers WHERE refunds > 0),
  (SELECT count(*) FROM buyers WHERE targeted), (SELECT count(*) FROM buyers WHERE targeted AND n >= 2),
  (SELECT count(*) FROM p),
  (SELECT count(DISTINCT p.customer_id) FROM p JOIN t ON t.customer_id = p.customer_id
   WHERE t.done_at BETWEEN $start AND $end),
  (SELECT list(x ORDER BY x) FROM (SELECT store_id || ':' || (sum(paid_cents) - sum(refunded_cents)) AS x FROM mine GROUP BY store_id))
"""
DUCK_KEYS = [
    "orders",
    "gross_sales",
    "refunds",
    "units",
    "cogs_kept",
    "coupon_cents",
    "buyers",
    "new_buyers",
    "repeat_buyers",
    "refund_buyers",
    "purchased",
    "repurchased",
    "targeted",
    "touched",
    "by_store",
]


def duck_compare(url: str, db: Database, tmp_csv: Path | None, now: datetime) -> dict[str, Any]:
    """The focus campaign's figures by a full scan of orders and refunds in DuckDB."""
    from bot.kpi import config as kpi_config
    from bot.kpi import service

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    with db.session() as s:
        focus = s.scalars(select(Campaign).where(Campaign.code == FOCUS)).one()
    t0 = time.perf_counter()
    # The order table as PostgreSQL has it (COPY out), the way an export would give it.
    with (
        psycopg.connect(_pg(url)) as conn,
        conn.cursor() as cur,
        tempfile.TemporaryDirectory(prefix="kpi-duck-") as tmpdir,
    ):
        scratch = Path(tmpdir)
        for name, sql, types in (
            ("orders", "SELECT id, customer_id, store_id, campaign_id, attribution, ordered_at, "
             "paid_cents, cost_cents, refunded_cents, units, coupon_code FROM orders",
             "id BIGINT, customer_id BIGINT, store_id BIGINT, campaign_id BIGINT, "
             "attribution VARCHAR, ordered_at TIMESTAMPTZ, paid_cents BIGINT, cost_cents BIGINT, "
             "refunded_cents BIGINT, units BIGINT, coupon_code VARCHAR"),
            ("refunds", "SELECT order_id, amount_cents, units FROM refunds",
             "order_id BIGINT, amount_cents BIGINT, units BIGINT"),
            ("coupons", "SELECT code, campaign_id, value_cents AS value FROM campaign_coupons",
             "code VARCHAR, campaign_id BIGINT, value BIGINT"),
            ("p", f"SELECT customer_id FROM campaign_participants WHERE campaign_id = {focus.id} "
             "AND targeted", "customer_id BIGINT"),
            ("t", "SELECT customer_id, done_at FROM tasks WHERE status = 'done'",
             "customer_id BIGINT, done_at TIMESTAMPTZ"),
        ):  # fmt: skip
            path = scratch / f"{name}.csv"
            with (
                open(path, "wb") as fh,
                cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy,
            ):
                for chunk in copy:
                    fh.write(chunk)
            con.execute(f"CREATE TABLE {name} ({types})")
            con.execute(f"COPY {name} FROM '{path}' (FORMAT csv, HEADER false)")
    export_s = time.perf_counter() - t0
    hi = (now.astimezone(TZ).date() - timedelta(days=1)).isoformat()
    params = {"focus": focus.id, "start": focus.starts_at, "end": focus.ends_at, "hi": hi}
    times, row = [], None
    for _ in range(5):
        t = time.perf_counter()
        row = con.execute(
            DUCK.replace("$hi", f"DATE '{hi}'"), {k: v for k, v in params.items() if k != "hi"}
        ).fetchone()
        times.append((time.perf_counter() - t) * 1000)
    assert row is not None
    duck = dict(zip(DUCK_KEYS, row, strict=True))
    duck["by_store"] = sorted(duck["by_store"])
    with db.session() as s:
        r = service.run(
            s,
            service.KpiRequest(FOCUS),
            today=now.astimezone(TZ).date(),
            config=kpi_config.DEFAULT,
            roi_definition="gmv",
            visible=None,
        )
    v, tot = r.current.values, r.current.totals
    ours = {
        "orders": v["orders"],
        "gross_sales": v["gross_sales"],
        "refunds": v["refunds"],
        "units": v["units"],
        "cogs_kept": tot["cost_cents"] - tot["refund_cost_cents"],
        "coupon_cents": tot["coupon_cents"],
        "buyers": v["buyers"],
        "new_buyers": v["new_buyers"],
        "repeat_buyers": tot["repeat_buyers"],
        "refund_buyers": v["refund_buyers"],
        "purchased": v["purchased"],
        "repurchased": v["repurchased"],
        "targeted": v["targeted"],
        "touched": v["touched"],
        "by_store": sorted(
            f"{k}:{g['paid_cents'] - g['refund_cents']}" for k, g in r.current.groups.items()
        ),
    }
    ours_ms = []
    for _ in range(20):
        t = time.perf_counter()
        with db.session() as s:
            service.run(
                s,
                service.KpiRequest(FOCUS),
                today=now.astimezone(TZ).date(),
                config=kpi_config.DEFAULT,
                roi_definition="gmv",
                visible=None,
            )
        ours_ms.append((time.perf_counter() - t) * 1000)
    differ = {k: (ours[k], duck[k]) for k in ours if ours[k] != duck[k] and k != "by_store"}
    if ours["by_store"] != duck["by_store"]:
        differ["by_store"] = ("…", "…")
    duck_p50, ours_p50 = statistics.median(times), statistics.median(ours_ms)
    result = {
        "campaign": FOCUS,
        "agree": not differ,
        "differences": differ,
        "figures": {k: ours[k] for k in ours if k != "by_store"},
        "duckdb_full_scan_p50_ms": round(duck_p50, 1),
        "facts_query_p50_ms": round(ours_p50, 1),
        "ratio_duckdb_over_facts": round(duck_p50 / ours_p50, 1),
        "export_to_duckdb_s": round(export_s, 1),
    }
    log(f"duckdb: {result}")
    return result


def sizes(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {
            t: int(s.scalar(text(f"SELECT count(*) FROM {t}")) or 0)
            for t in (
                "customers",
                "orders",
                "refunds",
                "campaigns",
                "campaign_days",
                "campaign_allocations",
                "campaign_participants",
                "tasks",
            )
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--data", type=Path, default=Path("benchmarks/data/full"))
    ap.add_argument(
        "--reuse", action="store_true", help="keep the loaded database if it has orders"
    )
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("this benchmark is for PostgreSQL")
    db = Database(args.database_url)
    settings = Settings(database_url=args.database_url, _env_file=None)  # type: ignore[call-arg]
    manifest = json.loads((args.data / "manifest.json").read_text())
    now = datetime.combine(
        datetime.fromisoformat(manifest["params"]["end"]).date() + timedelta(days=1),
        datetime.min.time(),
        TZ,
    ).astimezone(UTC) + timedelta(hours=2)
    result: dict[str, Any] = {
        "bench": "kpi",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(args.data),
        "machine": machine(),
    }
    loaded = False
    if args.reuse:
        try:
            loaded = sizes(db)["orders"] > 0
        except Exception:
            loaded = False
    if not loaded:
        log("loading ...")
        db.dispose()
        result["load"] = load(args.database_url, args.data, db := Database(args.database_url))
        log(f"loaded: {result['load']}")
    result["sizes"] = sizes(db)
    log(f"sizes: {result['sizes']}")
    result["kpi_reply"] = measure(db, settings, args.requests, now)
    result["duckdb"] = duck_compare(args.database_url, db, None, now)
    save(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
