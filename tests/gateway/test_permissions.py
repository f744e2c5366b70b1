"""Open streams are re-checked by one sweep per interval, in one batch, however many there
are; only the streams no longer allowed are told to end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

from evim.gateway.permissions import PermissionSweep
from evim.gateway.registry import OpenStream
from evim.gateway.relay import StreamOwner


def open_streams(count: int, ended: dict[int, str]) -> list[OpenStream]:
    loop = asyncio.get_running_loop()

    def ender(user_id: int) -> Callable[[str], None]:
        return lambda reason: ended.__setitem__(user_id, reason)

    return [
        OpenStream(n, f"s{n}", f"u{n}@evim.test", loop=loop, end=ender(n)) for n in range(count)
    ]


def test_one_batch_for_every_stream_and_only_the_refused_end() -> None:
    batches: list[int] = []

    def batch(owners: Collection[StreamOwner]) -> dict[StreamOwner, str | None]:
        batches.append(len(owners))
        return {owner: ("logged out" if owner.user_id == 7 else None) for owner in owners}

    async def scenario() -> dict[int, str]:
        ended: dict[int, str] = {}
        streams = open_streams(50, ended)
        sweep = PermissionSweep(batch=batch, streams=lambda: streams, interval=3600)
        assert await sweep.sweep() == 1
        await asyncio.sleep(0)  # the end is delivered on the streams' loop
        return ended

    assert asyncio.run(scenario()) == {7: "logged out"}
    assert batches == [50]  # one query round for fifty streams


def test_the_sweep_runs_every_interval_and_survives_a_failure() -> None:
    calls: list[int] = []

    def batch(owners: Collection[StreamOwner]) -> dict[StreamOwner, str | None]:
        calls.append(len(owners))
        if len(calls) == 1:
            raise RuntimeError("the database is away")
        return dict.fromkeys(owners, "the Jabber account changed")

    async def scenario() -> dict[int, str]:
        ended: dict[int, str] = {}
        streams = open_streams(3, ended)
        sweep = PermissionSweep(batch=batch, streams=lambda: streams, interval=0.01)
        running = asyncio.create_task(sweep.run())
        while len(ended) < 3:
            await asyncio.sleep(0.01)
        running.cancel()
        return ended

    assert asyncio.run(scenario()) == dict.fromkeys(range(3), "the Jabber account changed")
    assert calls[:2] == [3, 3]  # the failed sweep was retried at the next interval


def test_no_streams_no_query() -> None:
    def batch(owners: Collection[StreamOwner]) -> dict[StreamOwner, str | None]:
        raise AssertionError("nothing to check")

    sweep = PermissionSweep(batch=batch, streams=list, interval=1)
    assert asyncio.run(sweep.sweep()) == 0
