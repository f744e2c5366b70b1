"""The gateway's daily figures saved and read back (the service's Statistics option).

:data:`evim.gateway.usage.USAGE` counts in memory, on the event loop; :func:`flush_usage`
saves what it counted — every :data:`FLUSH_SECONDS` (:func:`flush_periodically`, run by the
ASGI lifespan) and when evim stops — adding it to one :class:`DailyUsage` row per local day.
Days older than :data:`KEEP_DAYS` are deleted then, and so is the list of who was active on
a day once that day is over (only the count stays).  :func:`usage_of_last_days` gives the
figures to the statistics page.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import F

from evim.backoffice.models import User
from evim.gateway import registry
from evim.gateway.models import DailyActiveUser, DailyUsage
from evim.gateway.usage import USAGE, DayUsage, UsageRecorder

logger = logging.getLogger("evim.gateway")

#: How often the counts of this process are saved.
FLUSH_SECONDS = 60.0
#: Days of figures kept (older ones are deleted when figures are saved).
KEEP_DAYS = 400


def local_today() -> datetime.date:
    """Today in evim's time zone (``TIME_ZONE``, Europe/Paris by default), whatever the
    time zone activated for a request."""
    return datetime.datetime.now(ZoneInfo(settings.TIME_ZONE)).date()


async def flush_usage(recorder: UsageRecorder = USAGE) -> None:
    """Save what ``recorder`` counted since the last flush (call it on the event loop that
    counts: what is taken is taken there, between two counts)."""
    # A stream open since yesterday is a stream of today's too (a guest's has no user).
    recorder.users_active({stream.user_id for stream in registry.streams() if stream.user_id})
    taken = recorder.take()
    await sync_to_async(save_usage)(taken, today=local_today())


async def flush_periodically(recorder: UsageRecorder = USAGE) -> None:
    """:func:`flush_usage` every :data:`FLUSH_SECONDS`, until cancelled.  A failure (the
    database away) is logged, and its counts lost: statistics are no reason to stop."""
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await flush_usage(recorder)
        except Exception:
            logger.exception("Could not save the gateway's usage figures")


#: The day this process last deleted what is kept no longer.
_forgotten_on: datetime.date | None = None


def save_usage(days: Mapping[datetime.date, DayUsage], *, today: datetime.date) -> None:
    """Add ``days``' counts to their rows, then delete what is kept no longer.  With
    nothing to add, the database is left alone (but for the day's first clean-up)."""
    global _forgotten_on
    if not days and _forgotten_on == today:
        return
    with transaction.atomic():
        for day, usage in sorted(days.items()):
            DailyUsage.objects.get_or_create(day=day)
            DailyUsage.objects.filter(day=day).update(
                websocket_streams=F("websocket_streams") + usage.streams["websocket"],
                bosh_streams=F("bosh_streams") + usage.streams["bosh"],
                messages_from_browsers=F("messages_from_browsers") + usage.messages_from_browsers,
                messages_to_browsers=F("messages_to_browsers") + usage.messages_to_browsers,
            )
            if usage.users:
                # A user deleted since is not counted (and would break the insert).
                users = User.objects.filter(pk__in=usage.users).values_list("pk", flat=True)
                DailyActiveUser.objects.bulk_create(
                    [DailyActiveUser(day=day, user_id=user_id) for user_id in users],
                    ignore_conflicts=True,  # already counted that day
                )
                DailyUsage.objects.filter(day=day).update(
                    active_users=DailyActiveUser.objects.filter(day=day).count()
                )
        _forget_old(today)
    _forgotten_on = today


def _forget_old(today: datetime.date) -> None:
    # Who was active, only while their day lasts; the figures, KEEP_DAYS days.
    DailyActiveUser.objects.filter(day__lt=today).delete()
    DailyUsage.objects.filter(day__lte=today - datetime.timedelta(days=KEEP_DAYS)).delete()


@dataclass(frozen=True)
class Day:
    day: datetime.date
    websocket_streams: int = 0
    bosh_streams: int = 0
    messages_from_browsers: int = 0
    messages_to_browsers: int = 0
    active_users: int = 0

    @property
    def streams(self) -> int:
        return self.websocket_streams + self.bosh_streams


def usage_of_last_days(count: int, *, today: datetime.date | None = None) -> list[Day]:
    """The figures of the ``count`` days up to today, oldest first; a day without a row
    (nothing recorded) has zeros."""
    last = today or local_today()
    first = last - datetime.timedelta(days=count - 1)
    rows = {row.day: row for row in DailyUsage.objects.filter(day__gte=first, day__lte=last)}
    days: list[Day] = []
    for offset in range(count):
        day = first + datetime.timedelta(days=offset)
        row = rows.get(day)
        days.append(
            Day(
                day,
                row.websocket_streams,
                row.bosh_streams,
                row.messages_from_browsers,
                row.messages_to_browsers,
                row.active_users,
            )
            if row is not None
            else Day(day)
        )
    return days


def anything_recorded() -> bool:
    return DailyUsage.objects.exists()
