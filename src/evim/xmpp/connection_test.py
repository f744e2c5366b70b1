"""Test an XMPP account by logging in to its server ("Test connection").

``await test_login(jid=…, password=…, addresses=…, ca_file=…, timeout=…)`` logs in for
real with slixmpp (:class:`evim.xmpp.client.LoginProbe`): TLS (direct, or STARTTLS), the
certificate verified against ``ca_file`` (else the system's trust store) for the JID's
domain, SASL (SCRAM when offered, one attempt), resource binding; then it disconnects
cleanly.  Addresses are tried in order until one answers at the XMPP level (sends a stream
header).  It returns a :class:`ConnectionTestResult`: an :class:`Outcome` for the user
interface to word, and a short technical ``detail`` for logs and administrators.  Neither
the result nor any log line (evim's or slixmpp's, DEBUG included) holds the password.

:func:`test_login_for` takes the addresses, trust anchor and time limit from evim's
settings (:class:`evim.xmpp.addresses.ServerLocator`); :func:`test_many` tests a batch
with bounded concurrency and reports progress.

Each login runs on an event loop of its own, in a worker thread, which ends with the test:
slixmpp's tasks, timers and sockets cannot outlive it, whatever state the server leaves
the client in, and SCRAM's key derivation (pure Python, ~0.1 s) does not stall the
caller's loop.  Cancelling the caller cancels the login.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from slixmpp.jid import JID, InvalidJID
from slixmpp.util.sasl.client import saslprep
from slixmpp.util.stringprep_profiles import StringPrepError

from evim.xmpp import log_redaction
from evim.xmpp.addresses import ResolutionError, ServerAddress, ServerLocator
from evim.xmpp.client import CLIENT_CREATION, Finding, FindingKind, LoginProbe, Stage
from evim.xmpp.isolated import run_isolated
from evim.xmpp.tls import CAFileError, client_ssl_context

logger = logging.getLogger("evim.xmpp")


#: Longest wait for the server's ``</stream:stream>`` after a test (within the time limit).
CLOSE_GRACE = 1.0
#: Shown instead of the password, should anything echo it.
REDACTED = log_redaction.REDACTED


class Outcome(enum.StrEnum):
    """What a connection test found (stored in the database: values never change).

    - ``OK``: logged in (TLS, certificate, SASL and resource binding all succeeded).
    - ``UNKNOWN_HOST``: no server could be found: the domain does not exist in DNS, its DNS
      says it offers no XMPP service, a host name does not resolve, or there is no address
      to try.
    - ``REFUSED``: no server accepted a TCP connection (refused, unreachable, reset before
      anything was said).
    - ``TLS``: the encrypted connection could not be set up: TLS handshake failure (e.g.
      direct TLS on a STARTTLS port), or the server offers no STARTTLS on a clear stream.
    - ``CERTIFICATE``: the server's certificate is not trusted (unknown CA, self-signed,
      expired) or does not name the JID's domain; or the CA file to trust cannot be read.
    - ``AUTH``: the server refused the login (wrong password, unknown user, account
      disabled…), or the password cannot be used in XMPP at all (SASLprep refuses it).
    - ``TIMEOUT``: the server did not complete its part within the time limit.
    - ``PROTOCOL``: the server answered, but not as an XMPP server should let a client in:
      stream error (e.g. ``host-unknown``: it does not serve this domain), no SASL
      mechanism evim can use, a connection closed in the middle of the login.
    """

    OK = "ok"
    UNKNOWN_HOST = "unknown-host"
    REFUSED = "refused"
    TLS = "tls"
    CERTIFICATE = "certificate"
    AUTH = "auth"
    TIMEOUT = "timeout"
    PROTOCOL = "protocol"


@dataclass(frozen=True)
class ConnectionTestResult:
    """The outcome, the address that gave it (``None``: none was tried), a technical
    explanation in English (never the password) and the seconds the test took."""

    outcome: Outcome
    address: ServerAddress | None
    detail: str
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


#: When no address answered, the failure to report: the one that got furthest.
FAILURE_RANK = {
    Outcome.CERTIFICATE: 6,
    Outcome.TLS: 5,
    Outcome.PROTOCOL: 4,
    Outcome.TIMEOUT: 3,
    Outcome.REFUSED: 2,
    Outcome.UNKNOWN_HOST: 1,
}


@dataclass(frozen=True)
class Attempt:
    """One login attempt at one address, judged (:func:`judge_finding`)."""

    outcome: Outcome
    address: ServerAddress | None
    detail: str
    #: The server sent a stream header: do not try the next address.
    answered: bool


# --- the public functions -------------------------------------------------------------------


def parse_bare_jid(jid: str) -> JID:
    """``jid`` as a bare JID ``user@domain``; ``ValueError`` if it is not one."""
    try:
        parsed = JID(jid.strip())
    except InvalidJID as error:
        raise ValueError(f"not a valid JID: {jid!r} ({error})") from None
    if not parsed.user or not parsed.domain or parsed.resource:
        raise ValueError(f"not a bare JID user@domain: {jid!r}")
    return parsed


async def test_login(
    *,
    jid: str,
    password: str,
    addresses: Sequence[ServerAddress],
    ca_file: Path | None,
    timeout: float,
) -> ConnectionTestResult:
    """Log in as ``jid`` at the first of ``addresses`` that answers; see the module's doc.

    ``ca_file``: the PEM bundle to trust (``None``: the system's store); ``timeout``: the
    seconds the whole test may take.  Raises ``ValueError`` if ``jid`` is not a bare JID.
    """
    started = time.monotonic()
    parsed = parse_bare_jid(jid)
    if timeout <= 0:
        raise ValueError("test_login: timeout must be positive")

    def result(
        outcome: Outcome, address: ServerAddress | None, detail: str
    ) -> ConnectionTestResult:
        return _result(
            outcome, address, detail, started=started, jid=parsed.bare, password=password
        )

    problem = password_problem(password)
    if problem is not None:
        return result(Outcome.AUTH, None, f"{problem}; nothing was sent")
    if not addresses:
        return result(Outcome.UNKNOWN_HOST, None, f"no address to try for {parsed.domain}")
    attempt = await run_isolated(
        lambda: _try_addresses(parsed, password, list(addresses), ca_file, timeout),
        name=f"evim-xmpp-test {parsed.bare}",
    )
    return result(attempt.outcome, attempt.address, attempt.detail)


async def test_login_for(
    jid: str,
    password: str,
    *,
    locator: ServerLocator | None = None,
    timeout: float | None = None,
) -> ConnectionTestResult:
    """:func:`test_login` with the addresses, trust anchor and time limit of evim's settings
    (``locator``/``timeout`` replace them).  Raises ``ValueError`` if ``jid`` is not a bare
    JID or ``EVIM_XMPP_ADDRESS_OVERRIDES`` is invalid."""
    started = time.monotonic()
    parsed = parse_bare_jid(jid)
    if locator is None:
        locator = ServerLocator.from_settings()
    if timeout is None:
        timeout = timeout_from_settings()
    try:
        async with asyncio.timeout(timeout):
            target = await locator.locate(parsed.domain)
    except ResolutionError as error:
        outcome, detail = Outcome.UNKNOWN_HOST, str(error)
    except TimeoutError:
        outcome = Outcome.TIMEOUT
        detail = f"the DNS lookup of {parsed.domain} took longer than {timeout:g} s"
    else:
        outcome = Outcome.OK
    if outcome is not Outcome.OK:
        return _result(outcome, None, detail, started=started, jid=parsed.bare, password=password)
    remaining = max(timeout - (time.monotonic() - started), 0.001)
    tested = await test_login(
        jid=parsed.bare,
        password=password,
        addresses=target.addresses,
        ca_file=target.ca_file,
        timeout=remaining,
    )
    return replace(tested, elapsed=time.monotonic() - started)


Progress = Callable[[int, int], Awaitable[None] | None]


async def test_many(
    items: Iterable[tuple[str, str]],
    *,
    concurrency: int = 4,
    progress: Progress | None = None,
    locator: ServerLocator | None = None,
    timeout: float | None = None,
) -> list[ConnectionTestResult]:
    """Test every ``(jid, password)`` of ``items`` (:func:`test_login_for`), at most
    ``concurrency`` at a time; results in the order of ``items``.  ``progress(done, total)``
    is called (and awaited, if it returns an awaitable) after each test.  Raises
    ``ValueError`` before testing anything if a JID is not a bare JID."""
    accounts = list(items)
    for jid, _password in accounts:
        parse_bare_jid(jid)
    if concurrency < 1:
        raise ValueError("test_many: concurrency must be at least 1")
    if locator is None:
        locator = ServerLocator.from_settings()
    if timeout is None:
        timeout = timeout_from_settings()
    total = len(accounts)
    results: list[ConnectionTestResult | None] = [None] * total
    semaphore = asyncio.Semaphore(concurrency)
    done = 0
    progress_lock = asyncio.Lock()

    async def one(index: int, jid: str, password: str) -> None:
        nonlocal done
        async with semaphore:
            results[index] = await test_login_for(jid, password, locator=locator, timeout=timeout)
        if progress is not None:
            async with progress_lock:  # calls in order: (1, n), (2, n)…
                done += 1
                reported = progress(done, total)
                if inspect.isawaitable(reported):
                    await reported

    async with asyncio.TaskGroup() as group:
        for index, (jid, password) in enumerate(accounts):
            group.create_task(one(index, jid, password), name=f"evim-xmpp-test-{index}")
    return [result for result in results if result is not None]


def timeout_from_settings() -> float:
    """``EVIM_XMPP_TIMEOUT``, in seconds."""
    from django.conf import settings

    return float(settings.EVIM_XMPP_TIMEOUT)


# --- one test, on its own event loop -----------------------------------------------------


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be sent at all (empty, refused by SASLprep), or ``None``."""
    if not password:
        return "the password is empty"
    try:
        saslprep(password)
    except StringPrepError:
        return "the password holds characters XMPP does not allow (SASLprep refuses it)"
    return None


def _result(
    outcome: Outcome,
    address: ServerAddress | None,
    detail: str,
    *,
    started: float,
    jid: str,
    password: str,
) -> ConnectionTestResult:
    if password:
        for form in sorted(log_redaction.secret_forms(password), key=len, reverse=True):
            detail = detail.replace(form, REDACTED)
        detail = detail.replace(password, REDACTED)
    elapsed = time.monotonic() - started
    # INFO whatever the outcome: a failed test is an answer, not a malfunction of evim.
    logger.info("Connection test of %s: %s in %.2f s: %s", jid, outcome.value, elapsed, detail)
    return ConnectionTestResult(outcome=outcome, address=address, detail=detail, elapsed=elapsed)


async def _try_addresses(
    jid: JID,
    password: str,
    addresses: list[ServerAddress],
    ca_file: Path | None,
    timeout: float,
) -> Attempt:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        context = client_ssl_context(ca_file)  # loads certificates: done in the worker
    except CAFileError as error:
        return Attempt(Outcome.CERTIFICATE, None, str(error), False)
    failures: list[Attempt] = []
    with log_redaction.secrets_hidden(password, username=jid.user):
        for address in addresses:
            if loop.time() >= deadline:
                break
            attempt = await _attempt(jid, password, address, context, deadline, timeout)
            if attempt.answered or attempt.outcome is Outcome.TIMEOUT:
                return attempt
            logger.debug("Connection test of %s: %s", jid.bare, attempt.detail)
            failures.append(attempt)
    if not failures:  # the time limit ran out before an address could be tried
        return Attempt(Outcome.TIMEOUT, addresses[0], f"no time left ({timeout:g} s)", False)
    best = max(failures, key=lambda failure: FAILURE_RANK.get(failure.outcome, 0))
    if len(failures) == 1:
        return best
    return replace(best, detail="; ".join(failure.detail for failure in failures))


async def _attempt(
    jid: JID,
    password: str,
    address: ServerAddress,
    context: ssl.SSLContext,
    deadline: float,
    timeout: float,
) -> Attempt:
    loop = asyncio.get_running_loop()
    with CLIENT_CREATION:
        probe = LoginProbe(jid.bare, password, ssl_context=context, direct_tls=address.direct_tls)
    finding: Finding | None = None
    try:
        probe.start(address.host, address.port)
        await asyncio.wait({probe.finding}, timeout=max(deadline - loop.time(), 0))
        if probe.finding.done():
            finding = probe.finding.result()
        attempt = judge_finding(probe, finding, address, timeout)
    finally:
        grace = min(CLOSE_GRACE, max(deadline - loop.time(), 0))
        await probe.close(grace=grace if finding is not None else 0)
    return attempt


# --- what a finding means ------------------------------------------------------------------

_WAITING_FOR = {
    Stage.CONNECTING: "no TCP connection",
    Stage.STREAM: "connected, but the server did not open the XMPP stream",
    Stage.TLS: "the TLS handshake did not finish",
    Stage.AUTHENTICATING: "the server did not answer the authentication",
    Stage.BINDING: "authenticated, but the server did not bind a resource",
    Stage.DONE: "the session did not start",
}


def _tls_outcome(error: BaseException | None, fallback: str, domain: str) -> tuple[Outcome, str]:
    if isinstance(error, ssl.SSLCertVerificationError):
        return Outcome.CERTIFICATE, f"certificate not accepted: {error.verify_message}"
    if isinstance(error, ssl.SSLError) and error.reason == "TLSV1_UNRECOGNIZED_NAME":
        return Outcome.PROTOCOL, f"the server does not serve {domain} (TLS: unrecognized name)"
    if isinstance(error, ssl.SSLError):
        return Outcome.TLS, f"TLS handshake failed: {error.reason or error}"
    return Outcome.TLS, f"TLS handshake failed: {error or fallback}"


def judge_finding(
    probe: LoginProbe, finding: Finding | None, address: ServerAddress, timeout: float
) -> Attempt:
    """What ``finding`` (``None``: nothing within ``timeout``) of ``probe`` at ``address``
    means: an :class:`Outcome`, a technical detail, whether the server answered."""
    answered = probe.stream_opened

    def attempt(outcome: Outcome, detail: str, *, answered: bool = answered) -> Attempt:
        return Attempt(outcome, address, f"{address}: {detail}", answered)

    if finding is None:
        stage = probe.stage
        if stage is Stage.CONNECTING and address.direct_tls:
            waiting = "no TLS connection: TCP connection or TLS handshake unfinished"
        elif stage is Stage.STREAM and probe.stream_opened:
            waiting = "the server did not send its stream features"
        else:
            waiting = _WAITING_FOR[stage]
        return attempt(Outcome.TIMEOUT, f"no answer within {timeout:g} s ({waiting})")
    kind, error = finding.kind, finding.error
    if kind is FindingKind.SESSION_STARTED:
        summary = _session_summary(probe)
        return attempt(Outcome.OK, f"logged in as {probe.boundjid.full} ({summary})")
    if kind is FindingKind.CONNECTION_FAILED:
        if error is None:
            return attempt(Outcome.UNKNOWN_HOST, f"the host {address.host} does not resolve")
        if isinstance(error, ssl.SSLError):
            outcome, detail = _tls_outcome(error, "", probe.boundjid.domain)
            return attempt(outcome, detail)
        if isinstance(error, ConnectionRefusedError):
            return attempt(Outcome.REFUSED, "connection refused")
        if isinstance(error, TimeoutError):
            return attempt(Outcome.TIMEOUT, "the TCP connection timed out")
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return attempt(Outcome.REFUSED, f"cannot connect ({reason})")
    if kind is FindingKind.TLS_FAILED:
        outcome, detail = _tls_outcome(error, finding.text, probe.boundjid.domain)
        return attempt(outcome, f"STARTTLS: {detail}")
    if kind is FindingKind.NO_STARTTLS:
        return attempt(
            Outcome.TLS, "the server offers no STARTTLS; evim does not log in unencrypted"
        )
    if kind is FindingKind.SASL_FAILED:
        condition = finding.condition or "failure"
        text = f": {finding.text}" if finding.text else ""
        return attempt(Outcome.AUTH, f"the server refused the login ({condition}{text})")
    if kind is FindingKind.NO_MECHANISM:
        offered = finding.text or "none"
        return attempt(
            Outcome.PROTOCOL, f"no SASL mechanism evim can use (the server offers: {offered})"
        )
    if kind is FindingKind.STREAM_ERROR:
        text = f": {finding.text}" if finding.text else ""
        return attempt(Outcome.PROTOCOL, f"stream error {finding.condition or '?'}{text}")
    if kind is FindingKind.NOT_XML:
        return attempt(Outcome.PROTOCOL, f"the server does not speak XMPP (it sent {finding.text})")
    # FindingKind.CLOSED
    if finding.stage is Stage.TLS:
        return attempt(Outcome.TLS, "the connection closed during the TLS handshake")
    if not probe.stream_opened:
        return attempt(
            Outcome.PROTOCOL, "the server closed the connection without opening an XMPP stream"
        )
    return attempt(
        Outcome.PROTOCOL, f"the server closed the connection during {finding.stage.value}"
    )


def _session_summary(probe: LoginProbe) -> str:
    parts = []
    mechanism = getattr(probe.plugin["feature_mechanisms"].mech, "name", None)
    if mechanism:
        parts.append(f"SASL {mechanism}")
    socket = probe.socket
    if isinstance(socket, ssl.SSLObject | ssl.SSLSocket):
        how = "direct TLS" if probe.enable_direct_tls else "STARTTLS"
        parts.append(f"{socket.version()}, {how}")
    return ", ".join(parts) or "session started"
