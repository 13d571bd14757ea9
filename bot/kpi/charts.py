"""One PNG per KPI report: net sales by day against the baseline, the funnel, and net sales
by store (or guide), labelled in the reader's language.

Drawn with matplotlib on an Agg canvas, through its object API (no pyplot: no global figure
state, safe in the API's worker threads). Everything is a figure-level artist placed in
figure coordinates: Axes and their ticks would be most of a render's time (an Axes builds tick
objects and measures their labels even when hidden), and a chat reply has 300 ms for its
picture. Fonts: ``fonts.setup``.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from bot.chat.types import Chart, Locale
from bot.kpi import definitions, fonts, format, view
from bot.kpi.config import KpiConfig
from bot.kpi.definitions import Unit
from bot.kpi.engine import Report, change
from bot.kpi.format import compact_money

BLUE, GREY, INK, MUTED = "#2563EB", "#9CA3AF", "#111827", "#6B7280"
UP, DOWN = "#047857", "#B91C1C"
GROUP_BARS = 6  # every label costs a millisecond or two to draw
FUNNEL_COLORS = ("#1E3A8A", "#2563EB", "#60A5FA", "#BFDBFE")
GRID = "#E5E7EB"

STEPS = {
    "zh": ("目标客户", "已触达", "已购买", "已复购"),
    "en": ("Targeted", "Touched", "Purchased", "Repurchased"),
}
TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "daily": "每日净销售额",
        "current": "本期",
        "funnel": "目标客户漏斗",
        "no_target": "本活动没有目标客户",
        "store": "各门店净销售额",
        "guide": "各导购净销售额",
        "none": "（无）",
        "empty": "暂无销售",
        "of_target": "占目标",
    },
    "en": {
        "daily": "Net sales by day",
        "current": "This campaign",
        "funnel": "Targeted customers funnel",
        "no_target": "No targeted customers",
        "store": "Net sales by store",
        "guide": "Net sales by guide",
        "none": "(none)",
        "empty": "No sales yet",
        "of_target": "of targeted",
    },
}


@dataclass(frozen=True)
class Box:
    """A plotting area in figure coordinates (0..1 both ways, origin bottom left)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def x(self, u: float) -> float:
        return self.x0 + u * (self.x1 - self.x0)

    def y(self, v: float) -> float:
        return self.y0 + v * (self.y1 - self.y0)


DAILY = Box(0.10, 0.46, 0.97, 0.69)
FUNNEL = Box(0.14, 0.04, 0.45, 0.35)
GROUPS = Box(0.66, 0.04, 0.97, 0.35)


def _text(
    fig: Figure, x: float, y: float, s: str, size: float, color: str = INK, **kw: str
) -> None:
    fig.text(x, y, s, fontsize=size, color=color, **kw)  # type: ignore[arg-type]


def _rects(
    fig: Figure, boxes: list[tuple[float, float, float, float]], colors: Sequence[str]
) -> None:
    """Rectangles (x0, y0, x1, y1) as one collection: one artist however many bars."""
    polys = [[(a, b), (c, b), (c, d), (a, d)] for a, b, c, d in boxes]
    fig.add_artist(
        PolyCollection(polys, facecolors=list(colors), linewidths=0, transform=fig.transFigure)
    )


def _empty(fig: Figure, box: Box, message: str) -> None:
    _text(fig, box.x(0.5), box.y(0.5), message, 10, MUTED, ha="center", va="center")


def _daily(fig: Figure, report: Report, locale: Locale, config: KpiConfig) -> None:
    t, box = TEXT[locale], DAILY
    rows = view.daily_rows(report, config)
    _text(fig, box.x0 - 0.06, box.y1 + 0.03, t["daily"], 11.5)
    cur = [float(r["net_sales"]) for r in rows]
    prev = [float(r["previous_net_sales"] or 0) for r in rows] if report.previous else []
    if not any(cur + prev):
        _empty(fig, box, t["empty"])
        return
    top = max(cur + prev)
    ticks = [float(v) for v in MaxNLocator(4).tick_values(min(0.0, *cur, *prev), top)]
    if ticks[-1] < top:  # the locator may stop one step short of the tallest bar
        ticks.append(ticks[-1] + (ticks[-1] - ticks[-2]))
    lo, hi = ticks[0], ticks[-1]

    def fy(v: float) -> float:
        return box.y((v - lo) / (hi - lo))

    grid = [[(box.x0, fy(v)), (box.x1, fy(v))] for v in ticks]
    fig.add_artist(LineCollection(grid, colors=GRID, linewidths=0.8, transform=fig.transFigure))
    for v in ticks:
        _text(
            fig,
            box.x0 - 0.008,
            fy(v),
            compact_money(v, locale),
            8.5,
            MUTED,
            ha="right",
            va="center",
        )
    slot = (box.x1 - box.x0) / len(rows)
    centres = [box.x0 + slot * (i + 0.5) for i in range(len(rows))]
    half = slot * 0.35
    _rects(
        fig, [(c - half, fy(0), c + half, fy(v)) for c, v in zip(centres, cur, strict=True)], [BLUE]
    )
    step = max(1, -(-len(rows) // 9))  # at most 9 dates under the bars
    for i in range(0, len(rows), step):
        day = date.fromisoformat(rows[i]["day"]).strftime("%m-%d")
        _text(fig, centres[i], box.y0 - 0.012, day, 8.5, MUTED, ha="center", va="top")
    # legend, on the title's line
    ly = box.y1 + 0.038
    _rects(fig, [(0.60, ly - 0.006, 0.615, ly + 0.006)], [BLUE])
    _text(fig, 0.62, ly, t["current"], 8.5, va="center")
    if report.previous is not None:
        fig.add_artist(
            Line2D(
                centres,
                [fy(v) for v in prev],
                color=GREY,
                linewidth=1.8,
                marker="o",
                markersize=3.5,
                transform=fig.transFigure,
            )
        )
        base = report.baseline
        label = report.previous.campaign.name if base and base.kind == "campaign" else None
        fig.add_artist(
            Line2D(
                [0.735, 0.765],
                [ly, ly],
                color=GREY,
                linewidth=1.8,
                marker="o",
                markersize=3.5,
                markevery=[1],
                transform=fig.transFigure,
            )
        )
        _text(
            fig,
            0.772,
            ly,
            _short(label or {"zh": "前一段时间", "en": "Days before"}[locale], 18),
            8.5,
            va="center",
        )


def _hbars(
    fig: Figure,
    box: Box,
    names: list[str],
    values: list[int],
    colors: Sequence[str],
    labels: list[str],
    slots: int,
) -> None:
    """Horizontal bars, largest first from the top, names on the left, labels at the ends."""
    row = (box.y1 - box.y0) / slots
    top = max(max(values), 1)
    width = (box.x1 - box.x0) / 1.4
    boxes, ys = [], []
    for i, n in enumerate(values):
        y = box.y1 - row * (i + 0.5)
        ys.append(y)
        boxes.append((box.x0, y - row * 0.31, box.x0 + width * max(n, 0) / top, y + row * 0.31))
    _rects(fig, boxes, colors)
    for (_, _, x_end, _), y, name, label in zip(boxes, ys, names, labels, strict=True):
        _text(fig, box.x0 - 0.01, y, name, 9, ha="right", va="center")
        _text(fig, x_end + 0.008, y, label, 8.5, va="center")


def _funnel(fig: Figure, report: Report, locale: Locale) -> None:
    t, box = TEXT[locale], FUNNEL
    _text(fig, box.x0 - 0.10, box.y1 + 0.03, t["funnel"], 11.5)
    v = report.current.values
    counts = [int(v[k] or 0) for k in ("targeted", "touched", "purchased", "repurchased")]
    if not counts[0]:
        _empty(fig, box, t["no_target"])
        return
    labels = [
        f"{n:,}" if i == 0 else f"{n:,}  ·  {n / counts[0]:.0%}" for i, n in enumerate(counts)
    ]
    _hbars(fig, box, list(STEPS[locale]), counts, FUNNEL_COLORS, labels, 4)


def _groups(fig: Figure, report: Report, locale: Locale) -> None:
    t, box = TEXT[locale], GROUPS
    _text(fig, box.x0 - 0.10, box.y1 + 0.03, t[report.dim], 11.5)
    rows = view.group_rows(report.current, report.names, report.dim)[:GROUP_BARS]
    rows = [r for r in rows if r["gross_sales"]]
    if not rows:
        _empty(fig, box, t["empty"])
        return
    net = [int(r["net_sales"] or 0) for r in rows]
    names = [_short(r["name"] or t["none"]) for r in rows]
    labels = [compact_money(n, locale) for n in net]
    _hbars(fig, box, names, net, [BLUE] * len(rows), labels, max(len(rows), 5))


def _short(name: str, width: int = 9) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


TILES: tuple[tuple[str, Unit], ...] = (
    ("net_sales", "money"),
    ("buyers", "count"),
    ("aov", "money"),
    ("roi", "multiple"),
)


def _tiles(fig: Figure, report: Report, locale: Locale, roi_definition: str) -> None:
    """The headline figures with their change, across the top."""
    labels = {k.key: k.label(locale) for k in definitions.catalogue(roi_definition)}
    prev = report.previous.values if report.previous else None
    for i, (key, unit) in enumerate(TILES):
        x = 0.02 + i * 0.245
        value = report.current.values.get(key)
        _text(fig, x, 0.865, labels[key], 9, MUTED)
        shown = (
            compact_money(value, locale)
            if unit == "money" and value is not None
            else format.value(value, unit)
        )
        _text(fig, x, 0.82, shown, 17)
        before = prev.get(key) if prev else None
        diff, pct = change(value, before)
        if diff is None:
            note, colour = {"zh": "无对比", "en": "no comparison"}[locale], MUTED
        else:
            if pct is not None and abs(pct) < 0.0005:
                diff = 0  # "▼ -0.0%" would be noise
            arrow = "▲" if diff > 0 else "▼" if diff < 0 else "■"
            if pct is None:
                note = f"{arrow} {format.delta(value, before, unit)}"
            else:
                note = f"{arrow} {pct:+.1%}" if diff else f"{arrow} ±0.0%"
            colour = UP if diff > 0 else DOWN if diff < 0 else MUTED
        _text(fig, x, 0.792, note, 8.5, colour)


def render(report: Report, locale: Locale, config: KpiConfig, roi_definition: str = "gmv") -> bytes:
    fonts.setup()
    fig = Figure(figsize=(9, 7.6), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    c, days = report.campaign, report.current.days
    start, end = config.day(c.starts_at), config.day(c.ends_at)
    _text(fig, 0.02, 0.955, f"{c.name}（{c.code}）", 15)
    span = f"{days.lo or start} – {days.hi}"
    sub = (
        f"活动 {start} 至 {end} · 统计 {span}（完整的天）"
        if locale == "zh"
        else f"Campaign {start} – {end} · figures {span} (complete days)"
    )
    if report.scope:
        sub += " · " + " · ".join(report.scope)
    _text(fig, 0.02, 0.925, sub, 9, MUTED)
    _tiles(fig, report, locale, roi_definition)
    _daily(fig, report, locale, config)
    _funnel(fig, report, locale)
    _groups(fig, report, locale)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", pil_kwargs={"compress_level": 3})  # 6 is slower, not smaller
    return buf.getvalue()


# Same figures, same picture: a finished campaign is asked about again and again, and its PNG
# only changes when a late order or refund changes a number it shows. Per process, bounded.
CACHE_SIZE = 64
_cache: OrderedDict[str, bytes] = OrderedDict()
_lock = threading.Lock()


def _key(report: Report, locale: Locale, config: KpiConfig, roi_definition: str) -> str:
    """Everything ``render`` draws, as a digest."""
    prev = report.previous
    doc = {
        "v": 2,
        "locale": locale,
        "roi": roi_definition,
        "campaign": (report.campaign.code, report.campaign.name, report.campaign.starts_at,
                     report.campaign.ends_at),
        "days": (report.current.days.lo, report.current.days.hi),
        "values": report.current.values,
        "previous": (prev.campaign.name, prev.values) if prev else None,
        "baseline": report.baseline.kind if report.baseline else None,
        "daily": view.daily_rows(report, config),
        "groups": view.group_rows(report.current, report.names, report.dim)[:GROUP_BARS],
        "dim": report.dim,
        "scope": report.scope,
    }  # fmt: skip
    raw = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()


def png(report: Report, locale: Locale, config: KpiConfig, roi_definition: str) -> bytes:
    key = _key(report, locale, config, roi_definition)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    image = render(report, locale, config, roi_definition)
    with _lock:
        _cache[key] = image
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return image


def cache_clear() -> None:
    with _lock:
        _cache.clear()


def chart(report: Report, locale: Locale, config: KpiConfig, roi_definition: str) -> Chart:
    c = report.campaign
    v = report.current.values
    alt = (
        f"{c.name}：净销售额 {compact_money(int(v['net_sales'] or 0), locale)}，按日、漏斗和门店"
        if locale == "zh"
        else f"{c.name}: net sales {compact_money(int(v['net_sales'] or 0), locale)}, "
        "by day, funnel and stores"
    )
    return Chart(png=png(report, locale, config, roi_definition), alt=alt, title=c.name)
