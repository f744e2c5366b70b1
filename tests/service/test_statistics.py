"""The Statistics option and its page (/service/statistics/): administrators only, the
figures as charts with their tables and totals, the empty and "off" states."""

from __future__ import annotations

import datetime
import re

import pytest

from evim.backoffice import actions as backoffice_actions
from evim.backoffice.models import User
from evim.gateway import daily_usage
from evim.gateway.daily_usage import local_today, save_usage
from evim.gateway.usage import DayUsage
from evim.service.actions import do_change_service_settings
from evim.service.current import service
from tests.fixtures.users import PASSWORD, client_for

URL = "/service/statistics/"


@pytest.fixture
def ada(db: None) -> User:
    """An administrator who reads the back office in English."""
    return backoffice_actions.do_create_user(
        acting_user=None,
        username="ada",
        password=PASSWORD,
        first_name="Ada",
        last_name="Byron",
        language="en",
        is_administrator=True,
    )


@pytest.fixture(autouse=True)
def _fresh_process() -> None:
    daily_usage._forgotten_on = None


def record(day: datetime.date, *, websocket: int, bosh: int, sent: int, received: int) -> None:
    usage = DayUsage(messages_from_browsers=sent, messages_to_browsers=received)
    usage.streams.update({"websocket": websocket, "bosh": bosh})
    save_usage({day: usage}, today=local_today())


def chart_table(page: str, name: str) -> list[list[str]]:
    """The rows of a chart's table, as text cells (the day first)."""
    table = re.search(rf'<table class="table" data-table="{name}">(.*?)</table>', page, re.S)
    assert table, f"no table for {name}"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.S)
    assert body
    return [
        re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def test_the_option_is_on_by_default_and_on_the_settings_page(camille: User) -> None:
    assert service().statistics is True
    page = client_for(camille).get("/service/settings/").content.decode()
    assert 'data-option="statistics"' in page
    assert f'href="{URL}"' in page


def test_only_administrators_see_it(camille: User, jeanne: User) -> None:
    assert client_for(jeanne).get(URL).status_code == 403
    assert 'data-menu="usage-statistics"' not in client_for(jeanne).get("/").content.decode()
    assert client_for(None).get(URL).status_code == 302  # to the login page
    assert 'data-menu="usage-statistics"' in client_for(camille).get("/").content.decode()
    assert client_for(camille).get(URL).status_code == 200


def test_nothing_recorded_yet(ada: User) -> None:
    page = client_for(ada).get(URL).content.decode()
    assert 'data-state="nothing-recorded"' in page
    assert "Nothing recorded yet." in page
    assert "<svg" not in page
    assert 'data-state="off"' not in page


def test_off_says_nothing_is_recorded(ada: User) -> None:
    do_change_service_settings(acting_user=ada, values={"statistics": False})
    page = client_for(ada).get(URL).content.decode()
    assert 'data-state="off"' in page
    assert "Statistics are off: nothing is recorded." in page
    # What was recorded before is still shown.
    record(local_today(), websocket=1, bosh=0, sent=2, received=0)
    page = client_for(ada).get(URL).content.decode()
    assert 'data-state="off"' in page and page.count('class="chart" id="chart-') == 3


def test_the_figures_as_charts_tables_and_totals(ada: User) -> None:
    today = local_today()
    record(today, websocket=3, bosh=1, sent=5, received=7)
    record(today - datetime.timedelta(days=2), websocket=2, bosh=0, sent=1, received=2)
    record(today - datetime.timedelta(days=20), websocket=10, bosh=0, sent=40, received=40)

    page = client_for(ada).get(URL).content.decode()  # 30 days by default
    assert 'aria-current="page" data-period="30"' in page
    for name in ("streams", "messages", "users"):
        assert f'data-chart="{name}"' in page
        assert f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-{name}"' in page
    assert '<dd data-total="streams">16</dd>' in page
    assert '<dd data-total="sent">46</dd>' in page
    assert '<dd data-total="received">49</dd>' in page
    streams = chart_table(page, "streams")
    assert len(streams) == 30
    assert streams[-1][1:] == ["3", "1", "4"]  # today: WebSocket, BOSH, total
    assert streams[-3][1:] == ["2", "0", "2"]
    assert chart_table(page, "messages")[-1][1:] == ["5", "7"]
    assert "Chat connections" in page and "Sent" in page and "Received" in page

    week = client_for(ada).get(URL, {"days": "7"}).content.decode()
    assert len(chart_table(week, "streams")) == 7
    assert '<dd data-total="streams">6</dd>' in week  # not the day 20 days ago


def test_a_period_without_figures_says_so(ada: User) -> None:
    record(local_today() - datetime.timedelta(days=60), websocket=1, bosh=0, sent=0, received=0)
    week = client_for(ada).get(URL, {"days": "7"}).content.decode()
    assert 'data-state="nothing-in-period"' in week
    assert "Nothing was recorded in this period." in week


def test_an_unknown_period_is_refused_with_the_choices(ada: User) -> None:
    response = client_for(ada).get(URL, {"days": "365"})
    assert response.status_code == 400
    assert "choose 7, 30 or 90 days" in response.content.decode()


def test_in_french(camille: User) -> None:
    """Needs the French catalogue with this page's strings (merged by the lead)."""
    record(local_today(), websocket=1, bosh=0, sent=1, received=1)
    page = client_for(camille).get(URL).content.decode()
    assert "Statistiques d’utilisation" in page
    assert "Connexions du chat" in page
