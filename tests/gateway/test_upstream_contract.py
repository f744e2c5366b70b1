"""What every upstream promises the relay (evim.gateway.upstream.AuthenticatedUpstream),
checked on each: the managed Prosody's WebSocket, a TCP XML stream and BOSH, against the
session's real Prosody."""

from __future__ import annotations

import pytest

from evim.gateway.upstream import UpstreamClosed
from evim.gateway.upstream.ending import CLEAN_CLOSE
from tests.fixtures.prosody import RunningProsody
from tests.gateway.test_upstream_bosh import bosh_upstream
from tests.gateway.test_upstream_tcp import start_tag, tcp_upstream
from tests.gateway.test_upstream_websocket import (
    Connect,
    bind,
    enable_resumption,
    receive_until,
    run,
    try_resume,
    upstream_for,
)

CONNECTORS: dict[str, Connect] = {
    "websocket": upstream_for,
    "tcp": tcp_upstream,
    "bosh": bosh_upstream,
}


@pytest.fixture(params=sorted(CONNECTORS))
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


#: The upstreams offering stream management: not BOSH (test_upstream_bosh.py says why and
#: checks its own abort and close).
@pytest.fixture(params=["tcp", "websocket"])
def resumable(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_abort_keeps_the_session_for_resumption(
    managed_prosody: RunningProsody, resumable: str
) -> None:
    transport = resumable
    jid = managed_prosody.register(f"{transport}-sm-abort", "sm-secret")
    connect = CONNECTORS[transport]

    async def scenario() -> None:
        upstream = await connect(managed_prosody, jid, "sm-secret")
        full_jid = await bind(upstream)
        previd = await enable_resumption(upstream)
        await upstream.abort()
        with pytest.raises(UpstreamClosed) as raised:
            await upstream.receive()
        assert raised.value.condition == CLEAN_CLOSE

        answer = await try_resume(managed_prosody, jid, "sm-secret", previd, connect=connect)
        assert answer.startswith("<resumed ") and f"previd='{previd}'" in answer, answer
        assert "xmlns='urn:xmpp:sm:3'" in start_tag(answer)
        assert full_jid.startswith(f"{jid}/")

    run(scenario())


def test_close_ends_the_session(managed_prosody: RunningProsody, resumable: str) -> None:
    transport = resumable
    jid = managed_prosody.register(f"{transport}-sm-close", "sm-secret")
    connect = CONNECTORS[transport]

    async def scenario() -> None:
        upstream = await connect(managed_prosody, jid, "sm-secret")
        await bind(upstream)
        previd = await enable_resumption(upstream)
        await upstream.close()
        with pytest.raises(UpstreamClosed) as raised:
            await upstream.receive()
        assert raised.value.condition == CLEAN_CLOSE
        with pytest.raises(UpstreamClosed):
            await upstream.send("<presence xmlns='jabber:client'/>")

        answer = await try_resume(managed_prosody, jid, "sm-secret", previd, connect=connect)
        assert answer.startswith("<failed "), answer

    run(scenario())


def test_a_stream_error_from_the_server_ends_receive(
    managed_prosody: RunningProsody, transport: str
) -> None:
    """A second session binding the same resource makes Prosody replace the first one
    with a <stream:error><conflict/>: its receive() raises UpstreamClosed("conflict")."""
    jid = managed_prosody.register(f"{transport}-conflict", "conflict-secret")
    connect = CONNECTORS[transport]

    async def scenario() -> None:
        first = await connect(managed_prosody, jid, "conflict-secret")
        second = await connect(managed_prosody, jid, "conflict-secret")
        try:
            await bind(first, "same")
            await bind(second, "same")
            with pytest.raises(UpstreamClosed) as raised:
                await receive_until(first, "never matches: the stream ends first")
            assert raised.value.condition == "conflict"
            with pytest.raises(UpstreamClosed):  # and keeps saying so
                await first.receive()
            with pytest.raises(UpstreamClosed):
                await first.send("<presence xmlns='jabber:client'/>")
        finally:
            await first.abort()
            await second.close()

    run(scenario())
