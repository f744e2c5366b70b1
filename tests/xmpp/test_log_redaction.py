"""No password in any log line, slixmpp's DEBUG output included, nor in a result's detail."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest

from evim.xmpp import connection_test, log_redaction
from evim.xmpp.addresses import ServerAddress
from evim.xmpp.client import FindingKind, LoginProbe
from evim.xmpp.connection_test import Outcome
from evim.xmpp.tls import client_ssl_context
from tests.fixtures.prosody import RunningProsody
from tests.xmpp.conftest import Account


def forbidden_forms(jid: str, password: str) -> list[str]:
    """The password as is, XML-escaped, and in base64 alone or as SASL PLAIN's message."""
    user = jid.split("@")[0]
    raw = password.encode()
    forms = [
        password,
        password.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        base64.b64encode(raw).decode(),
        base64.b64encode(b"\0" + user.encode() + b"\0" + raw).decode(),
        base64.b64encode(jid.encode() + b"\0" + user.encode() + b"\0" + raw).decode(),
    ]
    return forms


def assert_no_secret(caplog: pytest.LogCaptureFixture, jid: str, password: str) -> None:
    texts = [caplog.text] + [record.getMessage() for record in caplog.records]
    for form in forbidden_forms(jid, password):
        for text in texts:
            assert form not in text


def test_no_password_in_debug_logs_nor_detail(
    managed_prosody: RunningProsody, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    address = ServerAddress(managed_prosody.c2s_host, managed_prosody.c2s_port)
    certificate = managed_prosody.layout.certificate_path
    wrong = "Wr0ng pässword <&>"
    for password, expected in ((account.password, Outcome.OK), (wrong, Outcome.AUTH)):
        result = asyncio.run(
            connection_test.test_login(
                jid=account.jid,
                password=password,
                addresses=[address],
                ca_file=certificate,
                timeout=10,
            )
        )
        assert result.outcome is expected, result.detail
        for form in forbidden_forms(account.jid, password):
            assert form not in result.detail
        assert_no_secret(caplog, account.jid, password)
    # slixmpp's DEBUG output was captured, SASL exchange included, and blanked.
    sent = [record.getMessage() for record in caplog.records if "SEND:" in record.getMessage()]
    assert any("<auth" in message and log_redaction.REDACTED in message for message in sent)
    assert any("<response" in message and log_redaction.REDACTED in message for message in sent)


def test_sasl_plain_is_blanked_in_slixmpp_logs(
    managed_prosody: RunningProsody, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    """PLAIN puts the password itself on the wire (base64): slixmpp logs it at DEBUG unless
    the redactor is there — with no secret registered, by SASL element alone."""
    caplog.set_level(logging.DEBUG)

    async def scenario() -> FindingKind:
        probe = LoginProbe(
            account.jid,
            account.password,
            ssl_context=client_ssl_context(managed_prosody.layout.certificate_path),
            direct_tls=False,
        )
        probe.plugin["feature_mechanisms"].use_mech = "PLAIN"
        try:
            probe.start(managed_prosody.c2s_host, managed_prosody.c2s_port)
            finding = await asyncio.wait_for(probe.finding, 10)
        finally:
            await probe.close(grace=1.0)
        mechanism = probe.plugin["feature_mechanisms"].mech
        assert mechanism is not None
        assert mechanism.name == "PLAIN"
        return finding.kind

    assert asyncio.run(scenario()) is FindingKind.SESSION_STARTED
    auth = [
        record.getMessage()
        for record in caplog.records
        if "SEND:" in record.getMessage() and "<auth" in record.getMessage()
    ]
    assert len(auth) == 1
    assert 'mechanism="PLAIN"' in auth[0]
    assert log_redaction.REDACTED in auth[0]
    assert_no_secret(caplog, account.jid, account.password)


def test_redactor_blanks_sasl_elements_and_registered_secrets() -> None:
    redactor = log_redaction.SaslRedactor()
    plain = base64.b64encode(b"\0alice\0s3cret!").decode()
    line = f'SEND: <auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{plain}</auth>'
    assert redactor.redact(line) == (
        'SEND: <auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">[redacted]</auth>'
    )
    assert redactor.redact("RECV: <success xmlns='x'>dj1zaWc=</success>") == (
        "RECV: <success xmlns='x'>[redacted]</success>"
    )
    assert redactor.redact("<challenge/>") == "<challenge/>"
    assert redactor.redact("the password is s3cret!") == "the password is s3cret!"
    forms = log_redaction.secret_forms("s3cret!", username="alice")
    redactor.add(forms)
    assert redactor.redact("the password is s3cret!") == "the password is [redacted]"
    assert redactor.redact(f"echo {plain}") == "echo [redacted]"
    redactor.remove(forms)
    assert redactor.redact("the password is s3cret!") == "the password is s3cret!"


def test_filter_rewrites_the_record() -> None:
    record = logging.LogRecord(
        "slixmpp.xmlstream.xmlstream",
        logging.DEBUG,
        __file__,
        1,
        "SEND: %s",
        ("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdz</response>",),
        None,
    )
    assert log_redaction.SaslRedactor().filter(record)
    assert record.getMessage() == (
        "SEND: <response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>[redacted]</response>"
    )
