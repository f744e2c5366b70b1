"""Guests' streams (the service's anonymous mode): the WebSocket at ``/im/guest-ws``.

A guest's page (``/guest/<token>/``, see ``evim.messaging.guests``) connects here, not to
``/im/ws``: the stream is authorised by the guest link and the guest's browser session
(where the page stored the nickname), with a one-time token from the page's credentials
URL as for users — the guest never has a password.  Upstream, the gateway logs in to the
managed server's anonymous host with SASL ANONYMOUS; the server gives the stream a fresh
address that lasts as long as it.

What a guest may do (:class:`GuestPolicy`): stanzas to the linked room and its occupants
(entering it only under the chosen nickname, inviting nobody), queries to the anonymous
host itself (disco, ping) and to the guest's own account (binding, roster); anything else
is answered with a ``not-allowed`` error and never reaches the server.  In a members-only
room (other than the structure's, which guest links never open) the guest's address is
made a member when the stream binds it, and the membership is taken back when it ends
(:class:`RoomMembership`).

Limits: stream openings per address per minute (``EVIM_GATEWAY_GUEST_STREAMS_PER_MINUTE``),
streams per browser session (``EVIM_GATEWAY_MAX_SESSIONS_PER_USER``), and the frame checks
and rates every stream gets.  The streams of a link end when it is revoked (at once in this
process, else at the next periodic check), expires, or anonymous mode is turned off.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import translation

from evim.gateway import registry
from evim.gateway.framing import CLIENT_NS, ClientFrame
from evim.gateway.hooks import RelayedStream
from evim.gateway.metrics import METRICS
from evim.gateway.owners import Refusal
from evim.gateway.relay import RelayHooks, StreamEnded, StreamOwner
from evim.gateway.upstream import AuthenticatedUpstream
from evim.gateway.upstream.websocket import connect_websocket
from evim.gateway.websocket import SUBPROTOCOL, Receive, Scope, Send, WebSocketBrowser
from evim.gateway.websocket import origin_allowed as _origin_allowed
from evim.managed_server.admin_shell import AdminShell, AdminShellError
from evim.managed_server.layout import ServerLayout
from evim.managed_server.lua import lua_string
from evim.messaging import guests
from evim.messaging.models import GuestLink
from evim.service.https import https_forced_on_loop, stream_is_secure

logger = logging.getLogger("evim.gateway")

GUEST_WEBSOCKET_PATH = guests.GUEST_WEBSOCKET_PATH
STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
MUC_USER_NS = "http://jabber.org/protocol/muc#user"
#: Nonzas a guest may send besides stanzas: stream management and client state indication.
NONZA_NAMESPACES = frozenset({"urn:xmpp:sm:3", "urn:xmpp:csi:0"})


@dataclass(frozen=True)
class GuestAccess:
    """Who opens a guest stream, and where they may go."""

    owner: StreamOwner
    room: str
    nickname: str
    host: str


# --- who may open a guest stream ------------------------------------------------------------


def guest_for_handshake(session_key: str | None, link_id: int | None) -> GuestAccess | Refusal:
    """The guest of this browser session on this link, or why not (Django side)."""
    if not guests.anonymous_mode_available():
        return Refusal(404, "anonymous mode is off")
    if not session_key or link_id is None:
        return Refusal(403, "no guest session or link")
    link = GuestLink.objects.filter(pk=link_id).first()
    if link is None or not guests.link_usable(link):
        return Refusal(403, "guest link unknown, expired or revoked")
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    chosen = data.get(guests.SESSION_KEY, {}).get(str(link.pk))
    if not isinstance(chosen, dict) or not chosen.get("nickname"):
        return Refusal(403, "no nickname chosen on the guest page")
    host = guests.anonymous_host()
    owner = StreamOwner(
        user_id=0,
        session_key=session_key,
        jid=f"guest@{host}",
        language=str(chosen.get("language") or settings.LANGUAGE_CODE),
        guest_link=link.pk,
    )
    return GuestAccess(owner=owner, room=link.room, nickname=str(chosen["nickname"]), host=host)


class OpeningLimit:
    """At most ``per_minute`` stream openings per address in any 60 seconds."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._openings: dict[str, collections.deque[float]] = {}

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        if len(self._openings) > 10_000:  # forget addresses that went quiet
            for key in [key for key, times in self._openings.items() if now - times[-1] > 60]:
                del self._openings[key]
        times = self._openings.setdefault(address, collections.deque())
        while times and now - times[0] >= 60:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        times.append(now)
        return True


OPENINGS = OpeningLimit(settings.EVIM_GATEWAY_GUEST_STREAMS_PER_MINUTE)


# --- what a guest may send -------------------------------------------------------------------


class RoomMembership:
    """A guest's temporary membership of a members-only room, through the admin socket."""

    def __init__(self, layout: ServerLayout, room: str) -> None:
        self.layout = layout
        self.room = room

    async def _run(self, lua: str) -> str:
        async with AdminShell.for_layout(self.layout, timeout=10) as shell:
            reply = await shell.execute(lua)
        return reply.value

    def _find_room(self) -> str:
        return (
            f"local muc = prosody.hosts[{lua_string(self.layout.muc_host)}]; "
            "muc = muc and muc.modules.muc; "
            f"local room = muc and muc.get_room_from_jid({lua_string(self.room)}); "
            "if not room then return true, 'absent' end; "
        )

    async def grant(self, jid: str) -> bool:
        """Make ``jid`` a member if the room is members-only and ``jid`` has no affiliation;
        True if it was made one."""
        member = lua_string(jid)
        value = await self._run(
            ">"
            + self._find_room()
            + "if not room:get_members_only() then return true, 'open' end; "
            + f"if room:get_affiliation({member}) then return true, 'affiliated' end; "
            + f"room:set_affiliation(true, {member}, 'member'); room:save(true); "
            + "return true, 'granted'"
        )
        return value == "granted"

    async def revoke(self, jid: str) -> None:
        member = lua_string(jid)
        await self._run(
            ">"
            + self._find_room()
            + f"if room:get_affiliation({member}) == 'member' then "
            + f"room:set_affiliation(true, {member}, nil); room:save(true) end; "
            + "return true, 'done'"
        )


class GuestPolicy:
    """A guest's stream reaches its room, the anonymous host and its own account only."""

    def __init__(self, access: GuestAccess, membership: RoomMembership | None) -> None:
        self.access = access
        self.room = access.room.lower()
        self.host = access.host.lower()
        self.membership = membership
        #: The guest's address on the anonymous host, once the server bound it.
        self.own: str | None = None
        self._member = False

    # --- from the browser --------------------------------------------------------------------

    def screen(self, frame: ClientFrame) -> str | None:
        if frame.namespace in NONZA_NAMESPACES:
            return None
        if frame.namespace != CLIENT_NS or frame.name not in ("iq", "message", "presence"):
            raise StreamEnded(
                "unsupported-stanza-type", f"A guest cannot send <{frame.name}/> here."
            )
        why = self._refusal(frame)
        if why is None:
            return None
        logger.info(
            "Gateway: refused a guest's %s of link %s: %s",
            frame.name,
            self.access.owner.guest_link,
            why,
        )
        METRICS.frames_refused["guest-not-allowed"] += 1
        return _error_reply(frame, why)

    def _refusal(self, frame: ClientFrame) -> str | None:
        """None if ``frame`` may go to the server, else why not (in the error's text)."""
        to = frame.attributes.get("to", "")
        bare, _slash, resource = to.partition("/")
        bare = bare.lower()
        if not to:  # the guest's own account: binding, roster, presence
            if frame.name == "message":
                return "A guest sends messages to the room only."
            return None
        if bare == self.room:
            if frame.name == "presence" and resource and resource != self.access.nickname:
                return "A guest enters the room under the nickname chosen on the guest page."
            if frame.name == "message" and _invites(frame):
                return "A guest cannot invite anyone."
            return None
        if bare == self.host and not resource and frame.name == "iq":
            return None  # the anonymous host's own services: disco, ping
        if self.own is not None and bare == self.own and frame.name == "iq":
            return None
        return "A guest can only reach the room of the guest link."

    # --- from the server ---------------------------------------------------------------------

    async def seen_from_server(self, frame: str) -> None:
        if self.own is not None or BIND_NS not in frame[:600]:
            return
        bound = _bound_jid(frame)
        if bound is None:
            return
        self.own = bound.partition("/")[0].lower()
        if self.membership is not None:
            try:
                self._member = await self.membership.grant(self.own)
            except AdminShellError as error:
                logger.warning("Gateway: could not let a guest into %s: %s", self.room, error)

    async def finish(self) -> None:
        if self._member and self.own is not None and self.membership is not None:
            self._member = False
            try:
                await self.membership.revoke(self.own)
            except AdminShellError as error:
                logger.warning("Gateway: a guest's membership of %s stays: %s", self.room, error)


def _element(frame: ClientFrame) -> ElementTree.Element | None:
    try:
        # Safe: parse_client_frame already refused DTDs, entities and oversized frames.
        return ElementTree.fromstring(frame.text)  # noqa: S314
    except ElementTree.ParseError:
        return None


def _invites(frame: ClientFrame) -> bool:
    element = _element(frame)
    return (
        element is None or element.find(f"{{{MUC_USER_NS}}}x/{{{MUC_USER_NS}}}invite") is not None
    )


def _bound_jid(frame: str) -> str | None:
    try:
        element = ElementTree.fromstring(frame)  # noqa: S314 - from the managed server
    except ElementTree.ParseError:
        return None
    if element.tag != f"{{{CLIENT_NS}}}iq" or element.get("type") != "result":
        return None
    jid = element.find(f"{{{BIND_NS}}}bind/{{{BIND_NS}}}jid")
    return (jid.text or "").strip() or None if jid is not None else None


def _error_reply(frame: ClientFrame, text: str) -> str:
    """The error the server would send for a refused stanza ("" for an error or a result:
    never answered)."""
    kind = frame.attributes.get("type", "")
    if kind in ("error", "result"):
        return ""
    attributes = " type='error'"
    if "to" in frame.attributes:
        attributes += f" from={quoteattr(frame.attributes['to'])}"
    if "id" in frame.attributes:
        attributes += f" id={quoteattr(frame.attributes['id'])}"
    return (
        f"<{frame.name} xmlns='{CLIENT_NS}'{attributes}><error type='cancel'>"
        f"<not-allowed xmlns='{STANZA_ERRORS}'/>"
        f"<text xmlns='{STANZA_ERRORS}' xml:lang='en'>{_escape(text)}</text>"
        f"</error></{frame.name}>"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the relay's hooks for a guest -------------------------------------------------------------


def guest_hooks(access: GuestAccess) -> RelayHooks:
    owner = access.owner
    layout = ServerLayout.from_settings()
    link_id = owner.guest_link
    assert link_id is not None

    async def redeem(token: str) -> bool:
        redeemed: bool = await sync_to_async(guests.redeem_guest_token)(
            token, link_id=link_id, session_key=owner.session_key
        )
        return redeemed

    async def connect(token: str) -> AuthenticatedUpstream:
        return await connect_websocket(
            url=layout.websocket_url,
            domain=access.host,
            jid="",
            password="",
            timeout=float(settings.EVIM_XMPP_TIMEOUT),
            anonymous=True,
        )

    def translate(text: str) -> str:
        with translation.override(owner.language):
            return translation.gettext(text)

    membership = RoomMembership(layout, access.room)
    return RelayHooks(
        redeem_token=redeem,
        connect_upstream=connect,
        translate=translate,
        policy=GuestPolicy(access, membership),
    )


# --- the endpoint ------------------------------------------------------------------------------


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }


def _link_id(scope: Scope) -> int | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("link", [])
    return int(values[0]) if len(values) == 1 and values[0].isdigit() else None


async def _refuse(send: Send, refusal: Refusal) -> None:
    METRICS.handshakes_refused[str(refusal.status)] += 1
    logger.info("Gateway: guest WebSocket refused (%s)", refusal.reason)
    await send({"type": "websocket.close", "code": 4000 + refusal.status})


async def guest_websocket_application(scope: Scope, receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    headers: Mapping[str, str] = _headers(scope)
    if SUBPROTOCOL not in scope.get("subprotocols", []):
        await _refuse(send, Refusal(400, "no xmpp subprotocol"))
        return
    if not _origin_allowed(scope, headers):
        await _refuse(send, Refusal(403, f"foreign origin {headers.get('origin', '')!r}"))
        return
    if not stream_is_secure(scope, headers) and https_forced_on_loop():
        await _refuse(send, Refusal(403, "HTTPS is forced: connect with wss://"))
        return
    client: Any = scope.get("client") or ("unknown", 0)
    if not OPENINGS.allow(str(client[0])):
        await _refuse(send, Refusal(429, "too many guest streams from this address"))
        return
    morsel = SimpleCookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    found = await sync_to_async(guest_for_handshake)(
        morsel.value if morsel else None, _link_id(scope)
    )
    if isinstance(found, Refusal):
        await _refuse(send, found)
        return
    session_key = found.owner.session_key
    if registry.count_guest_streams(session_key) >= settings.EVIM_GATEWAY_MAX_SESSIONS_PER_USER:
        await _refuse(send, Refusal(429, "too many guest streams for this browser"))
        return
    await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
    stream = RelayedStream(
        WebSocketBrowser(receive, send),
        found.owner,
        transport="websocket",
        hooks=guest_hooks(found),
    )
    await stream.run()
