"""The statistics page's SVG bar charts (evim.gateway.charts): scales, zero data, one day,
stacked and side-by-side bars, escaping."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree

import pytest

from evim.gateway.charts import (
    BOTTOM,
    HEIGHT,
    LEFT,
    MAX_GROUP_WIDTH,
    RIGHT,
    TOP,
    WIDTH,
    Scale,
    Series,
    bar_chart,
    scale_for,
)

SVG = "{http://www.w3.org/2000/svg}"
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
PLOT_BOTTOM = HEIGHT - BOTTOM


def chart(labels: list[str], *series: Series, stacked: bool = False) -> ElementTree.Element:
    svg = bar_chart(
        chart_id="chart-test",
        title="Messages",
        description="Messages each day",
        day_labels=labels,
        series=series,
        stacked=stacked,
    )
    return ElementTree.fromstring(str(svg))


@dataclass(frozen=True)
class Bar:
    css_class: str
    x: float
    y: float
    width: float
    height: float
    title: str


def bars(svg: ElementTree.Element) -> list[Bar]:
    return [
        Bar(
            rect.get("class", ""),
            float(rect.get("x", "nan")),
            float(rect.get("y", "nan")),
            float(rect.get("width", "nan")),
            float(rect.get("height", "nan")),
            rect.findtext(f"{SVG}title") or "",
        )
        for rect in svg.iter(f"{SVG}rect")
    ]


def texts(svg: ElementTree.Element, css_class: str) -> list[str]:
    return [text.text or "" for text in svg.iter(f"{SVG}text") if text.get("class") == css_class]


@pytest.mark.parametrize(
    ("maximum", "scale"),
    [
        (0, Scale(1, 1)),
        (1, Scale(1, 1)),
        (3, Scale(3, 1)),
        (4, Scale(4, 1)),
        (7, Scale(8, 2)),
        (12, Scale(15, 5)),
        (40, Scale(40, 10)),
        (100, Scale(100, 50)),
        (1234, Scale(1500, 500)),
    ],
)
def test_scales_are_round_and_hold_the_largest_value(maximum: int, scale: Scale) -> None:
    assert scale_for(maximum) == scale
    assert scale.top >= maximum
    assert scale.ticks[0] == 0 and scale.ticks[-1] == scale.top


def test_no_data_draws_the_axis_and_no_bar() -> None:
    svg = chart(["1/3", "2/3", "3/3"], Series("sent", "Sent", [0, 0, 0]))
    assert bars(svg) == []
    assert texts(svg, "chart-tick") == ["0", "1"]
    assert texts(svg, "chart-day") == ["3/3", "2/3", "1/3"]
    assert svg.get("data-scale-top") == "1"


def test_one_day_one_bar_of_full_height_in_the_middle() -> None:
    svg = chart(["28/3"], Series("users", "Active users", [3]))
    (bar,) = bars(svg)
    assert bar.width == MAX_GROUP_WIDTH
    assert bar.x + MAX_GROUP_WIDTH / 2 == pytest.approx(LEFT + (WIDTH - LEFT - RIGHT) / 2)
    assert bar.height == pytest.approx(PLOT_HEIGHT)
    assert bar.y == pytest.approx(TOP)
    assert bar.title == "28/3 · Active users: 3"


def test_heights_follow_the_values() -> None:
    svg = chart(["1/3", "2/3", "3/3"], Series("sent", "Sent", [2, 0, 8]))
    first, third = bars(svg)  # nothing drawn for 0
    assert svg.get("data-scale-top") == "8"
    assert third.height == pytest.approx(PLOT_HEIGHT)
    assert first.height == pytest.approx(PLOT_HEIGHT / 4)
    for bar in (first, third):
        assert bar.y + bar.height == pytest.approx(PLOT_BOTTOM)
    assert first.x < third.x


def test_series_side_by_side_share_the_day() -> None:
    svg = chart(
        ["1/3", "2/3"], Series("sent", "Sent", [4, 1]), Series("received", "Received", [2, 3])
    )
    found = bars(svg)
    assert [bar.css_class for bar in found] == [
        "chart-bar series-sent",
        "chart-bar series-received",
        "chart-bar series-sent",
        "chart-bar series-received",
    ]
    sent, received = found[0], found[1]
    assert received.x == pytest.approx(sent.x + sent.width)
    assert sent.height == pytest.approx(PLOT_HEIGHT)  # the scale is the larger series'


def test_stacked_series_sit_on_each_other() -> None:
    svg = chart(
        ["1/3"], Series("websocket", "WebSocket", [3]), Series("bosh", "BOSH", [1]), stacked=True
    )
    websocket, bosh = bars(svg)
    assert svg.get("data-scale-top") == "4"
    assert websocket.y + websocket.height == pytest.approx(PLOT_BOTTOM)
    assert bosh.y + bosh.height == pytest.approx(websocket.y)
    assert bosh.x == websocket.x and bosh.width == websocket.width


def test_many_days_name_a_few_under_the_axis_today_always() -> None:
    labels = [f"{day}/3" for day in range(1, 31)]
    svg = chart(labels, Series("sent", "Sent", list(range(30))))
    named = texts(svg, "chart-day")
    assert len(named) <= 8 and named[0] == "30/3"
    assert len(bars(svg)) == 29


def test_texts_are_escaped_and_the_chart_is_labelled() -> None:
    svg = bar_chart(
        chart_id="c",
        title="<script>",
        description="a & b",
        day_labels=["<b>"],
        series=[Series("sent", "<i>", [1])],
    )
    assert "<script>" not in svg and "<b>" not in svg and "<i>" not in svg
    parsed = ElementTree.fromstring(str(svg))
    assert parsed.get("role") == "img"
    assert parsed.get("aria-labelledby") == "c-title c-desc"
    assert parsed.findtext(f"{SVG}title") == "<script>"
    assert parsed.findtext(f"{SVG}desc") == "a & b"


@pytest.mark.parametrize(
    ("labels", "values", "problem"),
    [
        ([], [], "at least one day"),
        (["1/3", "2/3"], [1], "1 values for 2 days"),
        (["1/3"], [-1], "negative"),
    ],
)
def test_bad_figures_are_refused(labels: list[str], values: list[int], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        bar_chart(
            chart_id="c",
            title="t",
            description="d",
            day_labels=labels,
            series=[Series("sent", "Sent", values)],
        )
