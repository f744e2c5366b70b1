"""The browser-facing WebSocket endpoint (RFC 7395), an ASGI application.

The handshake is refused (HTTP 403) unless: the ``xmpp`` subprotocol is asked for, the
``Origin`` is the site's own (Prosody does no such check: cross-site WebSocket hijacking
would otherwise work), the back-office session is logged in and its user has a Jabber
account, and the user has fewer streams open than allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from evim.gateway import registry
from evim.gateway.hooks import RelayedStream, owner_for_handshake
from evim.gateway.metrics import METRICS
from evim.gateway.owners import Refusal
from evim.service.https import https_forced_on_loop, stream_is_secure

logger = logging.getLogger("evim.gateway")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

SUBPROTOCOL = "xmpp"


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }


def origin_allowed(scope: Scope, headers: Mapping[str, str]) -> bool:
    """The Origin must be this site: the Host the browser asked for, or a trusted origin."""
    origin = headers.get("origin", "")
    host = headers.get("host", "")
    domain, _port = split_domain_port(host)
    if not origin or not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    parts = urlsplit(origin)
    if f"{parts.scheme}://{parts.netloc}".lower() == f"{scheme}://{host}".lower():
        return True
    return origin.lower() in {trusted.lower() for trusted in settings.CSRF_TRUSTED_ORIGINS}


class WebSocketBrowser:
    """The relay's view of an accepted ASGI WebSocket."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.closed = False

    async def receive(self) -> str | None:
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return None
            if message["type"] == "websocket.receive":
                text = message.get("text")
                if text is None:  # RFC 7395: text frames only
                    return "\0binary"  # refused by the frame parser as not well-formed
                return str(text)

    async def send(self, frame: str) -> None:
        if not self.closed:
            await self._send({"type": "websocket.send", "text": frame})

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": 1000})


async def _refuse(send: Send, refusal: Refusal) -> None:
    METRICS.handshakes_refused[str(refusal.status)] += 1
    logger.info("Gateway: WebSocket refused (%s)", refusal.reason)
    await send({"type": "websocket.close", "code": 4000 + refusal.status})


async def websocket_application(scope: Scope, receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    headers = _headers(scope)
    if SUBPROTOCOL not in scope.get("subprotocols", []):
        await _refuse(send, Refusal(400, "no xmpp subprotocol"))
        return
    if not origin_allowed(scope, headers):
        await _refuse(send, Refusal(403, f"foreign origin {headers.get('origin', '')!r}"))
        return
    if not stream_is_secure(scope, headers) and https_forced_on_loop():
        await _refuse(send, Refusal(403, "HTTPS is forced: connect with wss://"))
        return
    cookies = SimpleCookie(headers.get("cookie", ""))
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    found = await owner_for_handshake(morsel.value if morsel else None)
    if isinstance(found, Refusal):
        await _refuse(send, found)
        return
    owner = found
    if registry.count(owner.user_id) >= settings.EVIM_GATEWAY_MAX_SESSIONS_PER_USER:
        await _refuse(send, Refusal(429, "too many streams for this user"))
        return
    await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
    await RelayedStream(WebSocketBrowser(receive, send), owner, transport="websocket").run()
