"""Bar charts as inline SVG, drawn on the server (the statistics page).

No script and no style attribute: the pages' Content-Security-Policy stays as strict as it
is, and the chart is there before any script runs.  Colours come from the page's stylesheet
(classes ``chart-bar series-<name>``).  Each bar carries a ``<title>`` (its day and value,
shown on hover and read by screen readers); the page puts a table of the same figures
beside the chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 220
LEFT = 44  # room for the values of the scale
RIGHT = 8
TOP = 10
BOTTOM = 26  # room for the days
#: The widest a day's bars get, however few the days.
MAX_GROUP_WIDTH = 48
#: Days named under the axis, at most.
MAX_DAY_LABELS = 8


@dataclass(frozen=True)
class Series:
    #: A stable name, for the stylesheet (``series-<name>``) and tests.
    name: str
    label: str
    values: Sequence[int]


@dataclass(frozen=True)
class Scale:
    """The vertical axis: from 0 to ``top`` in steps of ``step`` (1, 2 or 5 times a power
    of ten, never less than 1: counts are whole)."""

    top: int
    step: int

    @property
    def ticks(self) -> list[int]:
        return list(range(0, self.top + 1, self.step))


def scale_for(maximum: int, *, steps: int = 4) -> Scale:
    """A scale showing ``maximum`` with about ``steps`` round steps; 0 to 1 for no data."""
    if maximum <= 0:
        return Scale(top=1, step=1)
    raw = maximum / steps
    magnitude = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return Scale(top=step * math.ceil(maximum / step), step=step)


def _n(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    day_labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
) -> SafeString:
    """One group of bars per day, its series side by side (or ``stacked``)."""
    days = len(day_labels)
    if days == 0:
        raise ValueError("a chart needs at least one day")
    for one in series:
        if len(one.values) != days:
            raise ValueError(f"series {one.name} has {len(one.values)} values for {days} days")
        if any(value < 0 for value in one.values):
            raise ValueError(f"series {one.name} has a negative value")
    heights = (
        [sum(one.values[index] for one in series) for index in range(days)]
        if stacked
        else [max((one.values[index] for one in series), default=0) for index in range(days)]
    )
    scale = scale_for(max(heights, default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_height
    slot = plot_width / days
    group = min(slot * 0.8, MAX_GROUP_WIDTH)

    def y(value: float) -> float:
        return bottom - value / scale.top * plot_height

    parts: list[str] = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{}" viewBox="0 0 {} {}" '
            'role="img" aria-labelledby="{}-title {}-desc" data-scale-top="{}">'
            '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>',
            chart_id,
            WIDTH,
            HEIGHT,
            chart_id,
            chart_id,
            scale.top,
            chart_id,
            title,
            chart_id,
            description,
        ),
        '<g class="chart-scale">',
    ]
    for tick in scale.ticks:
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{_n(y(tick))}" y2="{_n(y(tick))}"/>'
            f'<text class="chart-tick" x="{LEFT - 6}" y="{_n(y(tick) + 4)}" '
            f'text-anchor="end">{tick}</text>'
        )
    parts.append('</g><g class="chart-bars">')
    for index, label in enumerate(day_labels):
        left = LEFT + slot * index + (slot - group) / 2
        base = 0
        for position, one in enumerate(series):
            value = one.values[index]
            if stacked:
                x, width, start = left, group, base
                base += value
            else:
                width = group / len(series)
                x, start = left + width * position, 0
            if value == 0:
                continue  # nothing to draw; the table says 0
            top = y(start + value)
            parts.append(
                format_html(
                    '<rect class="chart-bar series-{}" x="{}" y="{}" width="{}" height="{}" '
                    'data-value="{}"><title>{} · {}: {}</title></rect>',
                    one.name,
                    _n(x),
                    _n(top),
                    _n(width),
                    _n(y(start) - top),
                    value,
                    label,
                    one.label,
                    value,
                )
            )
    parts.append('</g><g class="chart-days">')
    every = math.ceil(days / MAX_DAY_LABELS)
    for index in range(days - 1, -1, -every):  # from the last day: today is always named
        center = LEFT + slot * index + slot / 2
        parts.append(
            f'<text class="chart-day" x="{_n(center)}" y="{HEIGHT - 8}" '
            f'text-anchor="middle">{escape(day_labels[index])}</text>'
        )
    parts.append(
        f'</g><line class="chart-axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{_n(bottom)}" y2="{_n(bottom)}"/></svg>'
    )
    return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)
