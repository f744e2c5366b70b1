"""Whether open streams may go on, checked for all of them at once.

Every stream asks at its own pace (``EVIM_GATEWAY_RECHECK_SECONDS``); the first question
after the verdicts are that old refreshes them for every open stream of the process in one
batch (``owners.verdicts_for``), the others read the result.  One check per interval,
whatever the number of streams: a thousand idle streams cost one batch, not a thousand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection

from asgiref.sync import sync_to_async

from evim.gateway.relay import StreamOwner

Verdicts = dict[StreamOwner, str | None]


class PermissionChecker:
    def __init__(
        self,
        *,
        batch: Callable[[Collection[StreamOwner]], Verdicts],
        owners: Callable[[], Collection[StreamOwner]],
        max_age: float,
    ) -> None:
        self._batch = batch
        self._owners = owners
        self.max_age = max_age
        self._verdicts: Verdicts = {}
        self._checked_at = float("-inf")
        self._lock: asyncio.Lock | None = None
        self.batches = 0  # for tests and metrics

    async def verdict(self, owner: StreamOwner) -> str | None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            stale = time.monotonic() - self._checked_at >= self.max_age
            if stale or owner not in self._verdicts:
                everyone = {*self._owners(), owner}
                self._verdicts = await sync_to_async(self._batch)(everyone)
                self._checked_at = time.monotonic()
                self.batches += 1
        return self._verdicts.get(owner)
