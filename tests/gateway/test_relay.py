"""The relay core as a script of frames, with the browser and the upstream played by the test
(the end-to-end tests in test_gateway_websocket.py use the real ones)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from evim.gateway.relay import Relay, RelayHooks, RelayLimits, StreamOwner
from evim.gateway.upstream import AuthenticatedUpstream, UpstreamClosed, UpstreamError
from evim.gateway.upstream.ending import CONNECTION_FAILED

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
OPEN = f"<open xmlns='{FRAMING}' to='evim.test' version='1.0'/>"
OWNER = StreamOwner(user_id=7, session_key="s", jid="jeanne@evim.test")
LIMITS = RelayLimits(max_stanza_bytes=10_000, frames_per_second=5, frame_burst=20)


def auth(token: str = "good-token", user: str = "jeanne") -> str:
    payload = base64.b64encode(f"\0{user}\0{token}".encode()).decode()
    return f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"


@dataclass
class ScriptedBrowser:
    frames: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    sent: list[str] = field(default_factory=list)
    closed: bool = False

    async def receive(self) -> str | None:
        return await self.frames.get()

    async def send(self, frame: str) -> None:
        self.sent.append(frame)

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeUpstream:
    stream_id: str = "upstream-1"
    features_frame: str = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>"
    received: list[str] = field(default_factory=list)
    incoming: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    ended: str = ""

    async def send(self, frame: str) -> None:
        self.received.append(frame)

    async def receive(self) -> str:
        frame = await self.incoming.get()
        if frame is None:
            raise UpstreamClosed("closed", "the server closed the stream")
        return frame

    async def close(self) -> None:
        self.ended = "closed"

    async def abort(self) -> None:
        self.ended = "aborted"


def hooks(
    upstream: AuthenticatedUpstream | UpstreamError,
) -> RelayHooks:
    async def redeem(token: str) -> bool:
        return token == "good-token"

    async def connect(token: str) -> AuthenticatedUpstream:
        assert token == "good-token"  # only a redeemed token leads upstream
        if isinstance(upstream, UpstreamError):
            raise upstream
        return upstream

    return RelayHooks(redeem_token=redeem, connect_upstream=connect)


async def play(
    frames: list[str | None],
    upstream: AuthenticatedUpstream | UpstreamError,
    during: Callable[[Relay], Awaitable[None]] | None = None,
) -> ScriptedBrowser:
    browser = ScriptedBrowser()
    relay = Relay(browser, OWNER, hooks=hooks(upstream), limits=LIMITS)
    for frame in frames:
        browser.frames.put_nowait(frame)
    running = asyncio.create_task(relay.run())
    if during is not None:
        await during(relay)
    await asyncio.wait_for(running, 5)
    return browser


def test_authenticated_stream_relays_both_ways() -> None:
    upstream = FakeUpstream()
    message = "<message xmlns='jabber:client' to='camille@evim.test'><body>Salut</body></message>"

    async def conversation(relay: Relay) -> None:
        upstream.incoming.put_nowait(
            "<message xmlns='jabber:client'><body>Réponse</body></message>"
        )
        upstream.incoming.put_nowait(None)

    browser = asyncio.run(play([OPEN, auth(), OPEN, message], upstream, conversation))
    assert any("<success" in frame for frame in browser.sent)
    assert any(frame.startswith("<open") and "upstream-1" in frame for frame in browser.sent)
    assert upstream.features_frame in browser.sent
    assert any("Réponse" in frame for frame in browser.sent)
    assert browser.sent[-1].startswith("<close")


def test_a_wrong_token_never_reaches_the_server() -> None:
    upstream = FakeUpstream()
    browser = asyncio.run(play([OPEN, auth(token="stolen")], upstream))
    assert "<not-authorized/>" in browser.sent[-2]
    assert upstream.received == []
    assert browser.closed


def test_another_users_name_is_refused() -> None:
    browser = asyncio.run(play([OPEN, auth(user="camille")], FakeUpstream()))
    assert "<not-authorized/>" in browser.sent[-2]


def test_an_unreachable_server_gives_an_error_the_client_can_show() -> None:
    down = UpstreamError("remote-connection-failed", "connection refused")
    browser = asyncio.run(play([OPEN, auth()], down))
    error = browser.sent[-2]
    assert "<remote-connection-failed" in error
    assert "The chat server cannot be reached right now" in error
    assert browser.closed


class LostUpstream(FakeUpstream):
    """A server whose connection drops once the stream is up (Prosody killed)."""

    async def receive(self) -> str:
        await super().receive()
        raise UpstreamClosed(CONNECTION_FAILED, "the server closed the connection")


def test_a_server_lost_mid_stream_is_a_shutdown_clients_come_back_after() -> None:
    upstream = LostUpstream()
    upstream.incoming.put_nowait("<presence xmlns='jabber:client'/>")
    browser = asyncio.run(play([OPEN, auth(), OPEN], upstream))
    assert "<system-shutdown" in browser.sent[-2]
    assert "The connection to the chat server was lost." in browser.sent[-2]
    assert browser.sent[-1].startswith("<close")


def test_refused_stored_credentials_say_who_can_fix_it() -> None:
    refused = UpstreamError("not-authorized", "server said not-authorized")
    browser = asyncio.run(play([OPEN, auth()], refused))
    assert "<temporary-auth-failure/>" in browser.sent[-2]
    assert "ask an administrator" in browser.sent[-2]


def test_a_page_navigation_keeps_the_server_session() -> None:
    upstream = FakeUpstream()
    asyncio.run(play([OPEN, auth(), OPEN, None], upstream))
    assert upstream.ended == "aborted"


def test_closing_the_chat_ends_the_server_session() -> None:
    upstream = FakeUpstream()
    browser = asyncio.run(play([OPEN, auth(), OPEN, f"<close xmlns='{FRAMING}'/>"], upstream))
    assert upstream.ended == "closed"
    assert browser.sent[-1].startswith("<close")


def test_a_flood_is_cut_off() -> None:
    upstream = FakeUpstream()
    flood = ["<presence xmlns='jabber:client'/>"] * 100
    browser = asyncio.run(play([OPEN, auth(), OPEN, *flood], upstream))
    assert "<policy-violation" in browser.sent[-2]
    assert len(upstream.received) < 40
    assert upstream.ended == "closed"


def test_logging_out_ends_the_stream() -> None:
    upstream = FakeUpstream()

    async def log_out(relay: Relay) -> None:
        relay.request_end("logged out")  # honoured as soon as the stream is relayed

    browser = asyncio.run(play([OPEN, auth(), OPEN], upstream, log_out))
    assert "The chat ended: logged out." in browser.sent[-2]
    assert browser.closed
