"""Upstream logins prepared while the browser fetches its token.

Converse.js fetches ``credentials_url`` right before it opens its WebSocket.  The
credentials view starts the user's upstream login (connection, SCRAM, stream restart) at
that moment, on the server's event loop; when the browser then authenticates with that
token, the relay claims the upstream ready instead of only starting to log in.  So opening
a chat through the gateway costs about what logging in straight to the server does
(docs/performance.md), although the gateway logs in on the user's behalf.

A prepared upstream serves only the token it was prepared with, hence only its user and
back-office session, and only once: it is claimed, or closed with the token (a refused
redemption, the token's expiry, a logout).  At most ``MAX_PER_USER`` wait per user: a new
one evicts the oldest (whose token, if it is still used, then logs in when the browser
authenticates, as without preparation).
Nothing is prepared outside a serving evim (the ASGI lifespan gives the loop): the Django
test client and management commands issue tokens without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from evim.gateway.metrics import METRICS
from evim.gateway.relay import StreamOwner
from evim.gateway.upstream import AuthenticatedUpstream

logger = logging.getLogger("evim.gateway")

#: Prepared upstreams that may wait at once for one user (a few tabs opening together).
MAX_PER_USER = 3

Connect = Callable[[StreamOwner], Coroutine[Any, Any, AuthenticatedUpstream]]


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(eq=False)
class _Preparation:
    owner: StreamOwner
    login: asyncio.Task[AuthenticatedUpstream]
    expiry: asyncio.TimerHandle
    #: When the credentials view checked the owner (loop time).
    checked_at: float


class PreparedUpstreams:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[str, _Preparation] = {}
        self._disposals: set[asyncio.Task[None]] = set()

    # --- from the serving process ----------------------------------------------------------

    def serve_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Prepare upstreams on ``loop`` from now on (the ASGI lifespan's startup)."""
        self._loop = loop

    async def close_all(self) -> None:
        """Close every waiting upstream (the ASGI lifespan's shutdown)."""
        for key in list(self._waiting):
            self._dispose(key, outcome="discarded")
        if self._disposals:
            await asyncio.wait(self._disposals)
        self._loop = None

    # --- from any thread (the credentials view, the logout signal) --------------------------

    def prepare(self, token: str, *, owner: StreamOwner, connect: Connect, lifetime: float) -> bool:
        """Start logging in upstream for ``owner`` now; False when evim is not serving."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        loop.call_soon_threadsafe(self._start, _key(token), owner, connect, lifetime)
        return True

    def discard_session(self, *, user_id: int, session_key: str) -> None:
        """Close what waits for this back-office session (it logged out)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._discard_session, user_id, session_key)

    # --- on the loop -----------------------------------------------------------------------

    async def claim(self, token: str, *, owner: StreamOwner) -> AuthenticatedUpstream | None:
        """The upstream prepared with ``token`` for ``owner``, once; None if there is none.

        Raises UpstreamError as a login would, when the prepared login failed.
        """
        preparation = self._waiting.pop(_key(token), None)
        if preparation is None:
            return None
        preparation.expiry.cancel()
        if preparation.owner != owner:  # cannot happen with a redeemed token: be sure anyway
            self._close_later(preparation)
            return None
        METRICS.upstreams_prepared["claimed"] += 1
        return await preparation.login

    async def discard(self, token: str) -> None:
        self._dispose(_key(token), outcome="discarded")

    def waiting(self) -> int:
        return len(self._waiting)

    def owner_of(self, session_key: str, *, max_age: float) -> StreamOwner | None:
        """Whose this back-office session is, as the credentials view found it at most
        ``max_age`` seconds ago (for a token not yet used); None if it has not.

        Spares the WebSocket handshake that follows a token's issue the session lookup:
        the check is as fresh as the periodic re-check of open streams.
        """
        if self._loop is None:
            return None
        oldest = self._loop.time() - max_age
        for preparation in self._waiting.values():
            if preparation.owner.session_key == session_key and preparation.checked_at >= oldest:
                return preparation.owner
        return None

    def _start(self, key: str, owner: StreamOwner, connect: Connect, lifetime: float) -> None:
        assert self._loop is not None
        users = [k for k, p in self._waiting.items() if p.owner.user_id == owner.user_id]
        for oldest in users[: len(users) - MAX_PER_USER + 1]:  # in the order they came
            self._dispose(oldest, "evicted")  # the newest token is the one about to be used
        login = self._loop.create_task(connect(owner), name=f"prepared-upstream-{owner.jid}")
        # Retrieve a failure here too: an unclaimed failed login must not log "never retrieved".
        login.add_done_callback(_retrieve_exception)
        expiry = self._loop.call_later(lifetime, self._dispose, key, "expired")
        self._waiting[key] = _Preparation(owner, login, expiry, checked_at=self._loop.time())

    def _discard_session(self, user_id: int, session_key: str) -> None:
        for key, preparation in list(self._waiting.items()):
            if (preparation.owner.user_id, preparation.owner.session_key) == (
                user_id,
                session_key,
            ):
                self._dispose(key, "discarded")

    def _dispose(self, key: str, outcome: str) -> None:
        preparation = self._waiting.pop(key, None)
        if preparation is None:
            return
        preparation.expiry.cancel()
        METRICS.upstreams_prepared[outcome] += 1
        self._close_later(preparation)

    def _close_later(self, preparation: _Preparation) -> None:
        assert self._loop is not None
        disposal = self._loop.create_task(_close(preparation.login))
        self._disposals.add(disposal)
        disposal.add_done_callback(self._disposals.discard)


def _retrieve_exception(login: asyncio.Task[AuthenticatedUpstream]) -> None:
    if not login.cancelled():
        login.exception()


async def _close(login: asyncio.Task[AuthenticatedUpstream]) -> None:
    """End an unused login: cancel it, or close its stream (it was never bound: nothing
    is left on the server to resume)."""
    if not login.done():
        login.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await login
        return
    if login.cancelled() or login.exception() is not None:
        return
    with contextlib.suppress(Exception):
        await login.result().close()


#: The prepared upstreams of this process.
PREPARED = PreparedUpstreams()
