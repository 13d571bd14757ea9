"""The KPI chart: a PNG with every Chinese glyph present (matplotlib warns "Glyph … missing
from font(s)" for a box; here that warning fails the test)."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from bot.kpi import charts, fonts, service
from bot.kpi import config as kpi_config
from bot.settings import Settings
from storage.db import Database
from tests.test_kpi_shop import shop_client

# Set SCRM_KPI_CHART_DIR to keep the PNGs and look at them.
OUT = os.environ.get("SCRM_KPI_CHART_DIR")


@pytest.fixture
def shop(settings: Settings, db: Database) -> Iterator[None]:
    with shop_client(settings, db):
        yield


def render(db: Database, code: str, locale: str, **kw: str) -> bytes:
    with db.session() as s:
        report = service.run(
            s,
            service.KpiRequest(code, **kw),
            today=date(2026, 11, 20),
            config=kpi_config.DEFAULT,
            roi_definition="gmv",
            visible=None,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph is a failure, not a log line
        png = charts.render(report, locale, kpi_config.DEFAULT)  # type: ignore[arg-type]
    if OUT:
        Path(OUT).mkdir(parents=True, exist_ok=True)
        Path(OUT, f"{code}-{locale}{'-' + '-'.join(kw.values()) if kw else ''}.png").write_bytes(
            png
        )
    return png


@pytest.mark.parametrize(
    ("code", "locale", "kw"),
    [
        ("D11-2026", "zh", {}),
        ("D11-2026", "en", {}),
        ("D11-2026", "zh", {"store": "SH01"}),
        ("NEW-2026", "zh", {}),
        ("EMPTY", "en", {}),
    ],
)
def test_chart_is_a_png_with_no_missing_glyph(shop, db, code, locale, kw) -> None:  # type: ignore[no-untyped-def]
    png = render(db, code, locale, **kw)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (900, 760)
    # Not blank: a real chart has ink of several colours.
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 50


def test_the_font_is_a_cjk_one_and_the_check_would_catch_a_box() -> None:
    family = fonts.setup()
    assert "CJK" in family or "SC" in family or "Hei" in family, family
    assert fonts.font_path().exists()
    from matplotlib import font_manager

    found = font_manager.findfont(font_manager.FontProperties(family=family))
    assert Path(found) == fonts.font_path()

    # The same text in matplotlib's own font has no Chinese glyphs: the warning fires.
    fig = Figure()
    FigureCanvasAgg(fig)
    fig.text(0.1, 0.5, "双十一 净销售额 ¥", family="DejaVu Sans")
    with pytest.warns(UserWarning, match="missing from font"):
        fig.savefig(io.BytesIO(), format="png")
