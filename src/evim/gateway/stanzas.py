"""The few frames the gateway writes itself (RFC 7395 framing, RFC 6120 errors)."""

from __future__ import annotations

import secrets
from xml.sax.saxutils import quoteattr

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
STREAMS = "http://etherx.jabber.org/streams"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"


def open_frame(*, domain: str, stream_id: str | None = None) -> str:
    stream_id = stream_id or secrets.token_hex(8)
    return (
        f"<open xmlns='{FRAMING}' from={quoteattr(domain)} id={quoteattr(stream_id)} "
        "version='1.0' xml:lang='en'/>"
    )


def close_frame() -> str:
    return f"<close xmlns='{FRAMING}'/>"


def sasl_features_frame() -> str:
    """Before authentication the browser is offered PLAIN only: its "password" is the
    one-time token, which the gateway must read as is."""
    return (
        f"<stream:features xmlns:stream='{STREAMS}'>"
        f"<mechanisms xmlns='{SASL}'><mechanism>PLAIN</mechanism></mechanisms>"
        "</stream:features>"
    )


def sasl_success_frame() -> str:
    return f"<success xmlns='{SASL}'/>"


def sasl_failure_frame(condition: str, text: str) -> str:
    return (
        f"<failure xmlns='{SASL}'><{condition}/>"
        f"<text xml:lang='en'>{_escape(text)}</text></failure>"
    )


def stream_error_frame(condition: str, text: str) -> str:
    return (
        f"<stream:error xmlns:stream='{STREAMS}'><{condition} xmlns='{STREAM_ERRORS}'/>"
        f"<text xmlns='{STREAM_ERRORS}' xml:lang='en'>{_escape(text)}</text></stream:error>"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
