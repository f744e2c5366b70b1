"""The gateway's daily figures saved (evim.gateway.daily_usage): added up flush after flush,
each user counted once a day, who was active forgotten once the day is over, old days
deleted."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from asgiref.sync import async_to_sync
from pytest_django import DjangoAssertNumQueries

from evim.backoffice.models import User
from evim.gateway import daily_usage
from evim.gateway.daily_usage import KEEP_DAYS, flush_usage, save_usage, usage_of_last_days
from evim.gateway.models import DailyActiveUser, DailyUsage
from evim.gateway.usage import DayUsage, UsageRecorder

DAY = datetime.date(2026, 3, 28)
CHAT = (
    "<message xmlns='jabber:client' to='jeanne@localhost' type='chat'>"
    "<body>Le décor arrive à 14 h</body></message>"
)


pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_process() -> None:
    daily_usage._forgotten_on = None  # as in a process that has not saved anything yet


def usage(
    websocket: int = 0,
    bosh: int = 0,
    sent: int = 0,
    received: int = 0,
    users: frozenset[int] = frozenset(),
) -> DayUsage:
    day = DayUsage(messages_from_browsers=sent, messages_to_browsers=received, users=set(users))
    day.streams.update({"websocket": websocket, "bosh": bosh})
    return day


def row(day: datetime.date) -> tuple[int, int, int, int, int]:
    found = DailyUsage.objects.get(day=day)
    return (
        found.websocket_streams,
        found.bosh_streams,
        found.messages_from_browsers,
        found.messages_to_browsers,
        found.active_users,
    )


def test_flushes_add_up_and_count_each_user_once_a_day(camille: User, jeanne: User) -> None:
    save_usage(
        {DAY: usage(websocket=2, sent=3, received=4, users=frozenset({camille.pk}))}, today=DAY
    )
    save_usage(
        {DAY: usage(websocket=1, bosh=1, sent=1, users=frozenset({camille.pk, jeanne.pk}))},
        today=DAY,
    )
    assert row(DAY) == (3, 1, 4, 4, 2)
    assert DailyActiveUser.objects.filter(day=DAY).count() == 2


def test_a_user_deleted_since_the_count_is_not_counted(camille: User, jeanne: User) -> None:
    gone = jeanne.pk
    jeanne.delete()
    save_usage({DAY: usage(websocket=2, users=frozenset({camille.pk, gone}))}, today=DAY)
    assert row(DAY) == (2, 0, 0, 0, 1)


def test_who_was_active_is_forgotten_once_the_day_is_over(camille: User, jeanne: User) -> None:
    save_usage({DAY: usage(websocket=1, users=frozenset({camille.pk, jeanne.pk}))}, today=DAY)
    assert DailyActiveUser.objects.count() == 2
    tomorrow = DAY + datetime.timedelta(days=1)
    save_usage({}, today=tomorrow)  # the first save of the next day, with nothing new
    assert not DailyActiveUser.objects.exists()
    assert row(DAY)[4] == 2, "the count stays"


def test_days_older_than_the_keeping_time_are_deleted() -> None:
    old = DAY - datetime.timedelta(days=KEEP_DAYS)
    kept = DAY - datetime.timedelta(days=KEEP_DAYS - 1)
    save_usage({old: usage(sent=1), kept: usage(sent=2)}, today=DAY)
    assert list(DailyUsage.objects.values_list("day", flat=True)) == [kept]


def test_nothing_to_save_leaves_the_database_alone(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    save_usage({}, today=DAY)
    with django_assert_num_queries(0):
        save_usage({}, today=DAY)


def test_flush_saves_what_the_recorder_counted(camille: User) -> None:
    recorder = UsageRecorder(enabled=lambda: True, today=lambda: DAY)
    recorder.stream_opened(user_id=camille.pk, transport="bosh")
    recorder.from_browser("message", CHAT)
    recorder.to_browser(CHAT)
    recorder.to_browser(CHAT)
    async_to_sync(flush_usage)(recorder)
    assert row(DAY) == (0, 1, 1, 2, 1)
    async_to_sync(flush_usage)(recorder)  # counted once
    assert row(DAY) == (0, 1, 1, 2, 1)


def test_days_without_figures_are_zeros() -> None:
    save_usage({DAY - datetime.timedelta(days=2): usage(websocket=5)}, today=DAY)
    days = usage_of_last_days(7, today=DAY)
    assert [day.day for day in days] == [DAY - datetime.timedelta(days=n) for n in range(6, -1, -1)]
    assert [day.streams for day in days] == [0, 0, 0, 0, 5, 0, 0]


def test_saving_goes_on_after_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The periodic saving logs a failure (the database away) and tries again next time."""
    calls: list[UsageRecorder] = []

    async def scenario() -> None:
        second = asyncio.Event()

        async def flaky_flush(recorder: UsageRecorder) -> None:
            calls.append(recorder)
            if len(calls) == 1:
                raise RuntimeError("database is locked")
            second.set()

        monkeypatch.setattr(daily_usage, "FLUSH_SECONDS", 0)
        monkeypatch.setattr(daily_usage, "flush_usage", flaky_flush)
        recorder = UsageRecorder()
        saving = asyncio.create_task(daily_usage.flush_periodically(recorder))
        await asyncio.wait_for(second.wait(), 5)
        saving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await saving

    asyncio.run(scenario())
    assert len(calls) >= 2, "tried again after the failure"
