"""Open streams are re-checked in one batch per interval, however many there are."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from evim.gateway.permissions import PermissionChecker
from evim.gateway.relay import StreamOwner

OWNERS = [StreamOwner(user_id=n, session_key=f"s{n}", jid=f"u{n}@evim.test") for n in range(50)]


def test_many_streams_one_batch() -> None:
    batches: list[int] = []

    def batch(owners: Collection[StreamOwner]) -> dict[StreamOwner, str | None]:
        batches.append(len(owners))
        return {owner: ("logged out" if owner.user_id == 7 else None) for owner in owners}

    checker = PermissionChecker(batch=batch, owners=lambda: OWNERS, max_age=3600)

    async def everyone_asks() -> list[str | None]:
        return list(await asyncio.gather(*(checker.verdict(owner) for owner in OWNERS)))

    verdicts = asyncio.run(everyone_asks())
    assert batches == [50]  # one query round for fifty streams
    assert verdicts[7] == "logged out"
    assert verdicts.count(None) == 49


def test_stale_verdicts_are_refreshed() -> None:
    calls: list[int] = []

    def batch(owners: Collection[StreamOwner]) -> dict[StreamOwner, str | None]:
        calls.append(len(owners))
        return dict.fromkeys(owners, None if len(calls) == 1 else "the Jabber account changed")

    checker = PermissionChecker(batch=batch, owners=lambda: OWNERS[:3], max_age=0)

    async def ask_twice() -> tuple[str | None, str | None]:
        return await checker.verdict(OWNERS[0]), await checker.verdict(OWNERS[0])

    assert asyncio.run(ask_twice()) == (None, "the Jabber account changed")
    assert calls == [3, 3]
