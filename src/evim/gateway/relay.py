"""The relay core, the same for every browser-facing transport (WebSocket; BOSH later).

A stream goes through three steps:

1. the browser opens a stream and is offered SASL PLAIN only; it authenticates with the
   one-time token it got from ``credentials_url`` (never the Jabber password);
2. the gateway redeems the token, then connects to the user's server and authenticates
   there with the stored credentials; the browser gets ``<success/>``;
3. after the browser's stream restart, it gets the server's own stream id and features,
   and every element passes both ways unchanged (resource binding, stream management,
   carbons, MAM...).  Browser frames are checked first (size, no DTD or entities, rate).

When the browser goes away without closing its stream (a page navigation), the upstream
connection is dropped without closing the XMPP stream, so that the server keeps the
session for stream-management resumption.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from xml.etree import ElementTree

from django.utils.translation import gettext_noop

from evim.gateway import stanzas
from evim.gateway.framing import ClientFrame, FrameError, FrameKind, parse_client_frame
from evim.gateway.metrics import METRICS
from evim.gateway.upstream import AuthenticatedUpstream, UpstreamClosed, UpstreamError
from evim.gateway.upstream.ending import CLEAN_CLOSE, CONNECTION_FAILED
from evim.gateway.usage import USAGE

logger = logging.getLogger("evim.gateway")


class BrowserTransport(Protocol):
    async def receive(self) -> str | None:
        """The next frame from the browser; None when it went away."""

    async def send(self, frame: str) -> None: ...

    async def close(self) -> None:
        """End the transport (after the gateway's ``<close/>``)."""


@dataclass(frozen=True)
class StreamOwner:
    """Whose stream it is: the back-office user and session, and their Jabber account."""

    user_id: int
    session_key: str
    jid: str
    #: The back-office language, for the texts the user may see (not part of identity).
    language: str = field(default="fr", compare=False)
    #: A guest's stream (anonymous mode): the guest link's id; ``user_id`` is then 0 and
    #: ``session_key`` the guest's browser session.
    guest_link: int | None = None

    @property
    def domain(self) -> str:
        return self.jid.rpartition("@")[2]

    @property
    def localpart(self) -> str:
        return self.jid.rpartition("@")[0]


@dataclass(frozen=True)
class RelayLimits:
    max_stanza_bytes: int
    frames_per_second: float
    frame_burst: int


class StreamPolicy(Protocol):
    """What a stream may do beyond the checks every stream gets: a guest's stream (anonymous
    mode) reaches one room only (``evim.gateway.guests``)."""

    def screen(self, frame: ClientFrame) -> str | None:
        """None: forward ``frame``; else send this instead to the browser ("" for nothing).
        Raises StreamEnded to end the stream."""

    async def seen_from_server(self, frame: str) -> None:
        """Called with each frame from the server before the browser gets it."""

    async def finish(self) -> None:
        """Called once when the stream is over."""


@dataclass
class RelayHooks:
    """What the relay asks of the rest of evim (so that it stays free of Django)."""

    #: True once for a valid token of this owner (the token is then spent).
    redeem_token: Callable[[str], Awaitable[bool]]
    #: The authenticated upstream for this owner, given the redeemed token (which may have
    #: an upstream prepared with it); raises UpstreamError.
    connect_upstream: Callable[[str], Awaitable[AuthenticatedUpstream]]
    #: A text the user may see, in their language (texts are marked with gettext_noop).
    translate: Callable[[str], str] = str
    #: Limits on what the stream may send, if any (guests').
    policy: StreamPolicy | None = None
    #: Called once the browser's stream is logged in upstream (the chat is connected).
    authenticated: Callable[[], None] = lambda: None


class StreamEnded(Exception):
    """Ends the relay; ``condition`` is sent as a stream error when not None."""

    def __init__(self, condition: str | None, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Relay:
    def __init__(
        self,
        browser: BrowserTransport,
        owner: StreamOwner,
        *,
        hooks: RelayHooks,
        limits: RelayLimits,
    ) -> None:
        self.browser = browser
        self.owner = owner
        self.hooks = hooks
        self.limits = limits
        self.upstream: AuthenticatedUpstream | None = None
        self.bucket = TokenBucket(limits.frames_per_second, limits.frame_burst)
        self._end_requested: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def request_end(self, reason: str) -> None:
        """End the stream (the user logged out...); called on the relay's loop."""
        if not self._end_requested.done():
            self._end_requested.set_result(reason)

    # --- the three steps ------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._authenticate()
            await self._relay()
        except StreamEnded as ended:
            await self._end_browser(ended)
            if self.upstream is not None:
                await self._close_upstream(clean=True)
        finally:
            if self.upstream is not None:
                await self._close_upstream(clean=False)
            if self.hooks.policy is not None:
                with contextlib.suppress(Exception):
                    await self.hooks.policy.finish()

    async def _authenticate(self) -> None:
        opening = await self._next_frame()
        self._expect_open(opening)
        await self.browser.send(stanzas.open_frame(domain=self.owner.domain))
        await self.browser.send(stanzas.sasl_features_frame())
        auth = await self._next_frame()
        token = self._token_from(auth)
        if token is None or not await self.hooks.redeem_token(token):
            METRICS.authentication_failures["token"] += 1
            logger.warning("Gateway: authentication refused for user %s", self.owner.user_id)
            await self.browser.send(
                stanzas.sasl_failure_frame(
                    "not-authorized", self._(gettext_noop("Log in to the back office again."))
                )
            )
            raise StreamEnded(None, "authentication refused")
        try:
            self.upstream = await self.hooks.connect_upstream(token)
        except UpstreamError as error:
            METRICS.upstream_errors[error.condition] += 1
            logger.warning("Gateway: upstream for %s failed: %s", self.owner.jid, error.detail)
            if error.condition == "not-authorized":
                await self.browser.send(
                    stanzas.sasl_failure_frame(
                        "temporary-auth-failure",
                        self._(
                            gettext_noop(
                                "The Jabber server refused the stored password: ask an "
                                "administrator to check the account on the Messagerie page."
                            )
                        ),
                    )
                )
                raise StreamEnded(None, "upstream refused the stored credentials") from None
            raise StreamEnded(
                "remote-connection-failed",
                self._(
                    gettext_noop(
                        "The chat server cannot be reached right now. Try again in a moment."
                    )
                ),
            ) from None
        await self.browser.send(stanzas.sasl_success_frame())
        self._expect_open(await self._next_frame())
        await self.browser.send(
            stanzas.open_frame(domain=self.owner.domain, stream_id=self.upstream.stream_id)
        )
        await self.browser.send(self.upstream.features_frame)
        self.hooks.authenticated()
        logger.info("Gateway: stream of %s authenticated", self.owner.jid)

    async def _relay(self) -> None:
        assert self.upstream is not None
        tasks = {
            asyncio.create_task(self._browser_to_upstream(self.upstream), name="from-browser"),
            asyncio.create_task(self._upstream_to_browser(self.upstream), name="to-browser"),
            asyncio.create_task(self._watch_end(), name="watch"),
        }
        try:
            done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for task in done:
            task.result()  # raises StreamEnded, which run() turns into the right ending

    # --- the two directions ---------------------------------------------------------------

    async def _browser_to_upstream(self, upstream: AuthenticatedUpstream) -> None:
        while True:
            text = await self.browser.receive()
            if text is None:
                # A page navigation: keep the server's session for resumption.
                await self._close_upstream(clean=False)
                return
            if not self.bucket.take():
                raise StreamEnded(
                    "policy-violation", self._(gettext_noop("Too many messages at once."))
                )
            frame = self._parse(text)
            if frame.kind is FrameKind.CLOSE:
                await self._close_upstream(clean=True)
                raise StreamEnded(None, "closed by the browser")
            if frame.kind is FrameKind.OPEN:
                raise StreamEnded("not-authorized", "No stream restart after authentication.")
            if self.hooks.policy is not None:
                answer = self.hooks.policy.screen(frame)
                if answer is not None:
                    if answer:
                        await self.browser.send(answer)
                    continue
            await upstream.send(frame.text)
            METRICS.stanzas_from_browser += 1
            METRICS.bytes_from_browser += len(frame.text)
            USAGE.from_browser(frame.name, frame.text)

    async def _upstream_to_browser(self, upstream: AuthenticatedUpstream) -> None:
        try:
            while True:
                frame = await upstream.receive()
                if self.hooks.policy is not None:
                    await self.hooks.policy.seen_from_server(frame)
                await self.browser.send(frame)
                METRICS.stanzas_to_browser += 1
                METRICS.bytes_to_browser += len(frame)
                USAGE.to_browser(frame)
        except UpstreamClosed as closed:
            self.upstream = None  # nothing left to close
            if closed.condition == CONNECTION_FAILED:  # the server went away mid-stream
                raise self._server_lost() from None
            condition = None if closed.condition == CLEAN_CLOSE else closed.condition
            raise StreamEnded(condition, closed.detail) from None
        except UpstreamError as error:
            self.upstream = None
            METRICS.upstream_errors[error.condition] += 1
            raise self._server_lost() from error

    def _server_lost(self) -> StreamEnded:
        """The server went away after the login (killed, restarted, unreachable).

        Told to the browser as ``system-shutdown``, after which clients come back (Converse
        retries); ``remote-connection-failed`` is what a login that cannot reach the server
        gets, and Converse takes that one as final (and asks whether the address is right).
        """
        return StreamEnded(
            "system-shutdown",
            self._(gettext_noop("The connection to the chat server was lost.")),
        )

    async def _watch_end(self) -> None:
        """Until an end is requested: a logout, or the periodic sweep finding the session
        or the account gone (``permissions.py``)."""
        reason = await asyncio.shield(self._end_requested)
        text = self._(gettext_noop("The chat ended: %(reason)s."))
        raise StreamEnded("not-authorized", text % {"reason": self._(reason)})

    # --- helpers ----------------------------------------------------------------------------

    def _(self, text: str) -> str:
        return self.hooks.translate(text)

    async def _next_frame(self) -> ClientFrame:
        text = await self.browser.receive()
        if text is None:
            raise StreamEnded(None, "the browser went away")
        if not self.bucket.take():
            raise StreamEnded(
                "policy-violation", self._(gettext_noop("Too many messages at once."))
            )
        return self._parse(text)

    def _parse(self, text: str) -> ClientFrame:
        try:
            return parse_client_frame(text, max_size=self.limits.max_stanza_bytes)
        except FrameError as error:
            METRICS.frames_refused[error.condition] += 1
            logger.warning(
                "Gateway: refused a frame of user %s: %s", self.owner.user_id, error.condition
            )
            raise StreamEnded(error.condition, error.detail) from None

    def _expect_open(self, frame: ClientFrame) -> None:
        if frame.kind is not FrameKind.OPEN:
            raise StreamEnded("invalid-xml", "A stream starts with <open/>.")
        to = frame.attributes.get("to", self.owner.domain).lower()
        if to != self.owner.domain:
            raise StreamEnded("host-unknown", f"This gateway serves {self.owner.domain} only.")

    def _token_from(self, frame: ClientFrame) -> str | None:
        if frame.kind is not FrameKind.ELEMENT or frame.name != "auth":
            raise StreamEnded("not-authorized", "Authenticate first.")
        if frame.namespace != stanzas.SASL or frame.attributes.get("mechanism") != "PLAIN":
            return None
        try:
            # Safe: parse_client_frame already refused DTDs, entities and oversized frames.
            element = ElementTree.fromstring(frame.text)  # noqa: S314
            payload = base64.b64decode(element.text or "", validate=True)
            authzid, authcid, token = payload.decode().split("\0")
        except (binascii.Error, ValueError, UnicodeDecodeError, ElementTree.ParseError):
            return None
        names = {self.owner.localpart, self.owner.jid}
        if authcid not in names or authzid not in {"", self.owner.jid}:
            return None
        return token

    async def _end_browser(self, ended: StreamEnded) -> None:
        with contextlib.suppress(Exception):
            if ended.condition is not None:
                await self.browser.send(stanzas.stream_error_frame(ended.condition, ended.text))
            await self.browser.send(stanzas.close_frame())
        with contextlib.suppress(Exception):
            await self.browser.close()

    async def _close_upstream(self, *, clean: bool) -> None:
        upstream, self.upstream = self.upstream, None
        if upstream is None:
            return
        with contextlib.suppress(Exception):
            await (upstream.close() if clean else upstream.abort())
