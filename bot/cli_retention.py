"""``scrm customers export`` and ``scrm model report``: the retention engine's outputs."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select

from bot.cli_common import console, err
from bot.cli_common import database as _database
from bot.cli_common import now_for as _now_for
from bot.cli_common import settings_or_exit as _settings

customers_app = typer.Typer(help="Customer lists.", no_args_is_help=True)
model_app = typer.Typer(help="The purchase and churn model.", no_args_is_help=True)

COLUMNS = (
    "member_no",
    "name",
    "phone",
    "store",
    "guide",
    "stage",
    "churn_probability",
    "expected_purchases",
    "value_at_risk",
    "rfm_segment",
    "task_rank",
)


def audience_filter(name: str) -> tuple[str, str] | None:
    """An audience name as (column, value): a stage or an RFM segment, in English or Chinese.
    Saved audiences do not exist yet; until they do, these are the audiences there are."""
    from bot.lifecycle.rfm import SEGMENTS
    from bot.lifecycle.stages import NAMES, STAGES

    key = name.strip()
    for stage in STAGES:
        zh, en = NAMES[stage]
        if key.lower() in (stage, en.lower()) or key == zh:
            return "stage", stage
    for segment, zh, _ in SEGMENTS:
        if key.lower() == segment.lower() or key == zh:
            return "rfm_segment", segment
    return None


@customers_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="CSV file to write")],
    audience: Annotated[
        str | None, typer.Option(help="A stage (churn_risk, 流失预警…) or an RFM segment")
    ] = None,
    with_phones: Annotated[
        bool, typer.Option("--with-phones", help="Full phone numbers (needs --as an admin)")
    ] = False,
    as_: Annotated[str | None, typer.Option("--as", help="Staff code running the export")] = None,
    today: Annotated[
        str | None, typer.Option(help="Value at risk as of this local date (YYYY-MM-DD)")
    ] = None,
) -> None:
    """One row per customer: stage, churn probability, value at risk, RFM and today's task
    rank. UTF-8 with BOM, so Excel opens it; phones masked unless --with-phones."""
    from bot.services import audit
    from bot.services.finder import mask_phone
    from storage.models import Staff

    where = None
    if audience is not None:
        where = audience_filter(audience)
        if where is None:
            from bot.lifecycle.rfm import SEGMENTS
            from bot.lifecycle.stages import STAGES

            err.print(
                f"[red]No audience called {audience!r}.[/red] Saved audiences are not available "
                f"yet; use a stage ({', '.join(STAGES)}) or an RFM segment "
                f"({', '.join(s for s, _, _ in SEGMENTS)})."
            )
            raise typer.Exit(2)
    settings = _settings()
    db = _database(settings)
    now = _now_for(settings, today)
    with db.uow() as uow:
        s = uow.session
        staff = s.scalar(select(Staff).where(Staff.code == as_)) if as_ else None
        if as_ and staff is None:
            err.print(f"[red]No staff member with code {as_!r}.[/red] See `scrm staff list`.")
            raise typer.Exit(2)
        if with_phones and (staff is None or staff.role != "admin"):
            err.print(
                "[red]Full phone numbers need an admin.[/red] "
                "Run it with --as ADMIN_CODE, or drop --with-phones for masked numbers."
            )
            raise typer.Exit(2)
        with file.open("w", encoding="utf-8-sig", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(COLUMNS)
            n = 0
            for row in _rows(s, where, now):
                phone = row[2] if with_phones else (mask_phone(row[2]) if row[2] else "")
                out.writerow((*row[:2], phone, *row[3:]))
                n += 1
        audit.record(
            s,
            staff_id=staff.id if staff else None,
            channel="cli",
            action="customers.export",
            rows=n,
            audience=audience,
            with_phones=with_phones,
        )
        uow.commit()
    db.dispose()
    console.print(
        f"{n} customers written to {file}" + (f" (audience {audience})" if audience else "")
    )


def _rows(s: Any, where: tuple[str, str] | None, now: Any) -> Any:
    from bot.lifecycle.tasks import SHOWN
    from storage.models import Customer, CustomerIdentity, CustomerStats, Staff, Store, Task

    member = (
        select(CustomerIdentity.customer_id, func.min(CustomerIdentity.value).label("no"))
        .where(CustomerIdentity.kind == "member_no")
        .group_by(CustomerIdentity.customer_id)
        .subquery()
    )
    day = s.scalar(select(func.max(Task.day)).where(Task.status.in_(SHOWN)))
    rank = (
        select(Task.customer_id, func.min(Task.rank).label("rank"))
        .where(Task.day == day, Task.status.in_(SHOWN))
        .group_by(Task.customer_id)
        .subquery()
    )
    q = (
        select(
            member.c.no,
            Customer.name,
            Customer.phone,
            Store.code,
            Staff.code,
            CustomerStats.stage,
            CustomerStats.churn_probability,
            CustomerStats.expected_purchases,
            CustomerStats.spend_cents,
            CustomerStats.refund_cents,
            CustomerStats.first_order_at,
            CustomerStats.rfm_segment,
            rank.c.rank,
        )
        .outerjoin(member, member.c.customer_id == Customer.id)
        .outerjoin(Store, Store.id == Customer.store_id)
        .outerjoin(Staff, Staff.id == Customer.guide_id)
        .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        .outerjoin(rank, rank.c.customer_id == Customer.id)
        .where(Customer.merged_into.is_(None))
        .order_by(Customer.id)
    )
    if where is not None:
        column, value = where
        q = q.where(getattr(CustomerStats, column) == value)
    # Streamed in batches (a server-side cursor on PostgreSQL): a million rows never sit in
    # memory at once. The option is on the statement, so the audit insert after it is plain.
    for r in s.connection().execute(q.execution_options(yield_per=5000)):
        net = max((r.spend_cents or 0) - (r.refund_cents or 0), 0)
        years = max((now - r.first_order_at).days / 365.25, 0.25) if r.first_order_at else 0.25
        yield (
            r[0] or "",
            r.name or "",
            r.phone,
            r[3] or "",
            r[4] or "",
            r.stage or "prospect",
            "" if r.churn_probability is None else f"{r.churn_probability:.4f}",
            "" if r.expected_purchases is None else f"{r.expected_purchases:.4f}",
            f"{int(net / years) / 100:.2f}" if net else "0.00",
            r.rfm_segment or "",
            "" if r.rank is None else r.rank,
        )


@model_app.command("report")
def report() -> None:
    """The latest fit and its backtest on the shop's own history: AUC, calibration, top-K."""
    from bot.lifecycle.recompute import latest_fit

    settings = _settings()
    db = _database(settings)
    with db.session() as s:
        fit = latest_fit(s)
        params = dict(fit.params) if fit else None
        fitted = fit.fitted_at if fit else None
    db.dispose()
    if params is None:
        err.print("[yellow]No model fitted yet.[/yellow] Run `scrm recompute --full --refit`.")
        raise typer.Exit(1)
    console.print(
        f"MBG/NBD fitted {fitted:%Y-%m-%d %H:%M} UTC: r={params['r']:.3f} "
        f"alpha={params['alpha']:.3f} a={params['a']:.3f} b={params['b']:.3f}"
    )
    gap = params.get("second_purchase_days")
    console.print(
        "Median first-to-second purchase interval: "
        + (f"{gap:.0f} days" if gap else "unknown (no repeat buyers)")
    )
    spec = params.get("churn") or {}
    bt = params.get("backtest")
    if not bt or bt.get("skipped"):
        why = bt.get("skipped") if bt else "no backtest stored with this fit"
        console.print(f"Churn probability: the model's own, uncalibrated ({why}).")
        return
    h = spec.get("horizon_days")
    method = {
        "logistic": "logistic regression on RFM-style features (it ranked better in the backtest)",
        "mbgnbd": "MBG/NBD, Platt-calibrated (it ranked at least as well as the regression)",
    }.get(spec.get("method", ""), spec.get("method", "?"))
    console.print(f"Churn probability (no purchase in {h} days) uses: {method}")
    console.print(
        f"Backtest: fitted as of {bt['cutoff'][:10]}, {bt['customers']:,} customers "
        f"({bt['repeat_buyers']:,} repeat buyers); {bt['stayed_away']:.1%} bought nothing in the "
        f"next {h} days; the uncalibrated model said {bt['raw_mean']:.1%}."
    )
    table = Table("score (out of fold)", "AUC", "repeat", "one-time", "PR-AUC")

    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    for name, key in (("MBG/NBD calibrated", "model"), ("logistic regression", "logistic")):
        g = bt[key]
        table.add_row(name, f(g["auc"]), f(g["auc_repeat"]), f(g["auc_one_time"]), f(g["pr_auc"]))
    table.add_row("days since last order", f(bt.get("recency_auc")), "", "", "")
    console.print(table)
    cal = Table("decile", "customers", "predicted", "observed")
    for i, row in enumerate(bt["calibration"], start=1):
        cal.add_row(str(i), f"{row['n']:,}", f"{row['predicted']:.3f}", f"{row['observed']:.3f}")
    console.print(cal)
    top = Table("top K by", "K", "stayed away", "their yearly value")
    for row in bt["top_k"]:
        top.add_row(
            row["by"],
            f"{row['k']:,}",
            f"{row['precision']:.1%}",
            f"{row['value_lost_cents'] / 100:,.2f}",
        )
    console.print(top)
