"""The upstream over the managed Prosody's WebSocket (evim.gateway.upstream.websocket),
against the real Prosody of the session."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import pytest

from evim.gateway.upstream import AuthenticatedUpstream, UpstreamClosed, UpstreamError
from evim.gateway.upstream.websocket import (
    WebSocketUpstream,
    connect_websocket,
    plain_allowed,
)
from tests.fixtures.prosody import RunningProsody, free_ports

TIMEOUT = 10.0
BIND = (
    "<iq type='set' id='b1' xmlns='jabber:client'>"
    "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{resource}</bind></iq>"
)


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(60):
            await coroutine

    asyncio.run(bounded())


async def upstream_for(
    prosody: RunningProsody, jid: str, password: str, **options: Any
) -> WebSocketUpstream:
    return await connect_websocket(
        url=prosody.websocket_url,
        domain=prosody.domain,
        jid=jid,
        password=password,
        timeout=TIMEOUT,
        **options,
    )


async def receive_until(upstream: AuthenticatedUpstream, pattern: str) -> str:
    """Frames until one matches ``pattern`` (presences, roster pushes... are skipped)."""
    while True:
        frame = await asyncio.wait_for(upstream.receive(), TIMEOUT)
        if re.search(pattern, frame):
            return frame


async def bind(upstream: AuthenticatedUpstream, resource: str = "") -> str:
    """Bind a resource; returns the full JID."""
    await upstream.send(
        BIND.format(resource=f"<resource>{resource}</resource>" if resource else "")
    )
    result = await receive_until(upstream, "id='b1'")
    assert "type='result'" in result, result
    found = re.search(r"<jid>([^<]+)</jid>", result)
    assert found is not None, result
    return found.group(1)


async def enable_resumption(upstream: AuthenticatedUpstream) -> str:
    """Enable stream management with resumption; returns the resumption id."""
    await upstream.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    enabled = await receive_until(upstream, "<enabled ")
    found = re.search(r"id='([^']+)'", enabled)
    assert found is not None and "resume='true'" in enabled, enabled
    return found.group(1)


Connect = Callable[[RunningProsody, str, str], Awaitable[AuthenticatedUpstream]]


async def try_resume(
    prosody: RunningProsody, jid: str, password: str, previd: str, *, connect: Connect
) -> str:
    """The answer of a new stream (made by ``connect``) that asks to resume ``previd``."""
    upstream = await connect(prosody, jid, password)
    try:
        await upstream.send(f"<resume xmlns='urn:xmpp:sm:3' previd='{previd}' h='0'/>")
        return await receive_until(upstream, "<resumed |<failed ")
    finally:
        await upstream.close()


def test_authenticate_bind_and_exchange_a_message(managed_prosody: RunningProsody) -> None:
    alice = managed_prosody.register("ws-alice", "alice-secret")
    bob = managed_prosody.register("ws-bob", "bob-secret")

    async def scenario() -> None:
        to_alice = await upstream_for(
            managed_prosody, alice, "alice-secret", origin="http://127.0.0.1:8000"
        )
        to_bob = await upstream_for(managed_prosody, bob, "bob-secret")
        try:
            for upstream in (to_alice, to_bob):
                assert upstream.stream_id
                assert upstream.features_frame.startswith("<stream:features")
                assert "urn:ietf:params:xml:ns:xmpp-bind" in upstream.features_frame
                assert "urn:xmpp:sm:3" in upstream.features_frame
                assert "mechanisms" not in upstream.features_frame  # post-authentication
            assert to_alice.stream_id != to_bob.stream_id
            alice_full = await bind(to_alice)
            bob_full = await bind(to_bob, "desk")
            assert alice_full.startswith(f"{alice}/")
            assert bob_full == f"{bob}/desk"

            body = 'Répétition générale à 20 h <ok> & "merci"'
            await to_alice.send(
                f"<message xmlns='jabber:client' to='{bob_full}' type='chat' id='m1'>"
                f"<body>{escape(body)}</body></message>"
            )
            message = ElementTree.fromstring(await receive_until(to_bob, "id='m1'"))
            assert message.tag == "{jabber:client}message"
            assert message.get("from") == alice_full
            assert message.findtext("{jabber:client}body") == body

            # Up to Prosody's stanza size limit (256 KiB), in one frame each way.
            large = "x" * 250_000
            await to_alice.send(
                f"<message xmlns='jabber:client' to='{bob_full}' id='m2'><body>{large}</body>"
                "</message>"
            )
            received = await receive_until(to_bob, "id='m2'")
            assert f"<body>{large}</body>" in received
        finally:
            await to_alice.close()
            await to_bob.close()

    run(scenario())


def test_wrong_password_is_not_authorized(managed_prosody: RunningProsody) -> None:
    jid = managed_prosody.register("ws-wrong", "the-right-one")

    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await upstream_for(managed_prosody, jid, "a-wrong-password-42")
        assert raised.value.condition == "not-authorized"
        assert not isinstance(raised.value, UpstreamClosed)
        for text in (str(raised.value), repr(raised.value), raised.value.detail):
            assert "a-wrong-password-42" not in text
            assert "the-right-one" not in text

    run(scenario())


def test_a_domain_the_server_does_not_serve_is_host_unknown(
    managed_prosody: RunningProsody,
) -> None:
    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await connect_websocket(
                url=managed_prosody.websocket_url,
                domain="elsewhere.test",
                jid="someone@elsewhere.test",
                password="whatever",
                timeout=TIMEOUT,
            )
        assert raised.value.condition == "host-unknown"
        assert "elsewhere.test" in raised.value.detail

    run(scenario())


def test_closed_port_is_remote_connection_failed() -> None:
    (port,) = free_ports(1)

    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await connect_websocket(
                url=f"ws://127.0.0.1:{port}/xmpp-websocket",
                domain="evim.test",
                jid="a@evim.test",
                password="x",
                timeout=TIMEOUT,
            )
        assert raised.value.condition == "remote-connection-failed"
        assert str(port) in raised.value.detail

    run(scenario())


def test_an_http_endpoint_that_is_not_xmpp_is_remote_connection_failed(
    managed_prosody: RunningProsody,
) -> None:
    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await connect_websocket(
                url=f"ws://127.0.0.1:{managed_prosody.http_port}/no-such-endpoint",
                domain=managed_prosody.domain,
                jid=managed_prosody.jid("nobody"),
                password="x",
                timeout=TIMEOUT,
            )
        assert raised.value.condition == "remote-connection-failed"

    run(scenario())


def test_a_server_that_never_answers_is_connection_timeout() -> None:
    timeout = 0.5
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never answers
        port = silent.getsockname()[1]

        async def scenario() -> None:
            started = time.monotonic()
            with pytest.raises(UpstreamError) as raised:
                await connect_websocket(
                    url=f"ws://127.0.0.1:{port}/xmpp-websocket",
                    domain="evim.test",
                    jid="a@evim.test",
                    password="x",
                    timeout=timeout,
                )
            elapsed = time.monotonic() - started
            assert raised.value.condition == "connection-timeout"
            assert timeout <= elapsed < timeout + 0.5

        run(scenario())


def test_close_does_not_wait_on_unread_frames(managed_prosody: RunningProsody) -> None:
    """Frames nobody reads fill websockets' queue, which then stops reading the socket;
    close() must still see Prosody end the connection, at once and not after its timeout."""
    jid = managed_prosody.register("ws-unread", "unread-secret")
    sender = managed_prosody.register("ws-chatty", "chatty-secret")

    async def scenario() -> None:
        upstream = await upstream_for(managed_prosody, jid, "unread-secret")
        chatty = await upstream_for(managed_prosody, sender, "chatty-secret")
        try:
            full_jid = await bind(upstream)
            previd = await enable_resumption(upstream)
            await bind(chatty)
            for number in range(100):
                await chatty.send(
                    f"<message xmlns='jabber:client' to='{full_jid}' id='n{number}'>"
                    f"<body>{number}</body></message>"
                )
            # Prosody answers the ping after routing every message before it.
            await chatty.send(
                f"<iq xmlns='jabber:client' type='get' id='p1' to='{managed_prosody.domain}'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>"
            )
            await receive_until(chatty, "id='p1'")
            started = time.monotonic()
            await upstream.close()
            assert time.monotonic() - started < TIMEOUT / 4
        finally:
            await chatty.close()
        answer = await try_resume(
            managed_prosody, jid, "unread-secret", previd, connect=upstream_for
        )
        assert answer.startswith("<failed "), answer

    run(scenario())


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("ws://127.0.0.1:5280/xmpp-websocket", True),
        ("ws://[::1]:5280/xmpp-websocket", True),
        ("ws://localhost:5280/xmpp-websocket", True),
        ("wss://chat.example.org/xmpp-websocket", True),
        ("ws://chat.example.org/xmpp-websocket", False),
        ("ws://192.0.2.10:5280/xmpp-websocket", False),
        ("ws://localhost.example.org/xmpp-websocket", False),
    ],
)
def test_plain_only_over_tls_or_loopback(url: str, allowed: bool) -> None:
    assert plain_allowed(url) is allowed
