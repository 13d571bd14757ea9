"""The demo store behind ``scrm demo``: CDNOW's real purchase history on a made-up brand."""

from bot.demo.build import DemoBuildError, DemoSummary, build_demo
from bot.demo.cdnow import CdnowUnavailable, Columns, Transaction, load_cdnow, load_cdnow_columns

__all__ = [
    "CdnowUnavailable",
    "Columns",
    "DemoBuildError",
    "DemoSummary",
    "Transaction",
    "build_demo",
    "load_cdnow",
    "load_cdnow_columns",
]
