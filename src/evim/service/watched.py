"""A service switch for code that runs on the event loop: :class:`WatchedSwitch`.

The ASGI app's own handlers (the static files) run on the event loop, where
:func:`~evim.service.current.service` must not be called: once its cache is stale it queries
the database, and the whole loop (every page, every chat stream) would wait for it.

Asking through ``sync_to_async`` on each request is safe but costs a thread hop (about
150 µs measured here) and a wait behind the other work of evim's one thread for the
database outside requests (the gateway's checks).  A switch needs neither: it is kept
here, answered at once, and read again in that thread, in the background, when it is older
than :data:`~evim.service.current.CACHE_SECONDS`; a change made in this process is taken at
once (:data:`~evim.service.actions.service_settings_changed`).  So a change shows within
that time, as on the pages, and no request ever waits for the database.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from asgiref.sync import sync_to_async

from evim.service import current
from evim.service.actions import service_settings_changed
from evim.service.options import BY_NAME

logger = logging.getLogger("evim.service")


class WatchedSwitch:
    """The value of the switch option ``name``, read without waiting (call it on the
    event loop).  Off until it was first read: :meth:`refresh` at the server's start."""

    def __init__(self, name: str, *, seconds: float = current.CACHE_SECONDS) -> None:
        if name not in BY_NAME:
            raise ValueError(f"not a service option: {name}")
        self.name = name
        self.seconds = seconds
        # The value and when it was read, replaced whole: written from other threads, read
        # on the loop, with no lock.
        self._state: tuple[bool, float] = (False, -math.inf)
        self._refreshing: asyncio.Task[None] | None = None
        service_settings_changed.connect(self._changed)  # weak: lives as long as self

    def __call__(self) -> bool:
        value, read_at = self._state
        if self._refreshing is None and time.monotonic() - read_at >= self.seconds:
            self._refreshing = asyncio.get_running_loop().create_task(
                self._refresh_in_background(), name=f"service-{self.name}-refresh"
            )
        return value

    async def refresh(self) -> bool:
        """Read the value now, in Django's thread for the database.  A failure is logged and
        keeps the last value until the next try: a switch is no reason to stop serving."""
        try:
            return await sync_to_async(self._read)()
        except Exception:
            logger.exception("Could not read the service option %s; trying again later", self.name)
            value = self._state[0]
            self._state = (value, time.monotonic())
            return value

    async def _refresh_in_background(self) -> None:
        try:
            await self.refresh()
        finally:
            self._refreshing = None

    def _read(self) -> bool:
        # The process's cache may be as old as this value: read the stored values again,
        # or a change from another process would take twice CACHE_SECONDS to show.
        current.forget()
        value = bool(getattr(current.service(), self.name))
        self._state = (value, time.monotonic())
        return value

    def _changed(self, sender: Any, changed: list[str], **kwargs: Any) -> None:
        if self.name in changed:  # committed in this process, in a thread of Django's
            self._read()
