"""The relay's hooks wired to evim: tokens, stored credentials, permissions, languages;
and :class:`RelayedStream`, one browser stream relayed, registered and counted.

Shared by both browser-facing transports (``websocket.py``, ``bosh.py``): the relay itself
(``relay.py``) knows nothing of Django.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import translation

from evim.gateway import registry, tokens
from evim.gateway.metrics import METRICS
from evim.gateway.owners import Refusal, owner_for_session, stored_password, verdicts_for
from evim.gateway.permissions import PermissionSweep
from evim.gateway.prepared import PREPARED
from evim.gateway.relay import BrowserTransport, Relay, RelayHooks, RelayLimits, StreamOwner
from evim.gateway.upstream import AuthenticatedUpstream
from evim.gateway.upstream.bosh import connect_bosh
from evim.gateway.upstream.tcp import connect_tcp
from evim.gateway.upstream.websocket import connect_websocket
from evim.gateway.usage import USAGE
from evim.service.current import service

logger = logging.getLogger("evim.gateway")

# One batch check per interval for every stream of this process (see permissions.py);
# the ASGI lifespan runs it.
PERMISSIONS = PermissionSweep(
    batch=verdicts_for,
    streams=registry.streams,
    interval=settings.EVIM_GATEWAY_RECHECK_SECONDS,
)


def limits_from_settings() -> RelayLimits:
    return RelayLimits(
        max_stanza_bytes=settings.EVIM_GATEWAY_MAX_STANZA_BYTES,
        frames_per_second=settings.EVIM_GATEWAY_FRAMES_PER_SECOND,
        frame_burst=settings.EVIM_GATEWAY_FRAME_BURST,
    )


async def connect_upstream_for(owner: StreamOwner) -> AuthenticatedUpstream:
    """Log in to the owner's server with their stored credentials (raises UpstreamError)."""
    password = await sync_to_async(stored_password)(owner)
    return await log_in_upstream(owner, password=password)


async def log_in_upstream(owner: StreamOwner, *, password: str) -> AuthenticatedUpstream:
    """Log in to the owner's server with ``password`` (raises UpstreamError)."""
    timeout = float(settings.EVIM_XMPP_TIMEOUT)
    if settings.EVIM_XMPP_SERVER == "managed" and owner.domain == settings.EVIM_XMPP_DOMAIN:
        return await connect_websocket(
            url=f"ws://127.0.0.1:{settings.EVIM_XMPP_HTTP_PORT}/xmpp-websocket",
            domain=owner.domain,
            jid=owner.jid,
            password=password,
            timeout=timeout,
        )
    if owner.domain == settings.EVIM_XMPP_DOMAIN:
        # The main host on an external server: its WebSocket, when the service settings
        # name one ("WebSocket upstream"), else its BOSH endpoint ("BOSH upstream"; the
        # settings page refuses both at once, the WebSocket wins should both be stored).
        websocket_url, bosh_url = await sync_to_async(_upstream_urls)()
        if websocket_url:
            return await connect_websocket(
                url=websocket_url,
                domain=owner.domain,
                jid=owner.jid,
                password=password,
                timeout=timeout,
            )
        if bosh_url:
            return await connect_bosh(
                url=bosh_url, domain=owner.domain, jid=owner.jid, password=password, timeout=timeout
            )
    # Any other server (an external one, or another domain): an XMPP stream over TCP.
    return await connect_tcp(jid=owner.jid, password=password, timeout=timeout)


def _upstream_urls() -> tuple[str, str]:
    values = service()
    return values.websocket_url, values.bosh_url


async def owner_for_handshake(session_key: str | None) -> StreamOwner | Refusal:
    """Who opens a stream with this session cookie: as found by the credentials view just
    before (see prepared.py), else looked up."""
    if session_key:
        owner = PREPARED.owner_of(session_key, max_age=settings.EVIM_GATEWAY_RECHECK_SECONDS)
        if owner is not None:
            return owner
    found: StreamOwner | Refusal = await sync_to_async(owner_for_session)(session_key)
    return found


def hooks_for(owner: StreamOwner) -> RelayHooks:
    async def redeem(token: str) -> bool:
        redeemed: bool = await sync_to_async(tokens.redeem_token)(
            token, user_id=owner.user_id, session_key=owner.session_key
        )
        if not redeemed:
            # The token is spent whatever the outcome: so is what was prepared with it.
            await PREPARED.discard(token)
        return redeemed

    async def connect(token: str) -> AuthenticatedUpstream:
        prepared = await PREPARED.claim(token, owner=owner)
        if prepared is not None:
            return prepared
        return await connect_upstream_for(owner)

    def translate(text: str) -> str:
        with translation.override(owner.language):
            return translation.gettext(text)

    return RelayHooks(
        redeem_token=redeem,
        connect_upstream=connect,
        translate=translate,
    )


class RelayedStream:
    """One browser stream of ``owner`` over ``transport`` ("websocket", "bosh"): registered
    (so that a logout or the permission sweep can end it) and counted from its creation
    until :meth:`run` returns."""

    def __init__(
        self,
        browser: BrowserTransport,
        owner: StreamOwner,
        *,
        transport: str,
        hooks: RelayHooks | None = None,
    ) -> None:
        """``hooks``: a guest's (``evim.gateway.guests``); by default a user's."""
        self.owner = owner
        self.transport = transport
        hooks = hooks or hooks_for(owner)
        # The day's figures (the Statistics option): a stream counts once connected.
        hooks.authenticated = lambda: USAGE.stream_opened(
            user_id=owner.user_id if owner.guest_link is None else None, transport=transport
        )
        self.relay = Relay(browser, owner, hooks=hooks, limits=limits_from_settings())
        self._stream = registry.OpenStream(
            user_id=owner.user_id,
            session_key=owner.session_key,
            jid=owner.jid,
            loop=asyncio.get_running_loop(),
            end=self.relay.request_end,
            guest_link=owner.guest_link,
        )
        registry.add(self._stream)
        METRICS.sessions_open[transport] += 1
        METRICS.sessions_total[transport] += 1
        logger.info(
            "Gateway: %s stream opened for user %s (%s)", transport, owner.user_id, owner.jid
        )

    async def run(self) -> None:
        try:
            await self.relay.run()
        finally:
            METRICS.sessions_open[self.transport] -= 1
            registry.remove(self._stream)
            logger.info("Gateway: %s stream closed for user %s", self.transport, self.owner.user_id)
