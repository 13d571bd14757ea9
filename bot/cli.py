"""The ``scrm`` command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import select

from bot.cli_common import console, err, redacted
from bot.cli_common import database as _database
from bot.cli_common import now_for as _now_for
from bot.cli_common import settings_or_exit as _settings
from bot.cli_ops import doctor, scheduler_app, slack_app, wecom_app
from bot.cli_retention import customers_app, model_app
from bot.cli_staff import register as register_staff_commands
from bot.cli_tasks import tasks_app

app = typer.Typer(
    help="scrm-assistant: chat-ops SCRM for WeCom, WeChat and Slack.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff (guides, managers, admins).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
register_staff_commands(staff_app)  # link, unlink, deactivate, handover
app.add_typer(tasks_app, name="tasks")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(wecom_app, name="wecom")
app.add_typer(slack_app, name="slack")
app.add_typer(customers_app, name="customers")
app.add_typer(model_app, name="model")
app.command("doctor")(doctor)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Bring the schema to the latest migration (safe to run again)."""
    from storage.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    console.print(f"Database at {revision}: {redacted(settings.database_url)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    migrate: Annotated[bool, typer.Option(help="Run migrations before serving")] = True,
) -> None:
    """Start the web service (API, callbacks, playground) on uvicorn."""
    import uvicorn

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if migrate:
        from storage.migrate import upgrade

        upgrade(settings.database_url)
    uvicorn.run(
        "bot.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level=settings.log_level.lower(),
    )


IMPORT_KINDS = ["orders", "refunds", "customers", "campaigns", "staff", "stores", "participants"]


@app.command("import")
def import_(
    kind: Annotated[
        str, typer.Argument(help="orders, refunds, customers, campaigns, staff or stores")
    ],
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="CSV, .xlsx, JSONL or a JSON array"
        ),
    ],
    chunk: Annotated[int, typer.Option(help="Rows per committed chunk")] = 2000,
    errors: Annotated[Path | None, typer.Option(help="Where to write rejected rows (CSV)")] = None,
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Correct orders and refunds the store has with other contents"
            " (default: report them as conflicts and write nothing)",
        ),
    ] = False,
) -> None:
    """Import a CSV, .xlsx, JSONL or JSON-array file. Safe to re-run: a crashed import
    resumes, nothing doubles, and rows rejected last time are tried again."""
    from bot.intake.files import FileProblem, count_rows, import_file, write_error_report

    if kind not in IMPORT_KINDS:
        err.print(f"[red]Unknown kind {kind!r}.[/red] Use one of: {', '.join(IMPORT_KINDS)}.")
        raise typer.Exit(2)
    settings = _settings()
    db = _database(settings)
    try:
        total = count_rows(file, kind)
        with Progress(
            TextColumn(f"importing {kind}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        ) as bar:
            task = bar.add_task(kind, total=total)
            report = import_file(
                db,
                kind,
                file,
                tz=settings.tz,
                chunk_size=chunk,
                progress=lambda n: bar.advance(task, n),
                update=update,
            )
    except FileProblem as exc:
        err.print(f"[red]{exc}[/red]")
        err.print("Nothing was imported. Fix the file and run the same command again.")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if report.resumed_from and not report.rows:
        console.print(
            f"{file} was imported before ({report.resumed_from} rows); nothing new to do."
        )
    elif report.resumed_from:
        console.print(
            f"Resumed after row {report.resumed_from} (rows before it were imported already)."
        )
    elif report.retried:
        console.print(
            f"{file} was imported before with rows refused; read it again"
            " (rows imported then stay unchanged)."
        )
    parts = [f"{report.created} created", f"{report.updated} updated"]
    parts += [f"{report.merged} merged"] if report.merged else []
    parts += [f"{report.unchanged} unchanged"]
    parts += [f"{report.conflict} conflict"] if report.conflict else []
    console.print(f"{kind}: {', '.join(parts)}, {report.rejected} rejected.")
    if report.conflict:
        console.print(
            f"[yellow]{report.conflict} rows differ from what the store has[/yellow]; nothing"
            " was written for them. Run again with --update to correct the store."
        )
    if report.errors:
        target = errors or file.with_name(file.stem + ".errors.csv")
        write_error_report(report, target)
        console.print(
            f"[yellow]{len(report.errors)} problems written to {target}[/yellow] (line, field, reason)."
        )
        raise typer.Exit(1)


@staff_app.command("add")
def staff_add(
    code: Annotated[str, typer.Argument(help="Staff code (employee number), unique")],
    name: Annotated[str, typer.Argument(help="Display name")],
    role: Annotated[str, typer.Option(help="guide, manager or admin")] = "guide",
    store: Annotated[str | None, typer.Option(help="Store code")] = None,
    wecom: Annotated[str | None, typer.Option(help="WeCom userid")] = None,
    slack: Annotated[str | None, typer.Option(help="Slack user id (U…)")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    locale: Annotated[str, typer.Option(help="zh or en")] = "zh",
) -> None:
    """Add a staff member, or update one with the same code."""
    from bot.intake.kinds import ingest

    settings = _settings()
    db = _database(settings)
    row = {
        "code": code,
        "name": name,
        "role": role,
        "store": store,
        "wecom_userid": wecom,
        "slack_user_id": slack,
        "email": email,
        "locale": locale,
    }
    with db.uow() as uow:
        result = ingest(uow.session, "staff", [row], tz=settings.tz)
        uow.commit()
    outcome = result.results[0]
    if outcome.status == "rejected":
        for e in outcome.errors:
            err.print(f"[red]{e['field']}:[/red] {e['reason']}")
        raise typer.Exit(1)
    console.print(f"Staff {code} ({name}, {role}) {outcome.status}.")


@staff_app.command("list")
def staff_list(role: Annotated[str | None, typer.Option(help="Only this role")] = None) -> None:
    """List staff with their role, store and chat ids."""
    from storage.models import Staff, Store

    settings = _settings()
    db = _database(settings)
    table = Table("code", "name", "role", "store", "wecom", "slack", "locale")
    with db.session() as session:
        q = (
            select(Staff, Store.code)
            .outerjoin(Store, Store.id == Staff.store_id)
            .order_by(Staff.code)
        )
        if role:
            q = q.where(Staff.role == role)
        for member, store in session.execute(q):
            table.add_row(
                member.code,
                member.name,
                member.role,
                store or "",
                member.wecom_userid or "",
                member.slack_user_id or "",
                member.locale,
            )
    console.print(table)


@app.command()
def recompute(
    full: Annotated[
        bool, typer.Option("--full", help="Rescore everyone (RFM ranks over all buyers)")
    ] = False,
    refit: Annotated[bool, typer.Option("--refit", help="Refit the purchase model now")] = False,
    today: Annotated[
        str | None, typer.Option(help="Score as of this local date (YYYY-MM-DD)")
    ] = None,
) -> None:
    """Recompute lifecycle stages, RFM and P(alive). Default: only customers that are due."""
    from bot.lifecycle import recompute as engine

    settings = _settings()
    db = _database(settings)
    now = _now_for(settings, today)
    with Progress(
        TextColumn("scoring customers"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("score", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if full or refit:
            report = engine.full(db, settings, now, refit=refit or None, progress=progress)
        else:
            report = engine.incremental(db, settings, now, progress=progress)
    db.dispose()
    console.print(
        f"{report.mode} run: {report.scored} customers scored"
        + (", model refitted" if report.refitted else "")
    )
    if report.params:
        p = report.params
        console.print(
            f"MBG/NBD r={p['r']:.3f} alpha={p['alpha']:.3f} a={p['a']:.3f} b={p['b']:.3f}; "
            f"population gap {p['population_gap']:.0f} days"
        )
    if report.churn_method:
        console.print(f"churn probability from: {report.churn_method}")
    for change, count in sorted((report.changed or {}).items()):
        console.print(f"  {change}: {count}")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    database: Annotated[
        str, typer.Option(help="Where the demo store lives")
    ] = "sqlite:///./scrm-demo.db",
    customers: Annotated[
        int | None, typer.Option(help="Use only this many CDNOW customers")
    ] = None,
    serve_: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server afterwards")
    ] = True,
    token: Annotated[
        bool,
        typer.Option("--token", help="Print the demo store's REST API token and exit"),
    ] = False,
) -> None:
    """Build the demo store (real CDNOW purchase history) and serve it with the playground.

    The demo has a REST API token of its own, printed here and accepted by the demo server:
    `export TOKEN=$(scrm demo --token)`.
    """
    import os

    from bot.demo import token as demo_token
    from bot.demo.build import build_demo
    from bot.lifecycle import recompute
    from bot.lifecycle.tasks import generate
    from storage.base import utcnow

    if token:  # an existing demo store only: --token builds nothing
        db = _database(_settings().model_copy(update={"database_url": database}))
        typer.echo(demo_token.demo_token(db))
        db.dispose()
        return
    # In the environment, so that the server uvicorn builds below sees them too.
    os.environ["SCRM_DATABASE_URL"] = database
    os.environ["SCRM_DEMO"] = "true"
    settings = _settings()
    db = _database(settings, upgrade=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(f"demo: {step}", total=total)
            bar.update(tasks[step], completed=done, total=total)

        summary = build_demo(db, tz=settings.tz, customers=customers, progress=progress)
        if summary.built:
            scoring = bar.add_task("demo: lifecycle", total=None)
            recompute.full(
                db,
                settings,
                utcnow(),
                refit=True,
                progress=lambda d, t: bar.update(scoring, completed=d, total=t),
            )
    report = generate(db, settings, utcnow().astimezone(settings.tz).date())
    api_token = demo_token.demo_token(db)
    os.environ["SCRM_API_TOKENS"] = demo_token.accept(os.environ.get("SCRM_API_TOKENS"), api_token)
    db.dispose()
    state = "built" if summary.built else "already there"
    console.print(
        f"Demo store {state} ({summary.seconds:.0f} s): {summary.stores} stores, {summary.staff} staff, "
        f"{summary.customers:,} customers, {summary.orders:,} orders (CDNOW, re-dated to end {summary.today}), "
        f"{summary.campaigns} campaigns; "
        + (
            f"{report.created} new tasks today."
            if report.created
            else "today's tasks already generated."
        )
    )
    console.print(
        f"Chat as a guide: [bold]scrm chat --as {summary.guide_code}[/bold]; a manager: {summary.manager_code} "
        f"(English: {summary.en_manager_code}); admin: {summary.admin_code}  (with SCRM_DATABASE_URL={database})"
    )
    # Plain echo: a console may wrap, and a token cut in two cannot be copied.
    typer.echo(f"REST API token of this demo: {api_token}")
    typer.echo(
        "  (the demo server accepts it; `export TOKEN=$(scrm demo --token)` sets it in a shell)"
    )
    if serve_:
        console.print(f"Playground: [bold]http://{host}:{port}/playground[/bold]  (Ctrl-C stops)")
        serve(host=host, port=port, workers=1, migrate=False)


@app.command()
def chat(
    as_: Annotated[str, typer.Option("--as", help="Staff code to talk as")],
    command: Annotated[
        str | None, typer.Option("--command", "-c", help="Send one message, print the reply, exit")
    ] = None,
) -> None:
    """Chat with the bot in the terminal as a staff member (same commands as WeCom and Slack)."""
    from bot.chat.dispatch import Dispatcher
    from integrations.console.repl import ask, render, repl

    settings = _settings()
    db = _database(settings)
    dispatcher = Dispatcher(db, settings)
    try:
        if command is not None:
            reply = ask(dispatcher, as_, command)
            typer.echo(render(reply))
            if reply.kind == "refusal":
                raise typer.Exit(3)
            return
        repl(dispatcher, as_, console)
    finally:
        db.dispose()


def main() -> None:
    app()
