"""The browser-facing BOSH endpoint (XEP-0124, XEP-0206), an ASGI HTTP application.

One more transport on the same relay core as the WebSocket: each BOSH session owns a
:class:`~evim.gateway.relay.Relay` whose browser side is :class:`BoshBrowser`, two queues:

- browser → relay: the children of each request's ``<body/>``, cut from the request's bytes
  (``xmlns='jabber:client'`` added where the child inherited the BOSH namespace), then each
  checked again by the relay's frame parser; a restart (``xmpp:restart='true'``) is an
  ``<open/>`` frame, ``type='terminate'`` a ``<close/>`` frame;
- relay → browser: the frames, returned in the next response ``<body/>``: the first
  ``<open/>`` becomes the session creation response's attributes, later ones are dropped
  (the features that follow them are the restart's answer), ``<close/>`` becomes
  ``type='terminate'``, a stream error ``type='terminate' condition='remote-stream-error'``.

Requests are refused as the WebSocket handshake is: an ``Origin`` (when sent) must be the
site's own, the back-office session must be logged in with a Jabber account (and be the
session's own on every later request), and the user's streams are capped by
:mod:`evim.gateway.registry`.  One request is held at most ``wait`` seconds (30 at most);
request ids are checked (a repeated one gets its response again, one outside the window
ends the session); a session without requests for
``EVIM_GATEWAY_BOSH_INACTIVITY_SECONDS`` ends as a page navigation does: the upstream
connection is dropped, the server keeps its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from xml.parsers.expat import XML_PARAM_ENTITY_PARSING_NEVER, ExpatError, ParserCreate
from xml.sax.saxutils import unescape

from django.conf import settings

from evim.gateway import registry
from evim.gateway.framing import CLIENT_NS, FRAMING_NS, escape_attribute
from evim.gateway.hooks import RelayedStream, owner_for_handshake
from evim.gateway.metrics import METRICS
from evim.gateway.owners import Refusal
from evim.gateway.relay import StreamOwner
from evim.gateway.websocket import Receive, Scope, Send, _headers, origin_allowed
from evim.service.https import https_forced_on_loop, stream_is_secure

logger = logging.getLogger("evim.gateway")

HTTPBIND_NS = "http://jabber.org/protocol/httpbind"
XBOSH_NS = "urn:xmpp:xbosh"
STREAMS_NS = "http://etherx.jabber.org/streams"

MAX_WAIT = 30  # seconds a request may be held
POLLING = 2  # shortest interval between empty requests the client should keep
REQUESTS = 2  # requests the client may have open at once
HOLD = 1  # requests held at once
BODY_MARGIN = 16_384  # the <body/> wrapper around a stanza of the maximum size
MAX_OUTBOX_BYTES = 4 << 20  # frames waiting for a request: the relay waits beyond this
MAX_SESSIONS = 10_000  # in this process, whoever the users
MAX_QUEUED = 1_000  # frames from the browser the relay has not read yet

_TAG_END = re.compile(rb"""<[^'">]*(?:(?:'[^']*'|"[^"]*")[^'">]*)*>""")
_XML_DECLARATION = re.compile(rb"""\A(?:\xef\xbb\xbf)?[ \t\r\n]*<\?xml[ \t\r\n][^?<>]*\?>""")
_NAME_END = re.compile(r"[ \t\r\n/>]")


class BoshError(Exception):
    """A request that ends its session (or is refused): ``condition`` for ``type='terminate'``."""

    def __init__(self, condition: str, detail: str) -> None:
        super().__init__(f"{condition}: {detail}")
        self.condition = condition
        self.detail = detail


# --- the request body -----------------------------------------------------------------------


@dataclass
class RequestBody:
    attributes: dict[str, str]  # plain names; xbosh ones as "xmpp:name"
    payloads: list[str]  # the children, each one frame for the relay


def _refuse(*_: object) -> None:
    raise BoshError("bad-request", "DTDs, entities, comments and instructions are not allowed")


def parse_body(data: bytes) -> RequestBody:
    """Check a request's ``<body/>`` (restricted XML) and cut out its children as frames."""
    declaration = _XML_DECLARATION.match(data)
    start = declaration.end() if declaration else 0
    rest = data[start:].lstrip(b" \t\r\n")
    if not rest.startswith(b"<body"):
        raise BoshError("bad-request", "a request is one <body/> element")
    offset = len(data) - len(rest)
    parser = ParserCreate(None, " ")
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.NotationDeclHandler = _refuse
    parser.CommentHandler = _refuse
    parser.ProcessingInstructionHandler = _refuse
    parser.SetParamEntityParsing(XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0
    body_attributes: dict[str, str] = {}
    root_name = ""
    child_start = 0
    child_namespace = ""
    payloads: list[str] = []

    def start_element(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, root_name, child_start, child_namespace
        if depth == 0:
            root_name = name
            for key, value in attributes.items():
                namespace, _, local = key.rpartition(" ")
                if not namespace:
                    body_attributes[local] = value
                elif namespace == XBOSH_NS:
                    body_attributes[f"xmpp:{local}"] = value
        elif depth == 1:
            child_start = offset + parser.CurrentByteIndex
            child_namespace = name.rpartition(" ")[0]
        depth += 1

    def end_element(_name: str) -> None:
        nonlocal depth
        depth -= 1
        if depth != 1:
            return
        tag = _TAG_END.match(data, child_start)
        assert tag is not None  # expat has just parsed it
        if tag.group().endswith(b"/>"):
            end = tag.end()
        else:
            end = data.index(b">", offset + parser.CurrentByteIndex) + 1
        text = data[child_start:end].decode("utf-8")
        if child_namespace == HTTPBIND_NS:  # inherited from <body/>: XEP-0206's default
            name_end = _NAME_END.search(text, 1)
            assert name_end is not None
            cut = name_end.start()
            text = f"{text[:cut]} xmlns='{CLIENT_NS}'{text[cut:]}"
        payloads.append(text)

    def character_data(text: str) -> None:
        if depth == 1 and text.strip():
            raise BoshError("bad-request", "text directly in <body/>")

    parser.StartElementHandler = start_element
    parser.EndElementHandler = end_element
    parser.CharacterDataHandler = character_data
    try:
        parser.Parse(rest, True)
    except ExpatError as error:
        raise BoshError("bad-request", f"not well-formed: {error}") from None
    except UnicodeError:
        raise BoshError("bad-request", "not UTF-8") from None
    if root_name != f"{HTTPBIND_NS} body":
        raise BoshError("bad-request", "a request is one <body/> in the httpbind namespace")
    return RequestBody(body_attributes, payloads)


# --- the session ----------------------------------------------------------------------------


@dataclass(eq=False)
class BoshSession:
    sid: str
    owner: StreamOwner
    wait: int
    next_rid: int
    to_relay: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    outbox: list[str] = field(default_factory=list)
    outbox_bytes: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    announced: bool = False  # the first <open/> became the creation response
    finished: bool = False  # the relay is over: what is left in the outbox, then terminate
    closed: bool = False  # the browser side is closed: nothing more goes to the outbox
    generation: int = 0  # which request is held (a newer one releases the older)
    active: int = 0  # requests being answered
    last_seen: float = field(default_factory=time.monotonic)
    responses: OrderedDict[int, bytes] = field(default_factory=OrderedDict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


class BoshBrowser:
    """The relay's view of a BOSH session."""

    def __init__(self, session: BoshSession) -> None:
        self.session = session

    async def receive(self) -> str | None:
        return await self.session.to_relay.get()

    async def send(self, frame: str) -> None:
        session = self.session
        async with session.changed:
            await session.changed.wait_for(
                lambda: session.closed or session.outbox_bytes < MAX_OUTBOX_BYTES
            )
            if session.closed:
                return
            session.outbox.append(frame)
            session.outbox_bytes += len(frame)
            session.changed.notify_all()

    async def close(self) -> None:
        self.session.closed = True
        await self.session.notify()


_sessions: dict[str, BoshSession] = {}
_lock = threading.Lock()


def _find(sid: str) -> BoshSession | None:
    with _lock:
        return _sessions.get(sid)


def _forget(session: BoshSession) -> None:
    with _lock:
        if _sessions.get(session.sid) is session:
            del _sessions[session.sid]


def session_count() -> int:
    with _lock:
        return len(_sessions)


# --- responses --------------------------------------------------------------------------------


def _start_tag_name(frame: str) -> str:
    match = _NAME_END.search(frame, 1)
    return frame[1 : match.start()] if match else frame[1:]


def _frame_attribute(frame: str, name: str) -> str | None:
    match = re.search(rf"""[ \t\r\n]{re.escape(name)}=(?:'([^']*)'|"([^"]*)")""", frame)
    if match is None or match.start() > frame.find(">"):
        return None
    value = match.group(1) if match.group(1) is not None else match.group(2)
    return unescape(value, {"&apos;": "'", "&quot;": '"'})


def _render(session: BoshSession, frames: list[str], *, terminate: bool) -> bytes:
    """A response ``<body/>`` carrying these relay frames."""
    attributes: dict[str, str] = {}
    children: list[str] = []
    condition: str | None = None
    for frame in frames:
        name = _start_tag_name(frame)
        if name == "open" and FRAMING_NS in frame[: frame.find(">")]:
            if not session.announced:
                session.announced = True
                attributes.update(
                    {
                        "sid": session.sid,
                        "wait": str(session.wait),
                        "requests": str(REQUESTS),
                        "hold": str(HOLD),
                        "inactivity": str(settings.EVIM_GATEWAY_BOSH_INACTIVITY_SECONDS),
                        "polling": str(POLLING),
                        "ver": "1.6",
                        "xmpp:version": "1.0",
                        "xmpp:restartlogic": "true",
                    }
                )
                for key, target in (("from", "from"), ("id", "authid")):
                    value = _frame_attribute(frame, key)
                    if value is not None:
                        attributes[target] = value
            continue
        if name == "close" and FRAMING_NS in frame[: frame.find(">")]:
            terminate = True
            continue
        if name == "stream:error" or (name == "error" and STREAMS_NS in frame):
            terminate = True
            condition = "remote-stream-error"
        children.append(frame)
    if terminate:
        attributes["type"] = "terminate"
        if condition is not None:
            attributes["condition"] = condition
    rendered = "".join(f" {key}='{escape_attribute(value)}'" for key, value in attributes.items())
    return (
        f"<body xmlns='{HTTPBIND_NS}' xmlns:xmpp='{XBOSH_NS}' xmlns:stream='{STREAMS_NS}'"
        f"{rendered}>{''.join(children)}</body>"
    ).encode()


def _terminate_body(condition: str) -> bytes:
    return (
        f"<body xmlns='{HTTPBIND_NS}' type='terminate' condition='{escape_attribute(condition)}'/>"
    ).encode()


async def _respond(send: Send, status: int, body: bytes, *, allow: bool = False) -> None:
    headers = [
        (b"content-type", b"text/xml; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if allow:
        headers.append((b"allow", b"POST"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_prefix(receive: Receive, size: int) -> bytes:
    """The request's first ``size`` bytes (or fewer); the rest is not read."""
    chunks: list[bytes] = []
    length = 0
    while length < size:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = bytes(message.get("body", b""))
        chunks.append(chunk)
        length += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)[:size]


_HEAD_SID = re.compile(r"""<body\b[^>]*?\ssid=['"]([^'"]{1,64})['"]""")
_HEAD_RID = re.compile(r"""<body\b[^>]*?\srid=['"](\d{1,16})['"]""")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request's bytes, or None beyond ``limit`` (or if the client went away)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


# --- the application ------------------------------------------------------------------------


async def _refused(send: Send, refusal: Refusal) -> None:
    METRICS.handshakes_refused[str(refusal.status)] += 1
    logger.info("Gateway: BOSH request refused (%s)", refusal.reason)
    await _respond(send, refusal.status, b"")


async def bosh_application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] != "POST":
        await _respond(send, 405, b"", allow=True)
        return
    headers = _headers(scope)
    # origin_allowed() reads the WebSocket scheme; an HTTPS request is the same site as wss.
    ws_scope = {**scope, "scheme": "wss" if scope.get("scheme") == "https" else "ws"}
    if "origin" in headers and not origin_allowed(ws_scope, headers):
        await _refused(send, Refusal(403, f"foreign origin {headers['origin']!r}"))
        return
    if not stream_is_secure(scope, headers) and https_forced_on_loop():
        await _refused(send, Refusal(403, "HTTPS is forced: connect with https://"))
        return
    limit = settings.EVIM_GATEWAY_MAX_STANZA_BYTES + BODY_MARGIN
    content_length = headers.get("content-length", "0")
    if not content_length.isdigit():
        await _refused(send, Refusal(411, "no usable Content-Length"))
        return
    cookies = SimpleCookie(headers.get("cookie", ""))
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    found = await owner_for_handshake(morsel.value if morsel else None)
    if isinstance(found, Refusal):
        await _refused(send, found)
        return
    data = await _read_body(receive, limit) if int(content_length) <= limit else None
    if data is None:
        await _too_large(send, receive, found)
        return
    try:
        body = parse_body(data)
        rid = int(body.attributes.get("rid", ""))
    except BoshError as error:
        logger.info("Gateway: BOSH request refused (%s)", error.detail)
        head = data[:4096].decode("utf-8", "replace")
        if not await _refuse_in_session(send, head, found, marker="\0not-xml"):
            await _respond(send, 400, _terminate_body(error.condition))
        return
    except ValueError:
        await _respond(send, 400, _terminate_body("bad-request"))
        return
    if not 0 < rid < 2**53:
        await _respond(send, 400, _terminate_body("bad-request"))
        return
    sid = body.attributes.get("sid")
    if sid is None:
        await _create(send, found, body, rid)
        return
    session = _find(sid)
    if session is None:
        await _respond(send, 200, _terminate_body("item-not-found"))
        return
    if (session.owner.user_id, session.owner.session_key) != (found.user_id, found.session_key):
        await _refused(send, Refusal(403, "another back-office session's BOSH session"))
        return
    await _request(send, session, body, rid)


async def _too_large(send: Send, receive: Receive, owner: StreamOwner) -> None:
    """A request above the stanza limit ends its session as a frame too large ends a
    WebSocket stream (only its first bytes are read, for its ``sid`` and ``rid``)."""
    head = (await _read_prefix(receive, 4096)).decode("utf-8", "replace")
    # Longer than the limit: the relay's frame check refuses it without parsing it.
    oversized = "\0" * (settings.EVIM_GATEWAY_MAX_STANZA_BYTES + 1)
    if not await _refuse_in_session(send, head, owner, marker=oversized):
        await _refused(send, Refusal(413, "request too large"))


async def _refuse_in_session(send: Send, head: str, owner: StreamOwner, *, marker: str) -> bool:
    """A request of a session of ``owner`` that cannot be relayed (too large, not XML):
    ``marker``, a frame the relay refuses for the same reason, goes in its place, so that
    the session ends as a WebSocket stream would — the stream error, then both sides
    released.  False when ``head`` names no session of this owner."""
    sid, rid = _HEAD_SID.search(head), _HEAD_RID.search(head)
    session = _find(sid.group(1)) if sid else None
    if (
        session is None
        or rid is None
        or (session.owner.user_id, session.owner.session_key) != (owner.user_id, owner.session_key)
    ):
        return False
    await _request(send, session, RequestBody({}, [marker]), int(rid.group(1)))
    return True


async def _create(send: Send, owner: StreamOwner, body: RequestBody, rid: int) -> None:
    if body.attributes.get("to", owner.domain).lower() != owner.domain:
        await _respond(send, 200, _terminate_body("host-unknown"))
        return
    if (
        registry.count(owner.user_id) >= settings.EVIM_GATEWAY_MAX_SESSIONS_PER_USER
        or session_count() >= MAX_SESSIONS
    ):
        await _refused(send, Refusal(429, "too many streams for this user"))
        return
    try:
        wait = max(1, min(MAX_WAIT, int(body.attributes.get("wait", MAX_WAIT))))
    except ValueError:
        await _respond(send, 400, _terminate_body("bad-request"))
        return
    session = BoshSession(sid=secrets.token_urlsafe(24), owner=owner, wait=wait, next_rid=rid + 1)
    relayed = RelayedStream(BoshBrowser(session), owner, transport="bosh")
    with _lock:
        _sessions[session.sid] = session

    async def run() -> None:
        try:
            await relayed.run()
        finally:
            session.finished = True
            await session.notify()

    for coroutine in (run(), _watch_inactivity(session)):
        task = asyncio.create_task(coroutine)
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)
    session.to_relay.put_nowait(
        f"<open xmlns='{FRAMING_NS}' to='{escape_attribute(owner.domain)}' version='1.0'/>"
    )
    for payload in body.payloads:
        session.to_relay.put_nowait(payload)
    await _answer(send, session, rid)


async def _request(send: Send, session: BoshSession, body: RequestBody, rid: int) -> None:
    session.last_seen = time.monotonic()
    cached = session.responses.get(rid)
    if cached is not None:  # a retry: the same response again
        await _respond(send, 200, cached)
        return
    if rid < session.next_rid:  # still being answered: a retry of a held request
        await _respond(send, 200, _render(session, [], terminate=False))
        return
    if rid >= session.next_rid + REQUESTS:
        await _end_session(session)
        await _respond(send, 200, _terminate_body("item-not-found"))
        return
    if rid > session.next_rid:  # within the window, ahead of one still on its way
        session.active += 1
        try:
            async with session.changed:
                await asyncio.wait_for(
                    session.changed.wait_for(lambda: session.next_rid >= rid), session.wait
                )
        except TimeoutError:
            await _end_session(session)
            await _respond(send, 200, _terminate_body("item-not-found"))
            return
        finally:
            session.active -= 1
    session.next_rid = rid + 1
    if session.to_relay.qsize() + len(body.payloads) > MAX_QUEUED:
        await _end_session(session)
        await _respond(send, 200, _terminate_body("policy-violation"))
        return
    for payload in body.payloads:
        session.to_relay.put_nowait(payload)
    if body.attributes.get("xmpp:restart") == "true":
        domain = escape_attribute(session.owner.domain)
        session.to_relay.put_nowait(f"<open xmlns='{FRAMING_NS}' to='{domain}' version='1.0'/>")
    if body.attributes.get("type") == "terminate":
        session.to_relay.put_nowait(f"<close xmlns='{FRAMING_NS}'/>")
        _forget(session)
    await _answer(send, session, rid, until_end=body.attributes.get("type") == "terminate")


async def _answer(send: Send, session: BoshSession, rid: int, *, until_end: bool = False) -> None:
    """Hold the request until the relay has frames for it (or ``wait`` seconds, or a newer
    request comes), then answer with them; ``until_end``: until the relay is over."""
    session.active += 1
    session.generation += 1
    generation = session.generation
    try:

        def ready() -> bool:
            if until_end:
                return session.finished
            if session.finished or session.generation != generation:
                return True
            # An <open/> comes with the features right after it: wait for them too.
            return bool(session.outbox) and _start_tag_name(session.outbox[-1]) != "open"

        async with session.changed:
            session.changed.notify_all()  # releases the request held so far
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.changed.wait_for(ready), session.wait)
            frames: list[str] = []
            size = 0
            while session.outbox and (not frames or size < settings.EVIM_GATEWAY_MAX_STANZA_BYTES):
                frame = session.outbox.pop(0)
                frames.append(frame)
                size += len(frame)
            session.outbox_bytes -= size
            terminate = session.finished and not session.outbox
            session.changed.notify_all()  # room in the outbox
        response = _render(session, frames, terminate=terminate)
        if b" type='terminate'" in response[: response.find(b">")]:
            _forget(session)
        session.responses[rid] = response
        while len(session.responses) > REQUESTS + 1:
            session.responses.popitem(last=False)
        await _respond(send, 200, response)
    finally:
        session.active -= 1
        session.last_seen = time.monotonic()


async def _end_session(session: BoshSession) -> None:
    """The browser is gone: the relay drops the upstream connection (resumable)."""
    _forget(session)
    session.closed = True
    session.to_relay.put_nowait(None)
    await session.notify()


async def _watch_inactivity(session: BoshSession) -> None:
    inactivity = settings.EVIM_GATEWAY_BOSH_INACTIVITY_SECONDS
    while _find(session.sid) is session:
        if session.active:
            await asyncio.sleep(inactivity)
            continue
        idle = time.monotonic() - session.last_seen
        if idle >= inactivity:
            logger.info("Gateway: BOSH session of user %s inactive", session.owner.user_id)
            await _end_session(session)
            return
        await asyncio.sleep(inactivity - idle)
