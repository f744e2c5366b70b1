"""The upstream over a TCP XML stream (RFC 6120) to any XMPP server: :func:`connect_tcp`.

For the accounts of servers other than the managed Prosody.  The server is found by
:class:`~evim.xmpp.addresses.ServerLocator` (evim's own domain, overrides, DNS SRV
records, else the domain on port 5222); its addresses are tried in order, moving on while
no XMPP server answered there (connection refused, unreachable, a host name that does not
resolve, a direct-TLS handshake that fails).  Once one sends its stream header, it is the
server: whatever goes wrong after that is the answer.

TLS is mandatory: a STARTTLS address must offer ``<starttls/>`` (RFC 6120 §5), a direct-TLS
address (XEP-0368) speaks TLS from the first byte.  The certificate must be valid for the
JID's domain and signed by the target's CA (:func:`evim.xmpp.tls.client_ssl_context`).
Then SASL (:func:`evim.gateway.upstream.sasl.authenticate`; PLAIN is allowed, the stream
being encrypted) and the stream restart, whose stream id and features the upstream keeps.

The translation to RFC 7395 frames is :mod:`evim.gateway.framing`'s: the server's bytes go
through a :class:`~evim.gateway.framing.StreamSplitter` (``<stream:stream>`` becomes
``<open/>``, every element gets the namespaces it inherited declared on it — the very
frames Prosody's ``mod_websocket`` sends — and ``</stream:stream>`` becomes ``<close/>``);
frames to the server go through :func:`~evim.gateway.framing.frame_to_stream`.  Measured
with Prosody 0.12: its features, messages and iq results over TCP are the frames its
WebSocket gives, element for element, but for the order of attributes (Prosody's own
serialisation does not keep one).

Ending a connection mirrors :mod:`evim.gateway.upstream.websocket`:
:meth:`TcpUpstream.close` sends ``</stream:stream>`` (the server ends the session and, with
XEP-0198, revokes its resumption) and waits for the server to close the connection;
:meth:`TcpUpstream.abort` drops the TCP connection at once, without ``</stream:stream>``
nor a TLS ``close_notify``: to the server it is a lost connection, and a session that
enabled resumption hibernates.

Reading runs in the :class:`asyncio.Protocol` :class:`_XmlStream`: each chunk is cut into
frames as it arrives; reading pauses while more than :data:`HIGH_WATER` characters of frames
wait for :meth:`TcpUpstream.receive`, and :meth:`TcpUpstream.close` discards them, so that
the server's end of the connection is noticed even when nobody reads any more.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl

from evim.gateway.framing import (
    STREAM_CLOSE,
    STREAMS_NS,
    FrameError,
    FrameKind,
    ServerFrame,
    StreamSplitter,
    frame_to_stream,
)
from evim.gateway.upstream import UpstreamError
from evim.gateway.upstream.ending import CLEAN_CLOSE, CONNECTION_FAILED, StreamEnding
from evim.gateway.upstream.sasl import authenticate, parse_frame, stream_error
from evim.gateway.upstream.websocket import MAX_FRAME_SIZE, open_frame
from evim.xmpp.addresses import ResolutionError, ServerAddress, ServerLocator
from evim.xmpp.tls import CAFileError, client_ssl_context

TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
STARTTLS_ELEMENT = f"<starttls xmlns='{TLS_NS}'/>"
#: Reading from the server pauses while this many characters of frames wait to be received,
#: and resumes under :data:`LOW_WATER`.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024

#: When no address could be used: which failure to report (the one that got furthest).
_FAILURE_RANK = {"certificate": 4, "tls": 3, "connect": 2, "host": 1}


class _XmlStream(asyncio.Protocol):
    """One TCP (or TLS) connection to an XMPP server, cut into frames as bytes arrive.

    :meth:`next_frame` gives them one by one (a single reader at a time); ``None`` once the
    connection has ended and every frame was taken.  Bytes that are not a well-formed XMPP
    stream end the connection: :meth:`next_frame` then raises the :class:`FrameError`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.splitter = StreamSplitter(max_size=MAX_FRAME_SIZE)
        self.transport: asyncio.Transport | None = None
        self.error: FrameError | None = None
        self.ended = False  # no more bytes will come (end of file, or connection lost)
        self._lost: asyncio.Future[None] = loop.create_future()
        self._frames: collections.deque[ServerFrame] = collections.deque()
        self._buffered = 0  # characters of text in _frames
        self._reading_paused = False
        self._discarding = False
        self._waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._discarding or self.error is not None:
            return
        try:
            frames = self.splitter.feed(data)
        except FrameError as error:
            self.error = error
            if self.transport is not None:
                self.transport.abort()
            self._wake()
            return
        if not frames:
            return
        self._frames.extend(frames)
        self._buffered += sum(len(frame.text) for frame in frames)
        if self._buffered > HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self.ended = True
        self._wake()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        if not self._lost.done():
            self._lost.set_result(None)
        self._wake()
        self._release_writers()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._release_writers()

    # --- reading ----------------------------------------------------------------------------

    async def next_frame(self) -> ServerFrame | None:
        while not self._frames:
            if self.error is not None:
                raise self.error
            if self.ended:
                return None
            if self._waiter is not None:
                raise RuntimeError("two coroutines read the same XMPP stream")
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frame = self._frames.popleft()
        self._buffered -= len(frame.text)
        if self._reading_paused and self._buffered <= LOW_WATER:
            self._resume_reading()
        return frame

    @property
    def pending(self) -> int:
        """How many frames wait to be read."""
        return len(self._frames)

    def discard(self) -> None:
        """Drop every frame, waiting or to come, and read on (to notice the end)."""
        self._discarding = True
        self._frames.clear()
        self._buffered = 0
        self._resume_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- writing and ending -------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Send ``data``; waits while the transport's buffer is full.  ConnectionError if
        the connection is closed or closing."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._lost.done():
            raise ConnectionResetError("the connection is closed")
        transport.write(data)
        while self._writing_paused and not self._lost.done():
            waiter = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter
        if self._lost.done():
            raise ConnectionResetError("the connection is closed")

    def write_last(self, data: bytes) -> None:
        """Send ``data`` without waiting for the buffer to drain (the end of a stream: a
        server that stopped reading must not hold the caller); nothing if closed."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _release_writers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """Close once the buffered bytes are sent (and end TLS with ``close_notify``)."""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once: nothing more is sent, not even TLS ``close_notify``."""
        if self.transport is not None:
            self.transport.abort()

    async def wait_lost(self) -> None:
        await asyncio.shield(self._lost)


class TcpUpstream(StreamEnding):
    """An authenticated stream over TCP; see :class:`AuthenticatedUpstream`."""

    def __init__(
        self, stream: _XmlStream, *, stream_id: str, features_frame: str, close_timeout: float
    ) -> None:
        super().__init__(close_timeout=close_timeout)
        self._stream = stream
        self.stream_id = stream_id
        self.features_frame = features_frame

    async def send(self, frame: str) -> None:
        """Send one element.  A ``<close/>`` frame ends the stream as :meth:`close` starts
        to; an ``<open/>`` (a stream restart) cannot be relayed: ValueError."""
        self._ensure_open()
        data = frame_to_stream(frame)
        if data == STREAM_CLOSE:
            if not self._first_end_of_stream():
                return
        elif data.startswith(b"<?xml"):
            raise ValueError("a stream restart cannot be relayed to a TCP upstream")
        try:
            await self._stream.write(data)
        except ConnectionError:
            raise self._closed_error() from None

    async def receive(self) -> str:
        self._ensure_open()
        try:
            frame = await self._stream.next_frame()
        except FrameError as error:
            raise self._end(
                CONNECTION_FAILED,
                f"the server broke the XML stream ({error.condition}: {error.detail})",
            ) from None
        if frame is None:
            raise self._closed_error()
        if frame.kind is FrameKind.CLOSE:
            ended = self._end(CLEAN_CLOSE, "the server closed the stream")
            self._answer_end()
            raise ended
        if frame.namespace == STREAMS_NS and frame.name == "error":
            cause = stream_error(parse_frame(frame.text))
            ended = self._end(cause.condition, cause.detail)
            self._answer_end()
            raise ended
        return frame.text

    # --- how the stream ends (see ending.py) --------------------------------------------

    async def _send_end_of_stream(self) -> None:
        # The server answers </stream:stream> by ending the session, then closes the
        # connection.  Frames that come meanwhile are read and dropped, or a reader paused
        # on unread frames would leave the end unnoticed until the timeout.
        self._stream.discard()
        if self._first_end_of_stream():
            self._stream.write_last(STREAM_CLOSE)

    async def _connection_lost(self) -> None:
        await self._stream.wait_lost()

    async def _drop(self) -> None:
        self._stream.abort()
        await self._stream.wait_lost()

    def _answer_end(self) -> None:
        """The server ended the stream: end ours (RFC 6120 §4.4) and close the connection."""
        if self._first_end_of_stream():
            self._stream.write_last(STREAM_CLOSE)
        self._stream.discard()
        self._stream.close()


async def connect_tcp(
    *, jid: str, password: str, timeout: float, locator: ServerLocator | None = None
) -> TcpUpstream:
    """Find the server of ``jid``'s domain (``locator``, else evim's settings), connect with
    TLS, authenticate as ``jid`` with ``password`` and restart the stream; all within
    ``timeout`` seconds.

    Raises UpstreamError: ``host-unknown`` (the domain does not exist or has no XMPP
    service; no address resolves), ``connection-timeout``, ``not-authorized`` (credentials
    refused), ``remote-connection-failed`` (no address accepts a connection, TLS or its
    certificate fails, no STARTTLS, not XMPP, a protocol error), or the server's stream
    error (``host-unknown`` when it does not serve the domain...).
    """
    domain = jid.partition("/")[0].rpartition("@")[2]
    if locator is None:
        try:
            locator = ServerLocator.from_settings()
        except ValueError as error:  # invalid EVIM_XMPP_ADDRESS_OVERRIDES
            raise UpstreamError(CONNECTION_FAILED, str(error)) from None
    attempt = _Attempt(domain)
    try:
        async with asyncio.timeout(timeout):
            attempt.doing = f"the DNS lookup of {domain}"
            try:
                target = await locator.locate(domain)
            except ResolutionError as error:
                raise UpstreamError("host-unknown", str(error)) from None
            except ValueError as error:  # not a domain
                raise UpstreamError("host-unknown", f"cannot locate {domain!r}: {error}") from None
            try:
                context = await asyncio.to_thread(client_ssl_context, target.ca_file)
            except CAFileError as error:
                raise UpstreamError(CONNECTION_FAILED, str(error)) from None
            return await attempt.run(
                target.addresses,
                context=context,
                server_name=target.domain,
                jid=jid,
                password=password,
                close_timeout=timeout,
            )
    except TimeoutError:
        attempt.drop()
        raise UpstreamError(
            "connection-timeout", f"{attempt.doing}: no answer within {timeout:g} s"
        ) from None
    except OSError as error:  # not expected: every step maps its own
        attempt.drop()
        raise UpstreamError(
            CONNECTION_FAILED, f"{attempt.doing}: {error.strerror or error}"
        ) from None
    except BaseException:
        attempt.drop()
        raise


class _Attempt:
    """The connection being set up, and what it is doing (for a timeout's detail)."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.doing = f"locating the server of {domain}"
        self.stream: _XmlStream | None = None
        self.stream_id = ""

    def drop(self) -> None:
        if self.stream is not None:
            self.stream.abort()

    async def run(
        self,
        addresses: tuple[ServerAddress, ...],
        *,
        context: ssl.SSLContext,
        server_name: str,
        jid: str,
        password: str,
        close_timeout: float,
    ) -> TcpUpstream:
        loop = asyncio.get_running_loop()
        failures: list[tuple[str, str]] = []  # (kind, detail)
        for address in addresses:
            self.doing = f"connecting to {address}"
            try:
                stream = await _open_connection(loop, address, context, server_name)
            except OSError as error:
                failures.append(_connect_failure(address, error, server_name))
                continue
            self.stream = stream
            return await self._log_in(
                address,
                context=context,
                server_name=server_name,
                jid=jid,
                password=password,
                close_timeout=close_timeout,
            )
        if not failures:
            raise UpstreamError("host-unknown", f"no address to try for {self.domain}")
        kind, _detail = max(failures, key=lambda failure: _FAILURE_RANK[failure[0]])
        detail = "; ".join(detail for _kind, detail in failures)
        raise UpstreamError("host-unknown" if kind == "host" else CONNECTION_FAILED, detail)

    async def _log_in(
        self,
        address: ServerAddress,
        *,
        context: ssl.SSLContext,
        server_name: str,
        jid: str,
        password: str,
        close_timeout: float,
    ) -> TcpUpstream:
        stream = self.stream
        assert stream is not None and stream.transport is not None
        self.doing = f"opening the XMPP stream at {address}"
        features = await self._open_stream(address, server_name)
        if not address.direct_tls:
            if parse_frame(features).find(f"{{{TLS_NS}}}starttls") is None:
                raise UpstreamError(
                    CONNECTION_FAILED,
                    f"{address} offers no STARTTLS: evim does not log in unencrypted",
                )
            self.doing = f"STARTTLS at {address}"
            await self._send(STARTTLS_ELEMENT)
            answer = await self._next()
            if answer.namespace != TLS_NS or answer.name != "proceed":
                raise UpstreamError(
                    CONNECTION_FAILED, f"{address} refused STARTTLS (<{answer.name}/>)"
                )
            if stream.pending:
                raise UpstreamError(CONNECTION_FAILED, f"{address} sent data after <proceed/>")
            try:
                transport = await stream.loop.start_tls(
                    stream.transport, stream, context, server_hostname=server_name
                )
            except OSError as error:  # ssl.SSLError included
                _kind, detail = _tls_failure(address, error, server_name)
                raise UpstreamError(CONNECTION_FAILED, detail) from None
            if transport is None:
                raise UpstreamError(CONNECTION_FAILED, f"{address}: TLS could not start")
            stream.transport = transport
            self.doing = f"opening the encrypted XMPP stream at {address}"
            features = await self._open_stream(address, server_name)
        self.doing = f"authenticating at {address}"
        await authenticate(
            send=self._send,
            receive=self._receive,
            features_frame=features,
            jid=jid,
            password=password,
            allow_plain=stream.transport.get_extra_info("ssl_object") is not None,
        )
        self.doing = f"restarting the XMPP stream at {address} after authentication"
        features = await self._open_stream(address, server_name)
        return TcpUpstream(
            stream, stream_id=self.stream_id, features_frame=features, close_timeout=close_timeout
        )

    # --- the frames of the setup ---------------------------------------------------------

    async def _open_stream(self, address: ServerAddress, server_name: str) -> str:
        """Open a (new) stream; returns the server's features frame (after its header)."""
        assert self.stream is not None
        self.stream.splitter.reset()
        await self._write(frame_to_stream(open_frame(server_name)))
        opened = await self._next()
        if opened.kind is not FrameKind.OPEN:
            raise UpstreamError(
                CONNECTION_FAILED, f"{address}: expected the stream header, got <{opened.name}>"
            )
        version = opened.attributes.get("version", "0.9")
        if not version.startswith("1."):
            raise UpstreamError(
                CONNECTION_FAILED, f"{address} speaks XMPP {version}, not 1.0 (RFC 6120)"
            )
        self.stream_id = opened.attributes.get("id", "")
        features = await self._next()
        if features.namespace != STREAMS_NS or features.name != "features":
            raise UpstreamError(
                CONNECTION_FAILED,
                f"{address}: expected the stream features, got <{features.name}>",
            )
        return features.text

    async def _send(self, frame: str) -> None:
        await self._write(frame_to_stream(frame))

    async def _write(self, data: bytes) -> None:
        assert self.stream is not None
        try:
            await self.stream.write(data)
        except ConnectionError:
            raise UpstreamError(
                CONNECTION_FAILED, "the server closed the connection during login"
            ) from None

    async def _receive(self) -> str:
        return (await self._next()).text

    async def _next(self) -> ServerFrame:
        assert self.stream is not None
        try:
            frame = await self.stream.next_frame()
        except FrameError as error:
            raise UpstreamError(
                CONNECTION_FAILED,
                f"the server does not speak XMPP ({error.condition}: {error.detail})",
            ) from None
        if frame is None:
            raise UpstreamError(CONNECTION_FAILED, "the server closed the connection during login")
        if frame.kind is FrameKind.CLOSE:
            raise UpstreamError(CONNECTION_FAILED, "the server closed the stream during login")
        if frame.namespace == STREAMS_NS and frame.name == "error":
            raise stream_error(parse_frame(frame.text))
        return frame


async def _open_connection(
    loop: asyncio.AbstractEventLoop,
    address: ServerAddress,
    context: ssl.SSLContext,
    server_name: str,
) -> _XmlStream:
    """A TCP connection to ``address`` (with TLS at once for direct TLS)."""
    stream = _XmlStream(loop)
    if address.direct_tls:
        await loop.create_connection(
            lambda: stream, address.host, address.port, ssl=context, server_hostname=server_name
        )
    else:
        await loop.create_connection(lambda: stream, address.host, address.port)
    return stream


def _tls_failure(address: ServerAddress, error: OSError, server_name: str) -> tuple[str, str]:
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            "certificate",
            f"{address}: the certificate for {server_name} is not accepted: {error.verify_message}",
        )
    if isinstance(error, ssl.SSLError):
        return "tls", f"{address}: TLS handshake failed: {error.reason or error}"
    return "tls", f"{address}: TLS handshake failed: {error.strerror or error}"


def _connect_failure(address: ServerAddress, error: OSError, server_name: str) -> tuple[str, str]:
    if isinstance(error, ssl.SSLError):
        return _tls_failure(address, error, server_name)
    if isinstance(error, socket.gaierror):
        return "host", f"{address}: the host {address.host} does not resolve"
    if isinstance(error, ConnectionRefusedError):
        return "connect", f"{address}: connection refused"
    return "connect", f"{address}: cannot connect ({error.strerror or error})"
