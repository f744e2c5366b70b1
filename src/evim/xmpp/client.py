"""The slixmpp client that logs in once and reports what happened: :class:`LoginProbe`.

It only observes: it connects to one address, negotiates TLS (direct or STARTTLS), SASL and
resource binding, and resolves :attr:`LoginProbe.finding` with the first decisive
:class:`Finding` — session started, connection failed, TLS failed, SASL refused, stream
error, connection closed.  Judging a finding (the outcome of a connection test) is
:mod:`evim.xmpp.connection_test`'s job.

Departures from slixmpp's defaults, all deliberate:

- no reconnection: a failed connection is reported, never retried (slixmpp would retry
  forever with a growing delay);
- one SASL attempt: after a ``<failure/>`` slixmpp tries the next mechanism (SCRAM, then
  PLAIN…), each one a failed login on the server; the probe stops at the first;
- no redirection: a ``see-other-host`` stream error is reported, not followed;
- its own STARTTLS handshake (:meth:`LoginProbe.start_tls`), to report the TLS error;
- TLS only with the given context (built once, :mod:`evim.xmpp.tls`), no plaintext;
- the server's certificate must name the JID's domain (slixmpp's ``server_hostname``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import slixmpp
from slixmpp.features.feature_mechanisms.stanza import Failure as SaslFailure
from slixmpp.stanza import StreamError
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from evim.xmpp import log_redaction

logger = logging.getLogger("evim.xmpp")

_STREAM_NS = "http://etherx.jabber.org/streams"

#: slixmpp's plugin and stanza registries are process-wide: build clients one at a time.
CLIENT_CREATION = threading.Lock()


class Stage(enum.StrEnum):
    """How far the login went."""

    CONNECTING = "connecting"  # DNS, TCP (and the TLS handshake, with direct TLS)
    STREAM = "stream"  # connected, waiting for the server's stream header and features
    TLS = "tls"  # STARTTLS accepted, TLS handshake under way
    AUTHENTICATING = "authenticating"  # SASL
    BINDING = "binding"  # authenticated, binding a resource
    DONE = "done"  # session started


class FindingKind(enum.StrEnum):
    SESSION_STARTED = "session-started"
    CONNECTION_FAILED = "connection-failed"  # error: the OSError (None: name not resolved)
    TLS_FAILED = "tls-failed"  # error: the ssl.SSLError of the STARTTLS handshake
    NO_STARTTLS = "no-starttls"  # the stream is in clear and the server offers no STARTTLS
    SASL_FAILED = "sasl-failed"  # condition, text: the server's <failure/>
    NO_MECHANISM = "no-mechanism"  # text: the mechanisms offered
    STREAM_ERROR = "stream-error"  # condition, text
    NOT_XML = "not-xml"  # text: the start of what the server sent
    CLOSED = "closed"  # the connection ended before any of the above


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    stage: Stage
    error: BaseException | None = None
    condition: str = ""
    text: str = ""


class LoginProbe(slixmpp.ClientXMPP):
    """Log in as ``jid`` with ``password`` over ``ssl_context``; see the module's doc.

    ``direct_tls``: TLS from the first byte (XEP-0368) instead of STARTTLS.  Use as::

        probe = LoginProbe(jid, password, ssl_context=context, direct_tls=False)
        probe.start(host, port)
        finding = await probe.finding        # bound it with a timeout
        await probe.close(grace=1.0)         # always
    """

    def __init__(
        self, jid: str, password: str, *, ssl_context: ssl.SSLContext, direct_tls: bool
    ) -> None:
        super().__init__(jid, password, ssl_context=ssl_context)
        self.enable_direct_tls = direct_tls
        self.enable_starttls = not direct_tls
        self.enable_plaintext = False
        self.whitespace_keepalive = False
        self.stage = Stage.CONNECTING
        #: True once the server sent a stream header: it answered at the XMPP level.
        self.stream_opened = False
        self.finding: asyncio.Future[Finding] = asyncio.get_running_loop().create_future()
        # One SASL attempt: replace slixmpp's failure handler (it tries the next mechanism).
        self.remove_handler("SASL Failure")
        self.register_handler(
            Callback(
                "evim SASL Failure",
                MatchXPath(SaslFailure.tag_name()),
                self._on_sasl_failure,
                instream=True,
            )
        )
        self.register_handler(
            Callback(
                "evim Stream Features",
                MatchXPath(f"{{{_STREAM_NS}}}features"),
                self._on_features,
                instream=True,
            )
        )
        self.add_filter("out", self._watch_outgoing)
        self.add_event_handler("connection_failed", self._on_connection_failed)
        self.add_event_handler("connected", self._on_connected)
        self.add_event_handler("tls_success", self._on_tls_success)
        self.add_event_handler("auth_success", self._on_auth_success)
        self.add_event_handler("failed_all_auth", self._on_no_mechanism)
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("disconnected", self._on_disconnected)
        log_redaction.install()  # slixmpp's loggers all exist now

    # --- driving ---------------------------------------------------------------------------

    def start(self, host: str, port: int) -> None:
        """Connect to ``host``:``port`` (once: no retry, no DNS lookup of the JID's domain)."""
        self.connect(host, port)

    async def close(self, *, grace: float) -> None:
        """End the connection: a closing ``</stream:stream>`` once logged in (waiting at most
        ``grace`` seconds for the server's), else at once; then stop slixmpp's tasks."""
        self.cancel_connection_attempt()
        transport = self.transport
        healthy = transport is not None and not transport.is_closing()
        if healthy and self.stream_opened and grace > 0:
            await self.disconnect(wait=grace, reason="connection test done")
        transport = self.transport
        if transport is not None:
            already_closed = transport.is_closing()  # e.g. by a failed STARTTLS handshake
            closed = self.disconnected
            self.abort()
            if not already_closed:
                # connection_lost runs on a later loop iteration: let the socket be closed.
                await asyncio.wait({closed}, timeout=0.2)
        for name in list(self.scheduled_events):
            self.cancel_schedule(name)
        sender = self._run_out_filters
        if sender is not None and not sender.done():
            sender.cancel()
            await asyncio.wait({sender}, timeout=1)

    def _finish(self, finding: Finding) -> None:
        if not self.finding.done():
            jid = self.requested_jid.bare
            logger.debug("Login probe %s: %s at %s", jid, finding.kind, finding.stage)
            self.finding.set_result(finding)

    # --- slixmpp overrides -----------------------------------------------------------------

    async def start_tls(self) -> bool:
        """STARTTLS's handshake (slixmpp's, reporting the error itself: slixmpp logs an
        ERROR for any failure, and its "disconnected" event comes before it)."""
        self.stage = Stage.TLS
        transport = self.transport
        if transport is None:
            self._finish(Finding(FindingKind.CLOSED, Stage.TLS))
            return False
        attempt = asyncio.ensure_future(
            self.loop.start_tls(
                transport, self, self.get_ssl_context(), server_hostname=self.default_domain
            )
        )
        self._current_connection_attempt = attempt
        try:
            tls_transport = await attempt
        except OSError as error:  # ssl.SSLError included
            self._current_connection_attempt = None
            self._finish(Finding(FindingKind.TLS_FAILED, Stage.TLS, error=error))
            return False
        if tls_transport is None:
            self._finish(Finding(FindingKind.CLOSED, Stage.TLS))
            return False
        # loop.start_tls does not call connection_made: do it for the new transport (it
        # clears _current_connection_attempt, and does nothing if that is already None).
        self.connection_made(tls_transport, send_event=False)
        return True

    # --- slixmpp events --------------------------------------------------------------------

    def start_stream_handler(self, xml: Any) -> None:
        # BaseXMPP's version is untyped: reached through getattr for mypy's sake.
        getattr(super(), "start_stream_handler")(xml)  # noqa: B009
        self.stream_opened = True

    def _watch_outgoing(self, stanza: StanzaBase) -> StanzaBase:
        # slixmpp answers bytes it cannot parse with a not-well-formed stream error, then
        # waits 2 s for the server to close: report at once.
        if isinstance(stanza, StreamError) and stanza["condition"] == "not-well-formed":
            text = str(stanza["text"] or "").removeprefix("Server sent: ")
            if len(text) > 80:
                text = text[:80] + "…"
            self._finish(Finding(FindingKind.NOT_XML, self.stage, text=text))
        return stanza

    def _on_connection_failed(self, error: object) -> None:
        self.cancel_connection_attempt()  # slixmpp would retry forever
        if isinstance(error, BaseException):
            self._finish(Finding(FindingKind.CONNECTION_FAILED, self.stage, error=error))
        else:  # slixmpp reports a name that does not resolve as a sentence
            self._finish(Finding(FindingKind.CONNECTION_FAILED, self.stage, text=str(error)))

    def _on_connected(self, _event: object) -> None:
        self.stage = Stage.STREAM

    def _on_tls_success(self, _event: object) -> None:
        self.stage = Stage.STREAM

    def _on_features(self, features: Any) -> None:
        names = set(features["features"])
        encrypted = isinstance(self.socket, ssl.SSLObject | ssl.SSLSocket)
        if not encrypted and "starttls" not in names:
            self._finish(Finding(FindingKind.NO_STARTTLS, self.stage))
            self.abort()  # slixmpp would not authenticate in clear anyway: make sure of it
            return
        if "mechanisms" in names and not self.authenticated and encrypted:
            self.stage = Stage.AUTHENTICATING

    def _on_sasl_failure(self, stanza: Any) -> None:
        condition = str(stanza["condition"] or "")
        text = str(stanza["text"] or "")
        self._finish(Finding(FindingKind.SASL_FAILED, self.stage, condition=condition, text=text))

    def _on_no_mechanism(self, _event: object) -> None:
        offered = sorted(self.plugin["feature_mechanisms"].mech_list)
        self._finish(Finding(FindingKind.NO_MECHANISM, self.stage, text=", ".join(offered)))

    def _on_auth_success(self, _event: object) -> None:
        self.stage = Stage.BINDING

    def _handle_stream_error(self, error: Any) -> None:
        # slixmpp's also follows a see-other-host redirection (connects elsewhere): not here.
        self.event("stream_error", error)

    def _on_stream_error(self, error: Any) -> None:
        condition = str(error["condition"] or "")
        text = str(error["text"] or "")
        if condition == "see-other-host":
            text = f"redirected to {error['see_other_host']} (not followed)"
        self._finish(Finding(FindingKind.STREAM_ERROR, self.stage, condition=condition, text=text))

    def _on_session_start(self, _event: object) -> None:
        self.stage = Stage.DONE
        self._finish(Finding(FindingKind.SESSION_STARTED, self.stage))

    def _on_disconnected(self, reason: object) -> None:
        if self.stage is Stage.TLS and self._current_connection_attempt is not None:
            return  # the TLS handshake failed: start_tls() reports why
        text = str(reason) if reason else ""
        self._finish(Finding(FindingKind.CLOSED, self.stage, text=text))
