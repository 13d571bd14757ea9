"""JSON snapshots of rendered messages.

A missing snapshot fails the test; ``UPDATE_SNAPSHOTS=1`` writes (or rewrites) them. Review
the diff of a rewritten snapshot as you would review code: it is what users will see.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


def check_snapshot(name: str, data: Any) -> None:
    path = HERE / f"{name}.json"
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(
            f"no snapshot {path.name}; run with UPDATE_SNAPSHOTS=1 to create it, then review it"
        )
    assert json.loads(text) == json.loads(path.read_text(encoding="utf-8")), (
        f"rendering differs from {path.name}; if the change is intended, rerun with "
        "UPDATE_SNAPSHOTS=1 and review the diff"
    )
