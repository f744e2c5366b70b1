"""The upstream over an external server's BOSH endpoint (XEP-0124, XEP-0206): :func:`connect_bosh`.

HTTP/1.1 runs on :mod:`h11` (sans-I/O, already under uvicorn) over asyncio streams, on
keep-alive connections: at most as many at once as requests may be open (XEP-0124's
``requests``, and one more than ``hold``).

The session is created with ``hold='1'``, ``wait`` (:data:`WAIT_SECONDS`), ``ver='1.11'`` and
``xmpp:version='1.0'``; SASL runs as over the other transports
(:func:`evim.gateway.upstream.sasl.authenticate`, SCRAM preferred, PLAIN only over https or
to this machine), then ``xmpp:restart='true'`` gives the post-authentication features.
Two of the post-authentication features are not passed on: STARTTLS, which Prosody 0.12
offers (required) as if the stream could still start TLS; and stream management (XEP-0198):
Prosody 0.12's ``mod_smacks`` cannot resume a BOSH session (``mod_smacks.lua:585`` fails on
the BOSH session's missing ``rawsend`` and the ``<resume/>`` is never answered), so the
browser is not offered it, and an ``<enable/>`` or ``<resume/>`` it sends anyway gets a
``<failed/>`` from the gateway.

After that one request is always pending (the long poll the server answers when it has
something to say, or after ``wait`` seconds); frames to send go in another request at once
(the server then answers the pending one), several frames waiting together share one.
Each request carries the next ``rid``, and responses are read in ``rid`` order.

Frames: each element of a response's ``<body>`` becomes one RFC 7395 frame, its namespaces
declared on it (:class:`~evim.gateway.framing.StreamSplitter` cuts the ``<body>`` as it cuts
a TCP stream), so ``<stream:features xmlns:stream='http://etherx.jabber.org/streams'
xmlns='jabber:client'>`` and ``<message xmlns='jabber:client' …>`` as Prosody's WebSocket
sends them; an element without a namespace of its own would inherit the body's: it is given
``jabber:client`` (XEP-0206 §8, as Prosody does with what clients send).  The browser's
frames declare their namespace and go into a request's ``<body>`` as they are.

Errors: a ``type='terminate'`` body ends the stream with its ``<stream:error>``'s condition,
or the BOSH condition as the nearest stream error condition (:data:`BOSH_CONDITIONS`), or
cleanly without one; an HTTP status other than 200, a connection refused, broken or not
speaking HTTP are ``remote-connection-failed``; no answer within ``wait`` plus
:data:`RESPONSE_MARGIN` seconds (or the login's timeout) is ``connection-timeout``.  No
message says what a request carried.

Ending: :meth:`BoshUpstream.close` sends ``type='terminate'`` with an unavailable presence
(XEP-0124 §12) and waits for its answer: the server ends the session.
:meth:`BoshUpstream.abort` drops the HTTP connections without a terminate: for the server
the client has merely gone quiet, and the session lives on for the ``inactivity`` seconds
it announced (Prosody's ``bosh_max_inactivity``, 60 s by default) — stanzas to it wait in
its buffer, its presence stays — and then ends.  Without XEP-0198 over BOSH, no new stream
takes it over: a page navigation makes a new session, and for up to that inactivity the
account has two resources (messages to the bare JID reach the new one too).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import secrets
import socket
import ssl
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

import h11

from evim.gateway.framing import (
    CLIENT_NS,
    FRAMING_NS,
    FrameError,
    FrameKind,
    ServerFrame,
    StreamSplitter,
)
from evim.gateway.upstream import UpstreamError
from evim.gateway.upstream.ending import CLEAN_CLOSE, CONNECTION_FAILED, StreamEnding
from evim.gateway.upstream.sasl import (
    STREAMS_NS,
    authenticate,
    authenticate_anonymous,
    parse_frame,
    stream_error,
)
from evim.gateway.upstream.websocket import MAX_FRAME_SIZE
from evim.lib.network import is_loopback_host

HTTPBIND_NS = "http://jabber.org/protocol/httpbind"
XBOSH_NS = "urn:xmpp:xbosh"
#: How long the server may hold a request before answering an empty body (``wait``).
WAIT_SECONDS = 60
#: How much longer than ``wait`` a response may take before the server counts as gone.
RESPONSE_MARGIN = 10.0
#: Largest response body accepted (several stanzas may share one).
MAX_BODY_SIZE = 16 * 1024 * 1024
#: No new long poll while this many characters of frames wait for :meth:`receive`.
HIGH_WATER = 256 * 1024

#: XEP-0124 §17.2 terminate conditions as RFC 6120 stream error conditions.  An unknown
#: session (``item-not-found``: expired, or ``rid`` out of the window) is a lost connection.
BOSH_CONDITIONS = {
    "bad-request": "bad-format",
    "host-gone": "host-gone",
    "host-unknown": "host-unknown",
    "improper-addressing": "improper-addressing",
    "internal-server-error": "internal-server-error",
    "item-not-found": CONNECTION_FAILED,
    "other-request": "conflict",
    "policy-violation": "policy-violation",
    "remote-connection-failed": CONNECTION_FAILED,
    "see-other-uri": CONNECTION_FAILED,
    "system-shutdown": "system-shutdown",
    "undefined-condition": "undefined-condition",
}

_UNAVAILABLE = f"<presence xmlns='{CLIENT_NS}' type='unavailable'/>"


def plain_allowed(url: str) -> bool:
    """Whether SASL PLAIN may be used through the BOSH endpoint at ``url`` (if nothing
    better is offered): over https, or to the loopback interface."""
    parts = urlsplit(url)
    return parts.scheme == "https" or is_loopback_host(parts.hostname)


# --- HTTP ------------------------------------------------------------------------------------


class _StaleConnection(Exception):
    """A kept-alive connection the server had closed before this request."""


class _HttpConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.used = False

    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def abort(self) -> None:
        self.writer.transport.abort()


class _Endpoint:
    """POSTs to one BOSH address over keep-alive HTTP/1.1 connections."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamError(CONNECTION_FAILED, "the BOSH address is not an http(s):// URL")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        self.authority = host if default_port else f"{host}:{self.port}"
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        #: The address for messages (never credentials a URL might carry).
        self.name = f"{parts.scheme}://{self.authority}{parts.path}"
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._idle: list[_HttpConnection] = []
        self._open: set[_HttpConnection] = set()

    async def post(self, body: bytes) -> bytes:
        """The response body to POSTing ``body``.  UpstreamError if the status is not 200
        or the answer is not HTTP; OSError if the connection fails."""
        while self._idle:
            connection = self._idle.pop()
            try:
                return await self._exchange(connection, body)
            except _StaleConnection:
                continue
        connection = await self._connect()
        try:
            return await self._exchange(connection, body)
        except _StaleConnection:
            raise ConnectionResetError("the server closed the connection") from None

    async def _connect(self) -> _HttpConnection:
        reader, writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self.ssl,
            server_hostname=self.host if self.ssl is not None else None,
            limit=64 * 1024,
        )
        connection = _HttpConnection(reader, writer)
        self._open.add(connection)
        return connection

    async def _exchange(self, connection: _HttpConnection, body: bytes) -> bytes:
        reused = connection.used
        connection.used = True
        try:
            return await self._request(connection, body, reused=reused)
        except BaseException:
            self._forget(connection)
            raise

    async def _request(self, connection: _HttpConnection, body: bytes, *, reused: bool) -> bytes:
        protocol = connection.h11
        request = h11.Request(
            method="POST",
            target=self.target,
            headers=[
                ("Host", self.authority),
                ("Content-Type", "text/xml; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("User-Agent", "evim-gateway"),
            ],
        )
        try:
            data = protocol.send(request) or b""
            data += protocol.send(h11.Data(data=body)) or b""
            data += protocol.send(h11.EndOfMessage()) or b""
            connection.writer.write(data)
            await connection.writer.drain()
        except (ConnectionError, h11.LocalProtocolError):
            if reused:
                raise _StaleConnection from None
            raise
        status = 0
        received = 0
        chunks: list[bytes] = []
        anything = False
        while True:
            try:
                event = protocol.next_event()
            except h11.RemoteProtocolError:
                raise UpstreamError(
                    CONNECTION_FAILED, f"{self.name} does not answer in HTTP"
                ) from None
            if event is h11.NEED_DATA:
                try:
                    raw = await connection.reader.read(64 * 1024)
                except ConnectionError:
                    if reused and not anything:
                        raise _StaleConnection from None
                    raise
                if not raw and reused and not anything:
                    raise _StaleConnection
                anything = True
                protocol.receive_data(raw)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                received += len(event.data)
                if received > MAX_BODY_SIZE:
                    raise UpstreamError(
                        CONNECTION_FAILED, f"{self.name} sent a body over {MAX_BODY_SIZE} bytes"
                    )
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("the server closed the connection")
            elif event is h11.PAUSED:
                raise UpstreamError(CONNECTION_FAILED, f"{self.name} switched protocols")
        if connection.reusable():
            protocol.start_next_cycle()
            self._idle.append(connection)
        else:
            self._forget(connection)
            connection.writer.close()
        if status != 200:
            raise UpstreamError(CONNECTION_FAILED, f"{self.name} answered HTTP {status}")
        return b"".join(chunks)

    def _forget(self, connection: _HttpConnection) -> None:
        self._open.discard(connection)
        with contextlib.suppress(ValueError):
            self._idle.remove(connection)

    def abort(self) -> None:
        """Drop every connection at once."""
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
        self._idle.clear()

    def close(self) -> None:
        for connection in list(self._open):
            connection.writer.close()
        self._open.clear()
        self._idle.clear()


# --- bodies ----------------------------------------------------------------------------------


class _Body:
    """A response's ``<body>``: its attributes and its elements as frames."""

    def __init__(self, attributes: dict[str, str], frames: list[str], error: str) -> None:
        self.attributes = attributes
        self.frames = frames
        #: The ``<stream:error>`` frame it carries, or "".
        self.error = error

    @property
    def terminated(self) -> bool:
        return self.attributes.get("type") == "terminate"

    def ending(self) -> UpstreamError:
        """Why a terminate body ends the session (condition CLEAN_CLOSE if cleanly)."""
        if self.error:
            return stream_error(parse_frame(self.error))
        condition = self.attributes.get("condition", "")
        if not condition:
            return UpstreamError(CLEAN_CLOSE, "the server ended the BOSH session")
        return UpstreamError(
            BOSH_CONDITIONS.get(condition, "undefined-condition"),
            f"the server ended the BOSH session ({condition})",
        )


def parse_body(data: bytes) -> _Body:
    """A response body; UpstreamError if it is not a well-formed BOSH ``<body>``."""
    splitter = StreamSplitter(max_size=MAX_FRAME_SIZE, root=f"{HTTPBIND_NS} body")
    try:
        frames = splitter.feed(data)
    except FrameError as error:
        raise UpstreamError(
            CONNECTION_FAILED, f"the server sent no BOSH body ({error.condition}: {error.detail})"
        ) from None
    if not splitter.closed or not frames or frames[0].kind is not FrameKind.OPEN:
        raise UpstreamError(CONNECTION_FAILED, "the server sent an incomplete BOSH body")
    elements = [frame for frame in frames if frame.kind is FrameKind.ELEMENT]
    stream_error_frame = ""
    texts: list[str] = []
    for element in elements:
        if element.namespace == STREAMS_NS and element.name == "error":
            stream_error_frame = element.text
        else:
            texts.append(_as_client_frame(element))
    return _Body(frames[0].attributes, texts, stream_error_frame)


def _as_client_frame(frame: ServerFrame) -> str:
    if frame.namespace != HTTPBIND_NS:
        return frame.text
    # It inherited the body's namespace, declared first on its start tag by the splitter.
    return frame.text.replace(f" xmlns='{HTTPBIND_NS}'", f" xmlns='{CLIENT_NS}'", 1)


# --- the session ------------------------------------------------------------------------------


class _Session:
    """A BOSH session's addressing: its ``sid`` and the next ``rid``."""

    def __init__(self, endpoint: _Endpoint, domain: str) -> None:
        self.endpoint = endpoint
        self.domain = domain
        self.sid = ""
        self.wait = float(WAIT_SECONDS)
        self.max_open = 2  # requests open at once: min(requests, hold + 1)
        # XEP-0124 §14: random, and far enough under 2**53 for a long session.
        self._rid = secrets.randbelow(1 << 40) + 1

    def next_rid(self) -> int:
        rid = self._rid
        self._rid += 1
        return rid

    def body(self, payload: str = "", **attributes: str) -> bytes:
        """A request ``<body>`` with the next ``rid``; ``payload`` are frames as they are."""
        return self.request(self.next_rid(), payload, **attributes)

    def request(self, rid: int, payload: str = "", **attributes: str) -> bytes:
        head = f"<body rid='{rid}' sid={quoteattr(self.sid)} xmlns='{HTTPBIND_NS}'" + "".join(
            f" {name}={quoteattr(value)}" for name, value in attributes.items()
        )
        if not payload:
            return f"{head}/>".encode()
        return f"{head}>{payload}</body>".encode()

    def restart_body(self) -> bytes:
        return self.body(
            **{
                "to": self.domain,
                "xml:lang": "en",
                "xmpp:restart": "true",
                "xmlns:xmpp": XBOSH_NS,
            }
        )

    def creation_body(self) -> bytes:
        return (
            f"<body content='text/xml; charset=utf-8' hold='1' rid='{self.next_rid()}'"
            f" to={quoteattr(self.domain)} ver='1.11' wait='{WAIT_SECONDS}' xml:lang='en'"
            f" xmpp:version='1.0' xmlns='{HTTPBIND_NS}' xmlns:xmpp='{XBOSH_NS}'/>"
        ).encode()

    def created(self, body: _Body) -> str:
        """Take the session creation response's attributes; returns the stream id."""
        attributes = body.attributes
        self.sid = attributes.get("sid", "")
        if not self.sid:
            raise UpstreamError(CONNECTION_FAILED, "the BOSH server gave no session id")
        if not attributes.get(f"{{{XBOSH_NS}}}version", "").startswith("1."):
            raise UpstreamError(
                CONNECTION_FAILED,
                f"{self.endpoint.name} does not carry XMPP 1.0 over BOSH (XEP-0206)",
            )
        with contextlib.suppress(ValueError):
            self.wait = float(min(int(attributes.get("wait", WAIT_SECONDS)), WAIT_SECONDS))
        with contextlib.suppress(ValueError):
            requests = int(attributes.get("requests", "2"))
            hold = int(attributes.get("hold", "1"))
            self.max_open = max(1, min(requests, hold + 1))
        authid = attributes.get("authid", "")
        # Prosody's authid is the sid, which the browser has no business knowing.
        return authid if authid and authid != self.sid else secrets.token_hex(8)


class _Setup:
    """Stream creation, SASL and restart: one request at a time."""

    def __init__(self, session: _Session) -> None:
        self.session = session
        self.pending: collections.deque[str] = collections.deque()

    async def exchange(self, body: bytes) -> _Body:
        answer = parse_body(await self.session.endpoint.post(body))
        if answer.error:
            raise stream_error(parse_frame(answer.error))
        if answer.terminated:
            ending = answer.ending()
            if ending.condition == CLEAN_CLOSE:
                raise UpstreamError(
                    CONNECTION_FAILED, "the server ended the BOSH session during login"
                )
            if answer.attributes.get("condition") == "improper-addressing":
                # Prosody's answer to a domain it does not serve.
                raise UpstreamError(
                    "host-unknown", f"the server does not serve {self.session.domain}"
                )
            raise ending
        self.pending.extend(answer.frames)
        return answer

    async def send(self, frame: str) -> None:
        await self.exchange(self.session.body(frame))

    async def receive(self) -> str:
        while not self.pending:
            await self.exchange(self.session.body())
        return self.pending.popleft()

    async def features(self) -> str:
        frame = await self.receive()
        if parse_frame(frame).tag != f"{{{STREAMS_NS}}}features":
            raise UpstreamError(CONNECTION_FAILED, "expected the stream features")
        return frame


class BoshUpstream(StreamEnding):
    """An authenticated stream over BOSH; see :class:`AuthenticatedUpstream`."""

    def __init__(
        self,
        session: _Session,
        *,
        stream_id: str,
        features_frame: str,
        close_timeout: float,
        received: collections.deque[str],
    ) -> None:
        super().__init__(close_timeout=close_timeout)
        self.stream_id = stream_id
        self.features_frame = features_frame
        self._session = session
        self._incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self._queued = 0  # characters of frames in _incoming
        for frame in received:
            self._queue(frame)
        self._outgoing: list[str] = []
        self._wake = asyncio.Event()
        self._open: dict[int, asyncio.Task[None]] = {}  # rid → its request
        self._answers: dict[int, _Body | UpstreamError] = {}
        self._next_answer = -1  # the rid whose answer is read next
        self._server_end: UpstreamError | None = None
        self._stopped = False  # no more requests (ended, or closing)
        self._terminate: asyncio.Task[None] | None = None
        self._pump_task = asyncio.create_task(self._pump(), name="bosh-pump")

    # --- AuthenticatedUpstream ------------------------------------------------------------

    async def send(self, frame: str) -> None:
        self._ensure_open()
        if self._server_end is not None:
            raise self._end(self._server_end.condition, self._server_end.detail)
        if frame.startswith(("<enable", "<resume")):
            found = _SM_REQUEST.match(frame)
            if found:  # not offered: refused here, never reaching the server
                self._queue(
                    f"<failed xmlns='{found.group(1)}'><feature-not-implemented"
                    " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
                )
                return
        if frame.startswith(("<close", "<open")):
            tag = parse_frame(frame).tag
            if tag == f"{{{FRAMING_NS}}}close":
                await self._send_end_of_stream()
                return
            if tag == f"{{{FRAMING_NS}}}open":
                raise ValueError("a stream restart cannot be relayed to a BOSH upstream")
        self._outgoing.append(frame)
        self._wake.set()

    async def receive(self) -> str:
        self._ensure_open()
        frame = await self._incoming.get()
        if frame is None:
            self._incoming.put_nowait(None)  # and for every later call
            cause = self._server_end or UpstreamError(CONNECTION_FAILED, "the stream ended")
            raise self._end(cause.condition, cause.detail)
        self._queued -= len(frame)
        if self._queued < HIGH_WATER:
            self._wake.set()
        return frame

    # --- requests -------------------------------------------------------------------------

    def _queue(self, frame: str) -> None:
        self._queued += len(frame)
        self._incoming.put_nowait(frame)

    async def _pump(self) -> None:
        """Keep one request open (the long poll); send what waits in another."""
        while not self._stopped:
            if self._outgoing and len(self._open) < self._session.max_open:
                payload = "".join(self._outgoing)
                self._outgoing.clear()
                self._launch(payload)
            elif not self._open and self._queued < HIGH_WATER:
                self._launch("")
            else:
                self._wake.clear()
                await self._wake.wait()

    def _launch(self, payload: str) -> None:
        rid = self._session.next_rid()
        body = self._session.request(rid, payload)
        if self._next_answer < 0:
            self._next_answer = rid
        self._open[rid] = asyncio.create_task(self._request(rid, body), name=f"bosh-{rid}")

    async def _request(self, rid: int, body: bytes) -> None:
        answer: _Body | UpstreamError
        endpoint = self._session.endpoint
        try:
            async with asyncio.timeout(self._session.wait + RESPONSE_MARGIN):
                answer = parse_body(await endpoint.post(body))
        except TimeoutError:
            answer = UpstreamError(
                "connection-timeout",
                f"{endpoint.name}: no answer within {self._session.wait + RESPONSE_MARGIN:g} s",
            )
        except UpstreamError as error:
            answer = error
        except OSError as error:
            answer = UpstreamError(
                CONNECTION_FAILED, f"{endpoint.name}: {error.strerror or 'connection lost'}"
            )
        self._open.pop(rid, None)
        self._answers[rid] = answer
        self._read_answers()
        self._wake.set()

    def _read_answers(self) -> None:
        while self._next_answer in self._answers and self._server_end is None:
            answer = self._answers.pop(self._next_answer)
            self._next_answer += 1
            if isinstance(answer, UpstreamError):
                self._server_ended(answer)
                return
            for frame in answer.frames:
                self._queue(frame)
            if answer.error or answer.terminated:
                self._server_ended(answer.ending())

    def _server_ended(self, cause: UpstreamError) -> None:
        """The server ended the session, or could no longer be reached: receive() gives
        the frames before, then raises."""
        self._server_end = cause
        self._incoming.put_nowait(None)
        self._stop()
        self._session.endpoint.abort()

    def _stop(self) -> None:
        self._stopped = True
        self._wake.set()
        for task in self._open.values():
            task.cancel()
        self._open.clear()

    # --- how the stream ends (see ending.py) --------------------------------------------

    async def _send_end_of_stream(self) -> None:
        if not self._first_end_of_stream() or self._server_end is not None:
            return
        payload = "".join(self._outgoing) + _UNAVAILABLE
        self._outgoing.clear()
        self._stopped = True  # the open long poll stays: the server answers it
        self._wake.set()
        body = self._session.body(payload, type="terminate")
        self._terminate = asyncio.create_task(self._post_terminate(body), name="bosh-terminate")

    async def _post_terminate(self, body: bytes) -> None:
        with contextlib.suppress(UpstreamError, OSError):
            await self._session.endpoint.post(body)

    async def _connection_lost(self) -> None:
        if self._terminate is not None:
            await asyncio.shield(self._terminate)
        self._stop()
        self._session.endpoint.close()
        self._incoming.put_nowait(None)

    async def _drop(self) -> None:
        self._stop()
        self._pump_task.cancel()
        if self._terminate is not None:
            self._terminate.cancel()
        self._session.endpoint.abort()
        self._incoming.put_nowait(None)


async def connect_bosh(
    *,
    url: str,
    domain: str,
    jid: str,
    password: str,
    timeout: float,
    anonymous: bool = False,
) -> BoshUpstream:
    """Create a BOSH session at ``url`` for ``domain``, authenticate as ``jid`` with
    ``password`` and restart the stream; all within ``timeout`` seconds.

    Raises UpstreamError: ``connection-timeout``, ``remote-connection-failed`` (refused,
    not HTTP, an HTTP error, not BOSH or not XEP-0206), ``not-authorized`` (credentials
    refused), ``host-unknown`` (the server does not serve ``domain``), or the server's
    stream error.

    ``anonymous``: SASL ANONYMOUS on ``domain`` (``jid`` and ``password`` are not used).
    """
    endpoint = _Endpoint(url)
    session = _Session(endpoint, domain)
    try:
        async with asyncio.timeout(timeout):
            setup = _Setup(session)
            answer = await setup.exchange(session.creation_body())
            stream_id = session.created(answer)
            features = await setup.features()
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
            await setup.exchange(session.restart_body())
            features = _offered(await setup.features())
    except TimeoutError:
        endpoint.abort()
        raise UpstreamError(
            "connection-timeout", f"no answer from {endpoint.name} within {timeout:g} s"
        ) from None
    except UpstreamError:
        endpoint.abort()
        raise
    except OSError as error:
        endpoint.abort()
        raise UpstreamError(
            CONNECTION_FAILED, f"cannot connect to {endpoint.name}: {_describe(error)}"
        ) from None
    except BaseException:
        endpoint.abort()
        raise
    return BoshUpstream(
        session,
        stream_id=stream_id,
        features_frame=features,
        close_timeout=timeout,
        received=setup.pending,
    )


# Features not passed on (see the module's documentation): STARTTLS, which Prosody 0.12
# offers on a BOSH session even after authentication, and stream management.
_NOT_OFFERED = re.compile(
    r"<(starttls|sm) xmlns='(?:urn:ietf:params:xml:ns:xmpp-tls|urn:xmpp:sm:[23])'"
    r"\s*(?:/>|>.*?</\1>)",
    re.S,
)
_SM_REQUEST = re.compile(r"<(?:enable|resume)\s[^>]*xmlns=['\"](urn:xmpp:sm:[23])['\"]")


def _offered(features: str) -> str:
    return _NOT_OFFERED.sub("", features)


def _describe(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate not accepted ({error.verify_message})"
    return error.strerror or str(error) or type(error).__name__
