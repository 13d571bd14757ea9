"""``SCRM_TEST_FREEZE`` (see conftest) really moves the session's clock, the product's
``utcnow`` included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.base import utcnow
from tests.conftest import FREEZE


@pytest.mark.skipif(not FREEZE, reason="only in the frozen passes of .ci/run")
def test_the_session_runs_on_the_frozen_ticking_clock() -> None:
    start = datetime.fromisoformat(FREEZE.replace("Z", "+00:00"))
    now = utcnow()
    assert start <= now < start + timedelta(hours=2)  # ticking since the session began
    assert datetime.now(UTC) - now < timedelta(seconds=5)
