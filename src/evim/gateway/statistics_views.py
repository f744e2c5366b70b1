"""The usage statistics page (administrators): the gateway's daily figures as charts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from evim.backoffice.decorators import administrator_required
from evim.gateway.charts import Series, bar_chart
from evim.gateway.daily_usage import KEEP_DAYS, Day, usage_of_last_days
from evim.gateway.models import DailyUsage
from evim.service.current import service

#: The periods offered, in days; the first page shows :data:`DEFAULT_PERIOD`.
PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30


@dataclass(frozen=True)
class Table:
    columns: list[str]
    #: The day as shown, then one value per column after the first.
    rows: list[tuple[str, list[int]]]
    totals: list[int] | None


@dataclass(frozen=True)
class ChartBlock:
    name: str
    title: str
    svg: SafeString
    legend: list[Series]
    table: Table


@administrator_required
@require_GET
def usage_statistics(request: HttpRequest) -> HttpResponse:
    period_text = request.GET.get("days", str(DEFAULT_PERIOD))
    if period_text not in {str(period) for period in PERIODS}:
        return HttpResponseBadRequest(
            _("Unknown period “%(days)s”: choose 7, 30 or 90 days.") % {"days": period_text[:20]},
            content_type="text/plain; charset=utf-8",
        )
    period = int(period_text)
    days = usage_of_last_days(period)
    recorded = DailyUsage.objects.exists()
    context: dict[str, Any] = {
        "period": period,
        "periods": PERIODS,
        "statistics_on": service().statistics,
        "recorded": recorded,
        "in_period": any(_has_figures(day) for day in days),
        "keep_days": KEEP_DAYS,
        "first_day": days[0].day,
        "last_day": days[-1].day,
        "charts": _charts(days) if recorded else [],
        "totals": _totals(days),
    }
    return render(request, "gateway/statistics.html", context)


def _has_figures(day: Day) -> bool:
    return bool(day.streams or day.messages_from_browsers or day.messages_to_browsers)


def _totals(days: list[Day]) -> dict[str, int]:
    active = [day.active_users for day in days]
    return {
        "streams": sum(day.streams for day in days),
        "websocket": sum(day.websocket_streams for day in days),
        "bosh": sum(day.bosh_streams for day in days),
        "sent": sum(day.messages_from_browsers for day in days),
        "received": sum(day.messages_to_browsers for day in days),
        "most_active": max(active, default=0),
        "average_active": round(sum(active) / len(active)) if active else 0,
    }


def _charts(days: list[Day]) -> list[ChartBlock]:
    # Translators: the date format of the days under a chart's bars (Django's date format:
    # n the month, j the day), as 11/28; in French j/n.
    labels = [date_format(day.day, _("n/j")) for day in days]
    full = [date_format(day.day, "SHORT_DATE_FORMAT") for day in days]
    websocket = Series("websocket", "WebSocket", [day.websocket_streams for day in days])
    bosh = Series("bosh", "BOSH", [day.bosh_streams for day in days])
    sent = Series("sent", _("Sent"), [day.messages_from_browsers for day in days])
    received = Series("received", _("Received"), [day.messages_to_browsers for day in days])
    users = Series("users", _("Active users"), [day.active_users for day in days])
    blocks = [
        (
            "streams",
            _("Chat connections"),
            _(
                "Connections of the chat to evim each day (a page load with the chat is one), "
                "by transport: %(total)d in all."
            )
            % {"total": sum(day.streams for day in days)},
            [websocket, bosh],
            True,
        ),
        (
            "messages",
            _("Messages"),
            _(
                "Messages sent from the chat each day (%(sent)d in all), and messages it "
                "received (%(received)d in all)."
            )
            % {
                "sent": sum(sent.values),
                "received": sum(received.values),
            },
            [sent, received],
            False,
        ),
        (
            "users",
            _("Active users"),
            _("Users who had the chat connected each day: at most %(most)d in one day.")
            % {"most": max(users.values, default=0)},
            [users],
            False,
        ),
    ]
    charts: list[ChartBlock] = []
    for name, title, description, series, stacked in blocks:
        columns = [_("Day"), *(one.label for one in series)]
        if stacked:
            columns.append(_("Total"))
        rows = []
        for index, day_label in enumerate(full):
            values = [one.values[index] for one in series]
            rows.append((day_label, [*values, sum(values)] if stacked else values))
        totals = (
            None
            if name == "users"
            else [sum(row[1][i] for row in rows) for i in range(len(columns) - 1)]
        )
        charts.append(
            ChartBlock(
                name,
                title,
                bar_chart(
                    chart_id=f"chart-{name}",
                    title=title,
                    description=description,
                    day_labels=labels,
                    series=series,
                    stacked=stacked,
                ),
                series,
                Table(columns, rows, totals),
            )
        )
    return charts
