"""The upstream over the managed Prosody's own WebSocket (RFC 7395): :func:`connect_websocket`.

Prosody's ``mod_websocket`` speaks the same framing as the browser, so once authenticated
the frames pass through unchanged, both ways: :meth:`WebSocketUpstream.send` and
:meth:`WebSocketUpstream.receive` never parse a stanza (only the first characters of a
received frame are looked at, to notice ``<close/>`` and ``<stream:error>``).

What Prosody 0.12 sends (measured): ``<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'
version='1.0' id='…' xml:lang='en' from='DOMAIN'/>``, then ``<stream:features
xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>…`` (every element
it sends carries ``xmlns='jabber:client'`` when it has no namespace of its own); for a domain
it does not serve, ``<open/>``, ``<stream:error …><host-unknown …/>…`` and ``<close/>``.
Over a loopback WebSocket it offers PLAIN and SCRAM-SHA-1 (``consider_websocket_secure``);
SCRAM is used.

Ending a connection (``mod_websocket.lua``, ``mod_c2s.lua``, ``mod_smacks.lua`` in 0.12):

- the XMPP ``<close/>`` becomes ``</stream:stream>`` for mod_c2s, which closes the session
  (``session:close``): mod_smacks revokes the resumption token — the session ends;
- a WebSocket close frame, whatever its code, is answered with a close frame and the TCP
  connection is closed — exactly like a dropped TCP connection, it reaches mod_c2s as a
  disconnection (``ondisconnect`` → ``destroy_session``), and mod_smacks hibernates a
  session that enabled resumption.

So :meth:`~WebSocketUpstream.close` sends ``<close/>`` and waits for Prosody to end the
connection, and :meth:`~WebSocketUpstream.abort` closes the TCP connection at once, with no
``<close/>`` and no closing handshake (nothing to wait for, even from a server that stopped
answering): Prosody keeps the session for XEP-0198 resumption.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Origin, Subprotocol

from evim.gateway.upstream import UpstreamError
from evim.gateway.upstream.ending import CLEAN_CLOSE, StreamEnding
from evim.gateway.upstream.sasl import (
    STREAMS_NS,
    authenticate,
    authenticate_anonymous,
    parse_frame,
    stream_error,
)
from evim.lib.network import is_loopback_host

FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
CLOSE_FRAME = f"<close xmlns='{FRAMING_NS}'/>"
#: Largest frame accepted from the server: Prosody's stanza limit (``c2s_stanza_size_limit``,
#: 256 KiB) plus room for what wraps a stanza of that size (carbons, MAM results, delays).
MAX_FRAME_SIZE = 256 * 1024 + 16 * 1024

# The first characters of the frames that end a stream: RFC 7395's <close/> and a stream
# error (Prosody writes <stream:error xmlns:stream=…>; other servers may write <error xmlns=…>).
_END_PREFIXES = ("<close", "<stream:error", "<error")


def open_frame(domain: str) -> str:
    return f"<open xmlns='{FRAMING_NS}' to={quoteattr(domain)} version='1.0'/>"


def plain_allowed(url: str) -> bool:
    """Whether SASL PLAIN may be used on the WebSocket at ``url`` (if nothing better is
    offered): over TLS, or on the loopback interface."""
    parts = urlsplit(url)
    return parts.scheme == "wss" or is_loopback_host(parts.hostname)


class WebSocketUpstream(StreamEnding):
    """An authenticated stream over a WebSocket; see :class:`AuthenticatedUpstream`."""

    def __init__(
        self,
        connection: ClientConnection,
        *,
        stream_id: str,
        features_frame: str,
        close_timeout: float,
    ) -> None:
        super().__init__(close_timeout=close_timeout)
        self.connection = connection
        self.stream_id = stream_id
        self.features_frame = features_frame

    async def send(self, frame: str) -> None:
        self._ensure_open()
        try:
            await self.connection.send(frame)
        except ConnectionClosed:
            raise self._closed_error() from None

    async def receive(self) -> str:
        self._ensure_open()
        try:
            frame = await self.connection.recv(decode=True)
        except ConnectionClosed:
            raise self._closed_error() from None
        if frame.startswith(_END_PREFIXES):
            await self._end_of_stream(frame)  # raises if it is one
        return frame

    # --- how the stream ends (see ending.py) --------------------------------------------

    async def _send_end_of_stream(self) -> None:
        if self._first_end_of_stream():
            with contextlib.suppress(ConnectionClosed):
                await self.connection.send(CLOSE_FRAME)
        # Prosody answers <close/> by closing the WebSocket itself once the session is
        # ended; a WebSocket close frame sent before it has read <close/> would only make
        # it hibernate the session.  websockets stops reading the socket while max_queue
        # received frames wait for recv(), and nobody may read them any more: read on
        # regardless (the queue grows by what Prosody still sends, then it closes), or
        # Prosody's end of the connection would go unnoticed until the timeout.
        self.connection.transport.resume_reading()

    async def _connection_lost(self) -> None:
        await self.connection.wait_closed()

    async def _drop(self) -> None:
        self.connection.transport.abort()
        await self.connection.wait_closed()

    async def _end_of_stream(self, frame: str) -> None:
        """Raise UpstreamClosed if ``frame`` ends the stream (else return)."""
        element = parse_frame(frame)
        if element.tag == f"{{{FRAMING_NS}}}close":
            ended = self._end(CLEAN_CLOSE, "the server closed the stream")
            if self._first_end_of_stream():  # RFC 7395 §3.6: answer the server's <close/>
                with contextlib.suppress(ConnectionClosed):
                    await self.connection.send(CLOSE_FRAME)
            raise ended
        if element.tag == f"{{{STREAMS_NS}}}error":
            error = stream_error(element)
            raise self._end(error.condition, error.detail)


async def connect_websocket(
    *,
    url: str,
    domain: str,
    jid: str,
    password: str,
    timeout: float,
    origin: str | None = None,
    anonymous: bool = False,
) -> WebSocketUpstream:
    """Connect to the XMPP WebSocket at ``url``, open a stream to ``domain``, authenticate
    as ``jid`` with ``password`` and restart the stream; all within ``timeout`` seconds.

    Raises UpstreamError: ``connection-timeout``, ``remote-connection-failed`` (refused,
    not a WebSocket, no ``xmpp`` subprotocol, protocol errors), ``not-authorized``
    (credentials refused), or the server's stream error (``host-unknown``...).

    ``anonymous``: SASL ANONYMOUS on ``domain`` (an anonymous host; ``jid`` and
    ``password`` are not used) — the server gives the stream an address of its own.
    """
    connection: ClientConnection | None = None
    try:
        async with asyncio.timeout(timeout):
            connection = await connect(
                url,
                origin=Origin(origin) if origin is not None else None,
                subprotocols=[Subprotocol("xmpp")],
                compression=None,
                proxy=None,
                open_timeout=None,  # the whole exchange is under `timeout`
                ping_interval=None,  # Prosody pings idle WebSockets itself
                close_timeout=timeout,
                max_size=MAX_FRAME_SIZE,
            )
            if connection.subprotocol != "xmpp":
                raise UpstreamError(
                    "remote-connection-failed", f"{url} does not speak XMPP over WebSocket"
                )
            setup = _Setup(connection, domain)
            features = await setup.open_stream()
            if anonymous:
                await authenticate_anonymous(
                    send=setup.send, receive=setup.receive, features_frame=features
                )
            else:
                await authenticate(
                    send=setup.send,
                    receive=setup.receive,
                    features_frame=features,
                    jid=jid,
                    password=password,
                    allow_plain=plain_allowed(url),
                )
            features = await setup.open_stream()
            upstream = WebSocketUpstream(
                connection,
                stream_id=setup.stream_id,
                features_frame=features,
                close_timeout=timeout,
            )
    except TimeoutError:
        _drop(connection)
        raise UpstreamError(
            "connection-timeout", f"no answer from {url} within {timeout:g} s"
        ) from None
    except UpstreamError:
        _drop(connection)
        raise
    except (OSError, InvalidHandshake, InvalidURI) as error:
        _drop(connection)
        raise UpstreamError(
            "remote-connection-failed", f"cannot connect to {url}: {_describe(error)}"
        ) from None
    except BaseException:
        _drop(connection)
        raise
    return upstream


class _Setup:
    """The frames before the relay starts: stream opening and SASL."""

    def __init__(self, connection: ClientConnection, domain: str) -> None:
        self.connection = connection
        self.domain = domain
        self.stream_id = ""

    async def send(self, frame: str) -> None:
        try:
            await self.connection.send(frame)
        except ConnectionClosed:
            raise UpstreamError(
                "remote-connection-failed", "the server closed the connection during login"
            ) from None

    async def receive(self) -> str:
        try:
            frame = await self.connection.recv(decode=True)
        except ConnectionClosed:
            raise UpstreamError(
                "remote-connection-failed", "the server closed the connection during login"
            ) from None
        if frame.startswith(_END_PREFIXES):
            element = parse_frame(frame)
            if element.tag == f"{{{STREAMS_NS}}}error":
                raise stream_error(element)
            if element.tag == f"{{{FRAMING_NS}}}close":
                raise UpstreamError(
                    "remote-connection-failed", "the server closed the stream during login"
                )
        return frame

    async def open_stream(self) -> str:
        """Send ``<open/>``; returns the server's features frame (after its ``<open/>``)."""
        await self.send(open_frame(self.domain))
        opened = parse_frame(await self.receive())
        if opened.tag != f"{{{FRAMING_NS}}}open":
            raise UpstreamError("remote-connection-failed", f"expected <open/>, got {opened.tag}")
        self.stream_id = opened.get("id", "")
        features = await self.receive()
        if parse_frame(features).tag != f"{{{STREAMS_NS}}}features":
            raise UpstreamError("remote-connection-failed", "expected the stream features")
        return features


def _drop(connection: ClientConnection | None) -> None:
    if connection is not None:
        connection.transport.abort()


def _describe(error: BaseException) -> str:
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
