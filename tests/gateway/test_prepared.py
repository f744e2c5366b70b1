"""Upstream logins prepared at token issue (prepared.py): claimed once by the token's owner,
closed when unused — with the login played by the test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from evim.gateway.metrics import METRICS
from evim.gateway.prepared import MAX_PER_USER, PreparedUpstreams
from evim.gateway.relay import StreamOwner
from evim.gateway.upstream import AuthenticatedUpstream, UpstreamError
from tests.gateway.test_relay import FakeUpstream

JEANNE = StreamOwner(user_id=7, session_key="session-j", jid="jeanne@evim.test")
JEANNE_OTHER_TAB = StreamOwner(user_id=7, session_key="session-j2", jid="jeanne@evim.test")
OLIVER = StreamOwner(user_id=8, session_key="session-o", jid="oliver@evim.test")


class Logins:
    """The upstream logins the registry starts, each finished by the test."""

    def __init__(self) -> None:
        self.started: list[StreamOwner] = []
        self.results: list[asyncio.Future[AuthenticatedUpstream]] = []

    async def connect(self, owner: StreamOwner) -> AuthenticatedUpstream:
        self.started.append(owner)
        result: asyncio.Future[AuthenticatedUpstream] = asyncio.get_running_loop().create_future()
        self.results.append(result)
        return await result


def scenario(
    body: Callable[[PreparedUpstreams, Logins], Coroutine[Any, Any, None]],
) -> None:
    async def main() -> None:
        prepared, logins = PreparedUpstreams(), Logins()
        prepared.serve_on(asyncio.get_running_loop())
        async with asyncio.timeout(30):
            await body(prepared, logins)
            await prepared.close_all()

    asyncio.run(main())


async def started(prepared: PreparedUpstreams, logins: Logins, count: int) -> None:
    """Until ``count`` preparations wait with their login under way (``prepare`` hands
    over to the loop, which then starts the login task)."""
    while prepared.waiting() < count or len(logins.results) < count:
        await asyncio.sleep(0)


def test_the_token_owner_claims_the_prepared_upstream_once() -> None:
    async def body(prepared: PreparedUpstreams, logins: Logins) -> None:
        assert prepared.prepare("t1", owner=JEANNE, connect=logins.connect, lifetime=60)
        await started(prepared, logins, 1)
        upstream = FakeUpstream()
        logins.results[0].set_result(upstream)
        assert await prepared.claim("t1", owner=JEANNE) is upstream
        assert await prepared.claim("t1", owner=JEANNE) is None  # once
        assert upstream.ended == ""  # the relay owns it now
        assert logins.started == [JEANNE]

    scenario(body)


def test_a_claim_waits_for_a_login_still_under_way() -> None:
    async def body(prepared: PreparedUpstreams, logins: Logins) -> None:
        prepared.prepare("t1", owner=JEANNE, connect=logins.connect, lifetime=60)
        await started(prepared, logins, 1)
        claim = asyncio.create_task(prepared.claim("t1", owner=JEANNE))
        await asyncio.sleep(0)
        assert not claim.done()
        upstream = FakeUpstream()
        logins.results[0].set_result(upstream)
        assert await claim is upstream

    scenario(body)


def test_a_failed_prepared_login_fails_the_claim_like_a_login() -> None:
    async def body(prepared: PreparedUpstreams, logins: Logins) -> None:
        prepared.prepare("t1", owner=JEANNE, connect=logins.connect, lifetime=60)
        await started(prepared, logins, 1)
        logins.results[0].set_exception(UpstreamError("remote-connection-failed", "refused"))
        with pytest.raises(UpstreamError) as raised:
            await prepared.claim("t1", owner=JEANNE)
        assert raised.value.condition == "remote-connection-failed"

    scenario(body)


def test_another_session_or_user_gets_nothing_and_the_upstream_is_closed() -> None:
    async def body(prepared: PreparedUpstreams, logins: Logins) -> None:
        for token in ("t1", "t2"):
            prepared.prepare(token, owner=JEANNE, connect=logins.connect, lifetime=60)
        await started(prepared, logins, 2)
        upstreams = [FakeUpstream(), FakeUpstream()]
        for result, upstream in zip(logins.results, upstreams, strict=True):
            result.set_result(upstream)
        assert await prepared.claim("t1", owner=JEANNE_OTHER_TAB) is None
        assert await prepared.claim("t2", owner=OLIVER) is None
        await prepared.close_all()  # waits for the closings under way
        assert [upstream.ended for upstream in upstreams] == ["closed", "closed"]
        assert await prepared.claim("t1", owner=JEANNE) is None  # spent by the bad claim

    scenario(body)


def test_unused_upstreams_are_closed_when_the_token_expires() -> None:
    async def body(prepared: PreparedUpstreams, logins: Logins) -> None:
        expired_before = METRICS.upstreams_prepared["expired"]
        prepared.prepare("t1", owner=JEANNE, connect=logins.connect, lifetime=0.05)
        await started(prepared, logins, 1)
        upstream = FakeUpstream()
        logins.results[0].set_result(upstream)
        while prepared.waiting():
            await asyncio.sleep(0.01)
        await prepared.close_all()
        assert upstream.ended == "closed"
        assert METRICS.upstreams_prepared["expired"] == expired_before + 1
        assert await prepared.claim("t1", owner=JEANNE) is None

    scenario(body)


def test_a_refused_token_or_a_logout_closes_what_was_prepared() -> None:
    async def body(prepared: PreparedUpstreams, logins: Logins) -> None:
        prepared.prepare("t1", owner=JEANNE, connect=logins.connect, lifetime=60)
        prepared.prepare("t2", owner=JEANNE, connect=logins.connect, lifetime=60)
        prepared.prepare("t3", owner=OLIVER, connect=logins.connect, lifetime=60)
        await started(prepared, logins, 3)
        upstreams = [FakeUpstream() for _ in range(3)]
        for result, upstream in zip(logins.results, upstreams, strict=True):
            result.set_result(upstream)
        await prepared.discard("t1")
        prepared.discard_session(user_id=7, session_key="session-j")  # from any thread
        while prepared.waiting() > 1:
            await asyncio.sleep(0)
        await prepared.close_all()
        assert [upstream.ended for upstream in upstreams] == ["closed", "closed", "closed"]

    scenario(body)


def test_a_login_under_way_is_cancelled_when_discarded() -> None:
    async def body(prepared: PreparedUpstreams, logins: Logins) -> None:
        prepared.prepare("t1", owner=JEANNE, connect=logins.connect, lifetime=60)
        await started(prepared, logins, 1)
        await prepared.discard("t1")
        await prepared.close_all()
        assert logins.results[0].cancelled()

    scenario(body)


def test_a_few_preparations_per_user_at_most_the_newest_kept() -> None:
    async def body(prepared: PreparedUpstreams, logins: Logins) -> None:
        evicted_before = METRICS.upstreams_prepared["evicted"]
        for number in range(MAX_PER_USER + 2):
            prepared.prepare(f"j{number}", owner=JEANNE, connect=logins.connect, lifetime=60)
        prepared.prepare("o1", owner=OLIVER, connect=logins.connect, lifetime=60)
        while len(logins.results) < MAX_PER_USER + 3:
            await asyncio.sleep(0)
        assert prepared.waiting() == MAX_PER_USER + 1  # jeanne's newest, and oliver's
        assert METRICS.upstreams_prepared["evicted"] == evicted_before + 2
        for result in logins.results:
            if not result.done():
                result.set_result(FakeUpstream())
        # The evicted tokens find nothing prepared (the relay then logs in itself)...
        assert await prepared.claim("j0", owner=JEANNE) is None
        assert await prepared.claim("j1", owner=JEANNE) is None
        # ...and their logins, under way when evicted, were cancelled.
        assert [result.cancelled() for result in logins.results[:2]] == [True, True]
        assert await prepared.claim(f"j{MAX_PER_USER + 1}", owner=JEANNE) is not None
        assert await prepared.claim("o1", owner=OLIVER) is not None

    scenario(body)


def test_nothing_is_prepared_outside_a_serving_evim() -> None:
    prepared, logins = PreparedUpstreams(), Logins()
    assert not prepared.prepare("t1", owner=JEANNE, connect=logins.connect, lifetime=60)
    assert prepared.waiting() == 0


def test_the_owner_found_by_the_credentials_view_serves_the_handshake_for_a_while() -> None:
    async def body(prepared: PreparedUpstreams, logins: Logins) -> None:
        prepared.prepare("t1", owner=JEANNE, connect=logins.connect, lifetime=60)
        await started(prepared, logins, 1)
        assert prepared.owner_of("session-j", max_age=5) == JEANNE
        assert prepared.owner_of("session-o", max_age=5) is None
        await asyncio.sleep(0.02)
        assert prepared.owner_of("session-j", max_age=0.01) is None  # too old: look it up
        logins.results[0].set_result(FakeUpstream())
        await prepared.claim("t1", owner=JEANNE)
        assert prepared.owner_of("session-j", max_age=5) is None  # its token is spent

    scenario(body)
