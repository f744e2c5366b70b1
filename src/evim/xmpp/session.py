"""Logged in as a user, to work on their own account: :func:`open_session`, :class:`Session`.

``session = await open_session(jid, password, target=…, timeout=…)`` logs in exactly as
a connection test does (:class:`evim.xmpp.client.LoginProbe`: TLS verified for the JID's
domain, one SASL attempt, no redirection, no reconnection), trying the target's addresses
in order, and raises :class:`LoginFailed` with the test's :class:`Outcome` when it cannot.
Then :meth:`Session.query` sends an ``<iq/>`` and returns the answer's payload, raising
:class:`RequestFailed` on an error, a time-out or a lost connection; :meth:`Session.close`
ends the stream.

The session never sends an initial presence: the user does not appear online to anyone,
and the server keeps their offline messages for their own clients (a server hands them
over on initial presence).  Subscription requests are never answered by slixmpp itself.
Neither the password nor anything derived from it reaches a log line or an exception.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Awaitable
from typing import Any, Literal, TypeVar

from slixmpp.exceptions import IqError, IqTimeout

from evim.xmpp import log_redaction
from evim.xmpp.addresses import ServerTarget
from evim.xmpp.client import CLIENT_CREATION, FindingKind, LoginProbe
from evim.xmpp.connection_test import (
    FAILURE_RANK,
    Attempt,
    Outcome,
    judge_finding,
    parse_bare_jid,
    password_problem,
)
from evim.xmpp.tls import CAFileError, client_ssl_context

logger = logging.getLogger("evim.xmpp")

T = TypeVar("T")

PresenceType = Literal["subscribe", "subscribed", "unavailable"]

#: Longest wait for the server's ``</stream:stream>`` when a session ends.
CLOSE_GRACE = 1.0


class LoginFailed(Exception):
    """evim could not log in as ``jid``: the connection test's outcome and detail."""

    def __init__(self, jid: str, outcome: Outcome, detail: str) -> None:
        super().__init__(f"{jid}: {outcome.value}: {detail}")
        self.jid = jid
        self.outcome = outcome
        self.detail = detail


class RequestFailed(Exception):
    """A request got an error (``condition``: the XMPP error condition, e.g. "forbidden";
    "timeout" without an answer; "connection-lost" when the stream ended)."""

    def __init__(self, condition: str, text: str = "") -> None:
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text


class SessionClient(LoginProbe):
    """A :class:`LoginProbe` kept open for work once the session started."""

    def __init__(
        self, jid: str, password: str, *, ssl_context: ssl.SSLContext, direct_tls: bool
    ) -> None:
        super().__init__(jid, password, ssl_context=ssl_context, direct_tls=direct_tls)
        # Subscription requests reach a session that asked for the roster: slixmpp would
        # approve them (and send presence) by itself.  Which ones to approve is evim's call.
        self.auto_authorize = None
        self.auto_subscribe = False
        #: Resolved when the connection ends, whoever ends it.
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.add_event_handler("disconnected", self._on_ended)

    def _on_ended(self, _event: object) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


class Session:
    """A logged-in session (:func:`open_session`); ``timeout``: seconds per request."""

    def __init__(self, client: SessionClient, *, timeout: float) -> None:
        self.client = client
        self.timeout = timeout
        self.jid: str = client.boundjid.bare
        self.domain: str = client.boundjid.domain

    @property
    def preapproval(self) -> bool:
        """The server supports subscription pre-approval (RFC 6121 §3.4)."""
        return "preapproval" in self.client.features

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, within the time limit, unless the connection ends."""
        task = asyncio.ensure_future(awaitable)
        watched: list[asyncio.Future[Any]] = [task, self.client.ended]
        await asyncio.wait(watched, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        if self.client.ended.done():
            raise RequestFailed("connection-lost", "the server closed the connection")
        raise RequestFailed("timeout", f"no answer within {self.timeout:g} s")

    async def query(
        self, kind: Literal["get", "set"], payload: ET.Element, *, to: str | None = None
    ) -> ET.Element | None:
        """Send an ``<iq type=kind>`` holding ``payload`` (to ``to``, else to the user's own
        account) and return the answer's payload (``None`` if empty)."""
        iq: Any = self.client.make_iq(ito=to, itype=kind)
        iq.xml.append(payload)
        try:
            reply: Any = await self.wait(iq.send(timeout=self.timeout + 1))
        except IqError as error:
            raise RequestFailed(str(error.condition), str(error.text or "")) from None
        except IqTimeout:
            raise RequestFailed("timeout", f"no answer within {self.timeout:g} s") from None
        children = list(reply.xml)
        return next((child for child in children if not child.tag.endswith("}error")), None)

    def send_presence(
        self, to: str, kind: PresenceType | None = None, *, payload: ET.Element | None = None
    ) -> None:
        """A directed presence (``kind``: "subscribe", "unavailable"…; ``None``: available)."""
        presence: Any = self.client.make_presence(pto=to, ptype=kind)
        if payload is not None:
            presence.xml.append(payload)
        presence.send()

    async def close(self) -> None:
        await self.client.close(grace=CLOSE_GRACE)


async def open_session(jid: str, password: str, *, target: ServerTarget, timeout: float) -> Session:
    """Log in as ``jid`` at the first of ``target``'s addresses that answers (see the
    module's doc); ``timeout``: seconds for the login, then for each request.  Raises
    :class:`LoginFailed`."""
    parsed = parse_bare_jid(jid)
    problem = password_problem(password)
    if problem is not None:
        raise LoginFailed(parsed.bare, Outcome.AUTH, f"{problem}; nothing was sent")
    if not target.addresses:
        raise LoginFailed(parsed.bare, Outcome.UNKNOWN_HOST, "no address to try")
    try:
        context = client_ssl_context(target.ca_file)
    except CAFileError as error:
        raise LoginFailed(parsed.bare, Outcome.CERTIFICATE, str(error)) from None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    failures: list[Attempt] = []
    with log_redaction.secrets_hidden(password, username=parsed.user):
        for address in target.addresses:
            if loop.time() >= deadline:
                break
            with CLIENT_CREATION:
                client = SessionClient(
                    parsed.bare, password, ssl_context=context, direct_tls=address.direct_tls
                )
            client.start(address.host, address.port)
            await asyncio.wait({client.finding}, timeout=max(deadline - loop.time(), 0))
            finding = client.finding.result() if client.finding.done() else None
            if finding is not None and finding.kind is FindingKind.SESSION_STARTED:
                logger.debug("Session of %s started at %s", parsed.bare, address)
                return Session(client, timeout=timeout)
            attempt = judge_finding(client, finding, address, timeout)
            await client.close(grace=0)
            if attempt.answered or attempt.outcome is Outcome.TIMEOUT:
                raise _failed(parsed.bare, password, attempt.outcome, attempt.detail)
            failures.append(attempt)
    if not failures:
        raise LoginFailed(parsed.bare, Outcome.TIMEOUT, f"no time left ({timeout:g} s)")
    best = max(failures, key=lambda failure: FAILURE_RANK.get(failure.outcome, 0))
    detail = "; ".join(failure.detail for failure in failures)
    raise _failed(parsed.bare, password, best.outcome, detail)


def _failed(jid: str, password: str, outcome: Outcome, detail: str) -> LoginFailed:
    # A server may echo what it was sent: never let the password through.
    for form in sorted(log_redaction.secret_forms(password), key=len, reverse=True):
        detail = detail.replace(form, log_redaction.REDACTED)
    return LoginFailed(jid, outcome, detail.replace(password, log_redaction.REDACTED))
