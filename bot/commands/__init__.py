"""Chat commands: one module each, listed here explicitly (no discovery by side effect)."""

from __future__ import annotations

from bot.commands import (
    campaigns,
    done,
    find,
    help,
    kpi,
    note,
    profile,
    segment,
    skip,
    snooze,
    tag,
    tasks,
    team,
    untag,
)
from bot.commands.base import Command

REGISTRY: list[Command] = [
    help.COMMAND,
    find.COMMAND,
    profile.COMMAND,
    tag.COMMAND,
    untag.COMMAND,
    note.COMMAND,
    tasks.COMMAND,
    done.COMMAND,
    snooze.COMMAND,
    skip.COMMAND,
    team.COMMAND,
    segment.COMMAND,
    kpi.COMMAND,
    campaigns.COMMAND,
]
