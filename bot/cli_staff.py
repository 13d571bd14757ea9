"""``scrm staff link|unlink|deactivate|handover``: chat-id links and offboarding.

``staff add`` and ``staff list`` live in ``bot/cli.py``; these four change who may act as
whom, so each one is audited (``bot/services/offboarding.py``, docs/security.md).
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli_common import console, err
from bot.cli_common import database as _database
from bot.cli_common import settings_or_exit as _settings

CHANNELS = ("slack", "wecom")


def _fail(exc: Exception) -> None:
    err.print(f"[red]{exc}[/red]")
    raise typer.Exit(1) from exc


def register(staff_app: typer.Typer) -> None:
    staff_app.command("link")(staff_link)
    staff_app.command("unlink")(staff_unlink)
    staff_app.command("deactivate")(staff_deactivate)
    staff_app.command("handover")(staff_handover)


def staff_link(
    code: Annotated[str, typer.Argument(help="Staff code")],
    channel: Annotated[str, typer.Argument(help="slack or wecom")],
    user_id: Annotated[str, typer.Argument(help="The Slack user id (U…) or WeCom userid")],
) -> None:
    """Link a staff member to a chat account (the only way an admin gets linked)."""
    from bot.services import offboarding

    _channel(channel)
    db = _database(_settings())
    with db.uow() as uow:
        try:
            offboarding.link(uow.session, code, channel, user_id, channel="cli")
        except offboarding.Refused as exc:
            _fail(exc)
        uow.commit()
    console.print(f"Staff {code} linked to {channel} user {user_id}.")


def staff_unlink(
    code: Annotated[str, typer.Argument(help="Staff code")],
    channel: Annotated[str, typer.Argument(help="slack or wecom")],
) -> None:
    """Remove a staff member's chat account link; they are refused there until linked again."""
    from bot.services import offboarding

    _channel(channel)
    db = _database(_settings())
    with db.uow() as uow:
        try:
            old = offboarding.unlink(uow.session, code, channel, channel="cli")
        except offboarding.Refused as exc:
            _fail(exc)
        uow.commit()
    if old is None:
        console.print(f"Staff {code} had no {channel} link; nothing changed.")
    else:
        console.print(f"Staff {code} unlinked from {channel} user {old}.")


def staff_deactivate(code: Annotated[str, typer.Argument(help="Staff code")]) -> None:
    """Deactivate a staff member: refused on every channel; their history stays."""
    from bot.services import offboarding

    db = _database(_settings())
    with db.uow() as uow:
        try:
            out = offboarding.deactivate(uow.session, code, channel="cli")
        except offboarding.Refused as exc:
            _fail(exc)
        uow.commit()
    state = "deactivated" if out["changed"] else "was already inactive"
    console.print(f"Staff {code} {state}.")
    if out["has_customers"]:
        console.print(f"They still follow customers: run `scrm staff handover {code} TO`.")


def staff_handover(
    from_code: Annotated[str, typer.Argument(metavar="FROM", help="Staff code handing over")],
    to_code: Annotated[str, typer.Argument(metavar="TO", help="Staff code taking over")],
    customers: Annotated[
        str, typer.Option(help="all, or customer ids separated by commas")
    ] = "all",
) -> None:
    """Move FROM's customers and open tasks to TO (WeCom contacts via WeCom's transfer)."""
    from bot.services import offboarding

    ids: list[int] | None = None
    if customers.strip().lower() != "all":
        try:
            ids = [int(x) for x in customers.split(",") if x.strip()]
        except ValueError as exc:
            err.print(f"[red]--customers takes 'all' or ids like 12,15 (got {customers!r}).[/red]")
            raise typer.Exit(2) from exc
    db = _database(_settings())
    with db.uow() as uow:
        try:
            out = offboarding.handover(uow.session, from_code, to_code, ids, channel="cli")
        except offboarding.Refused as exc:
            _fail(exc)
        uow.commit()
    console.print(
        f"Handed over {len(out.moved)} customer(s) and {out.tasks} open task(s)"
        f" from {from_code} to {to_code}."
    )
    if out.wecom:
        console.print(
            f"{len(out.wecom)} WeCom contact(s) go through WeCom's customer transfer; they move"
            " once WeCom reports them taken over, and the manager is told the outcome."
        )


def _channel(channel: str) -> None:
    if channel not in CHANNELS:
        err.print(f"[red]channel is slack or wecom (got {channel!r}).[/red]")
        raise typer.Exit(2)
