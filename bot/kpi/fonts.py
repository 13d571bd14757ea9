"""The CJK font charts are drawn with.

matplotlib's bundled DejaVu Sans has no Chinese glyphs: every store name and label would be
a box. We ship Noto Sans SC (SIL OFL) through the ``pylopdf-fonts-zh-cn`` wheel, so a plain
``pip install`` is enough on any machine; Debian's fonts-noto-cjk or WenQuanYi are used if
that wheel is missing. The font is registered once, on the first chart, not at import.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

log = logging.getLogger(__name__)

# Debian/Ubuntu paths of CJK fonts, for a machine that lacks the wheel.
SYSTEM_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansSC-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


class FontMissing(RuntimeError):
    pass


def font_path() -> Path:
    try:
        import pylopdf_fonts_zh_cn

        shipped = Path(pylopdf_fonts_zh_cn.sans_path())
        if shipped.exists():
            return shipped
    except ImportError:
        pass
    for candidate in SYSTEM_FONTS:
        if Path(candidate).exists():
            return Path(candidate)
    raise FontMissing(
        "no CJK font for charts: pip install pylopdf-fonts-zh-cn (or apt-get install "
        "fonts-noto-cjk)"
    )


@functools.cache
def setup() -> str:
    """Register the CJK font with matplotlib and make it the default; returns its family.

    rcParams are process-wide: set once here, they are only read afterwards, which is safe
    from the API's worker threads (a per-chart ``rc_context`` would not be).
    """
    from matplotlib import font_manager, rcParams

    path = font_path()
    font_manager.fontManager.addfont(str(path))
    family = font_manager.FontProperties(fname=str(path)).get_name()
    # No fallback font: a fallback chain makes every text half as slow again, and the glyph
    # test (tests/test_kpi_chart.py) proves the CJK font has every character we draw.
    rcParams["font.family"] = "sans-serif"
    rcParams["font.sans-serif"] = [family]
    rcParams["axes.unicode_minus"] = False  # an ASCII hyphen: present in every font
    # Hinting buys nothing visible for CJK at chart sizes and costs a fifth of a render.
    rcParams["text.hinting"] = "no_hinting"
    log.info("charts use %s from %s", family, path)
    return family
