"""Small server-side SVG bar charts (one bar per day, series stacked), accessible and with no JavaScript."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Geometry of the drawing, in SVG user units. The SVG scales to its container (at most WIDTH wide, see
# app.css), so these are pixels on a desktop and about two thirds of that at phone width.
WIDTH = 480
PLOT_HEIGHT = 150
MARGIN_LEFT = 36  # room for the y-axis numbers
MARGIN_RIGHT = 4
MARGIN_TOP = 10
DATE_LABEL_GAP = 20  # from the x-axis to the baseline of the date labels
LEGEND_GAP = 26  # from the date labels to the first legend line
LEGEND_LINE = 22  # between legend lines
FONT_SIZE = 15
LEGEND_CHAR_WIDTH = 8  # average width of one character at FONT_SIZE, to lay the legend out
LEGEND_SWATCH = 12
BAR_FILL = 0.7  # share of each day's slot the bar covers; the rest is the gap between bars
LABEL_EVERY = 7  # a date under every 7th bar, counted back from the last day (which is always labelled)
AXIS_COLOR = "#5b6675"
GRID_COLOR = "#d8dde4"
TEXT_COLOR = "#1d2430"


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[int]  # one per day
    color: str


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... at least `value` (and at least 1): a readable axis top."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _n(x: float) -> str:
    """A coordinate with at most one decimal and no trailing zero."""
    return f"{round(x, 1):g}"


def day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def bar_chart_svg(*, chart_id: str, title: str, desc: str, days: Sequence[date],
                  series: Sequence[Series]) -> SafeString:
    """Stacked daily bars with a y-axis (0, middle, top), dates under every 7th day and a legend.

    `title` and `desc` become the SVG's accessible name and description; each bar segment carries a
    tooltip ("Nov 3: 4 posted"). Pure: the same data gives the same markup.
    """
    for s in series:
        if len(s.values) != len(days):
            raise ValueError(f"series {s.label!r} has {len(s.values)} values for {len(days)} days")
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    bottom = MARGIN_TOP + PLOT_HEIGHT
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    top = nice_ceiling(max(totals, default=0))
    ticks = sorted({0, top} | ({top // 2} if top >= 2 and top % 2 == 0 else set()))
    legend = _legend_layout(series, first_baseline=bottom + DATE_LABEL_GAP + LEGEND_GAP)
    height = (legend[-1][2] if legend else bottom + DATE_LABEL_GAP) + 8

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_n(height)}" class="chart" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    for tick in ticks:
        y = bottom - tick / top * PLOT_HEIGHT
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{_n(y)}" x2="{WIDTH - MARGIN_RIGHT}" y2="{_n(y)}" '
                     f'stroke="{GRID_COLOR}" stroke-width="1"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{_n(y + 5)}" text-anchor="end" font-size="{FONT_SIZE}" '
                     f'fill="{AXIS_COLOR}">{tick}</text>')
    slot = plot_w / len(days) if days else plot_w
    bar_w = slot * BAR_FILL
    last = len(days) - 1
    for i, day in enumerate(days):
        x = MARGIN_LEFT + i * slot + (slot - bar_w) / 2
        y = bottom
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = value / top * PLOT_HEIGHT
            y -= h
            parts.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(bar_w)}" height="{_n(h)}" fill="{s.color}">'
                         f'<title>{escape(day_label(day))}: {value} {escape(s.label.lower())}</title></rect>')
        if (last - i) % LABEL_EVERY == 0:
            # The last day's label ends at its bar so it stays inside the drawing; the others are centred.
            anchor, label_x = ("end", x + bar_w) if i == last else ("middle", x + bar_w / 2)
            parts.append(f'<text x="{_n(label_x)}" y="{bottom + DATE_LABEL_GAP}" text-anchor="{anchor}" '
                         f'font-size="{FONT_SIZE}" fill="{AXIS_COLOR}">{escape(day_label(day))}</text>')
    parts.append(f'<line x1="{MARGIN_LEFT}" y1="{bottom}" x2="{WIDTH - MARGIN_RIGHT}" y2="{bottom}" '
                 f'stroke="{AXIS_COLOR}" stroke-width="1"/>')
    for s, x, baseline, text in legend:
        parts.append(f'<rect x="{_n(x)}" y="{_n(baseline - LEGEND_SWATCH + 1)}" width="{LEGEND_SWATCH}" '
                     f'height="{LEGEND_SWATCH}" fill="{s.color}"/>')
        parts.append(f'<text x="{_n(x + LEGEND_SWATCH + 5)}" y="{_n(baseline)}" font-size="{FONT_SIZE}" '
                     f'fill="{TEXT_COLOR}">{escape(text)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text piece above is escaped


def _legend_layout(series: Sequence[Series], *, first_baseline: float) -> list[tuple[Series, float, float, str]]:
    """(series, x, baseline, text) per legend entry, wrapping to a new line when one would not fit."""
    out = []
    x, baseline = float(MARGIN_LEFT), float(first_baseline)
    for s in series:
        text = f"{s.label} ({sum(s.values)})"
        width = LEGEND_SWATCH + 5 + LEGEND_CHAR_WIDTH * len(text)
        if out and x + width > WIDTH - MARGIN_RIGHT:
            x, baseline = float(MARGIN_LEFT), baseline + LEGEND_LINE
        out.append((s, x, baseline, text))
        x += width + 16
    return out


def table_rows(*, days: Sequence[date], series: Sequence[Series]) -> list[tuple[str, list[int]]]:
    """The same data as rows (newest day first) for the table shown beside the chart."""
    return [(day_label(day), [s.values[i] for s in series]) for i, day in reversed(list(enumerate(days)))]
