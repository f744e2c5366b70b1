"""Whether open streams may go on: one sweep of all of them per interval.

One task per process (started by the ASGI lifespan) wakes every
``EVIM_GATEWAY_RECHECK_SECONDS``, asks ``owners.verdicts_for`` about every open stream's
owner in one batch (a few queries, however many streams), and ends the streams whose
session or account is gone.  An idle stream costs nothing in between: no timer, no wake-up
of its own (with 10,000 idle streams, per-stream timers kept half a core busy).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from asgiref.sync import sync_to_async

from evim.gateway.registry import OpenStream
from evim.gateway.relay import StreamOwner

logger = logging.getLogger("evim.gateway")

Verdicts = dict[StreamOwner, str | None]


class PermissionSweep:
    def __init__(
        self,
        *,
        batch: Callable[[Collection[StreamOwner]], Verdicts],
        streams: Callable[[], Collection[OpenStream]],
        interval: float,
    ) -> None:
        self._batch = batch
        self._streams = streams
        self.interval = interval
        self.sweeps = 0  # for tests

    async def run(self) -> None:
        """Sweep every interval, until cancelled; a failed sweep is logged and retried."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception:
                logger.exception("Gateway: the periodic check of open streams failed")

    async def sweep(self) -> int:
        """Check every open stream now; end those no longer allowed.  Returns how many."""
        streams = list(self._streams())
        self.sweeps += 1
        if not streams:
            return 0
        verdicts = await sync_to_async(self._batch)({stream.owner for stream in streams})
        ended = 0
        for stream in streams:
            reason = verdicts.get(stream.owner)
            if reason is not None:
                stream.loop.call_soon_threadsafe(stream.end, reason)
                ended += 1
        return ended
