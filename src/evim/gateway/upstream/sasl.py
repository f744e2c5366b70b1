"""SASL authentication of an upstream stream on the user's behalf (RFC 6120 §6).

:func:`authenticate` runs the client side of SASL over any element channel — a ``send``
and a ``receive`` of RFC 7395 frames — so that every upstream transport (the managed
Prosody's WebSocket, a TCP stream) shares it.  It picks the best mechanism the server
offers, SCRAM-SHA-256 then SCRAM-SHA-1, and PLAIN only when nothing better is offered and
the caller says the channel may carry it (encrypted, or loopback).  Channel binding
(``-PLUS``) is not used: the gateway does not see the TLS layer of every transport.

SCRAM (RFC 5802, RFC 7677) is implemented here rather than taken from slixmpp: slixmpp
derives the salted password in a pure-Python loop (32–53 ms at Prosody's 10,000
iterations on the development machine), :func:`hashlib.pbkdf2_hmac` does the same in C,
ten times faster (3.3–5.7 ms), and it runs in a worker thread (it releases the GIL) so
that a burst of logins never stalls the gateway's event loop; its result is remembered
for the user's next logins (:func:`salted_password`).  SCRAM is preferred to PLAIN
even where PLAIN is allowed: with PLAIN, Prosody derives the key itself, on its single
thread, for every login; with SCRAM it only compares stored keys, and it proves to the
gateway that it knows them.

The password and everything derived from it stay out of logs and exception texts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from collections.abc import Awaitable, Callable, Collection
from xml.etree import ElementTree
from xml.etree.ElementTree import Element, ParseError

from evim.gateway.upstream import UpstreamError

SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
STREAMS_NS = "http://etherx.jabber.org/streams"
STREAM_ERRORS_NS = "urn:ietf:params:xml:ns:xmpp-streams"

#: SCRAM mechanisms this client runs, best first, with their hash function.
SCRAM_MECHANISMS: dict[str, str] = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-1": "sha1"}
#: A server asking for more iterations than this is refused (a hostile or broken server
#: could otherwise keep a worker thread busy for minutes).
MAX_SCRAM_ITERATIONS = 1_000_000

#: The condition of every UpstreamError about a server that does not follow the protocol.
PROTOCOL_CONDITION = "remote-connection-failed"


# --- helpers over frames ---------------------------------------------------------------------


def parse_frame(frame: str) -> Element:
    """One complete element (an RFC 7395 frame) as an Element; UpstreamError if malformed.

    Only frames from the server are parsed (never the browser's), and only while the
    stream is set up or ends.  XMPP forbids DTDs (RFC 6120 §11.1), so a frame with one is
    refused before parsing: no entity can be declared, let alone expanded.
    """
    if "<!DOCTYPE" in frame:
        raise UpstreamError(PROTOCOL_CONDITION, "the server sent a DTD")
    try:
        return ElementTree.fromstring(frame)  # noqa: S314 - no DTD, hence no entities
    except ParseError:
        raise UpstreamError(PROTOCOL_CONDITION, "the server sent malformed XML") from None


def stream_error(element: Element) -> UpstreamError:
    """The UpstreamError for a ``<stream:error>`` element: its condition, and its text."""
    condition = "undefined-condition"
    text = ""
    for child in element:
        namespace, _, name = child.tag[1:].partition("}")
        if namespace != STREAM_ERRORS_NS:
            continue
        if name == "text":
            text = (child.text or "").strip()
        else:
            condition = name
    return UpstreamError(condition, f"stream error {condition}" + (f": {text}" if text else ""))


def offered_mechanisms(features: Element) -> list[str]:
    """The SASL mechanisms announced in a ``<stream:features>`` element, in server order."""
    mechanisms = features.find(f"{{{SASL_NS}}}mechanisms")
    if mechanisms is None:
        return []
    return [
        (mechanism.text or "").strip().upper()
        for mechanism in mechanisms.findall(f"{{{SASL_NS}}}mechanism")
    ]


def choose_mechanism(offered: Collection[str], *, allow_plain: bool) -> str | None:
    """The best mechanism of ``offered`` this client runs, or None."""
    for name in SCRAM_MECHANISMS:
        if name in offered:
            return name
    if allow_plain and "PLAIN" in offered:
        return "PLAIN"
    return None


# --- SASLprep (RFC 4013) -------------------------------------------------------------------

_SASLPREP_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)  # unassigned code points (table A.1) are allowed, as in a query and as Prosody does


class SaslprepError(ValueError):
    """A string SASLprep refuses; the message never quotes the string."""


def saslprep(text: str) -> str:
    """``text`` prepared with SASLprep (RFC 4013), as servers do before hashing passwords."""
    if text.isascii() and text.isprintable():
        return text  # nothing to map, normalize or prohibit: the common case
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in text
        if not stringprep.in_table_b1(char)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for position, char in enumerate(prepared):
        if any(prohibited(char) for prohibited in _SASLPREP_PROHIBITED):
            raise SaslprepError(f"SASLprep: prohibited character at position {position}")
    # RFC 3454 §6: text with right-to-left characters has no left-to-right ones, and
    # starts and ends with right-to-left characters.
    if any(stringprep.in_table_d1(char) for char in prepared) and (
        any(stringprep.in_table_d2(char) for char in prepared)
        or not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1]))
    ):
        raise SaslprepError("SASLprep: invalid bidirectional text")
    return prepared


# --- SCRAM (RFC 5802, RFC 7677) ------------------------------------------------------------


class ScramError(Exception):
    """The server's SCRAM messages are malformed, or it failed to prove it knows the key."""


def _scram_attributes(message: bytes) -> dict[str, str]:
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise ScramError("SCRAM message is not UTF-8") from None
    attributes: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or len(name) != 1:
            raise ScramError("malformed SCRAM attribute")
        attributes.setdefault(name, value)
    return attributes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class ScramClient:
    """The client side of one SCRAM exchange, without channel binding.

    ``first_message()``, then ``final_message(server_first)`` (CPU-heavy: the key
    derivation), then ``verify_server_final(server_final)``.
    """

    def __init__(
        self, *, hash_name: str, username: str, password: str, nonce: str | None = None
    ) -> None:
        self._hash_name = hash_name
        self._password = saslprep(password).encode("utf-8")
        name = saslprep(username).replace("=", "=3D").replace(",", "=2C")
        self._nonce = nonce or secrets.token_urlsafe(24)
        self._gs2_header = "n,,"
        self._client_first_bare = f"n={name},r={self._nonce}"
        self._server_signature: bytes | None = None

    def first_message(self) -> bytes:
        return f"{self._gs2_header}{self._client_first_bare}".encode()

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self._hash_name).digest()

    def final_message(self, server_first: bytes) -> bytes:
        attributes = _scram_attributes(server_first)
        if "m" in attributes:
            raise ScramError("the server requires an unsupported SCRAM extension")
        nonce, salt_text, iterations_text = (attributes.get(key) for key in "rsi")
        if not nonce or salt_text is None or iterations_text is None:
            raise ScramError("the server's first SCRAM message lacks r, s or i")
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise ScramError("the server's SCRAM nonce does not extend the client's")
        try:
            salt = base64.b64decode(salt_text, validate=True)
            iterations = int(iterations_text)
        except (binascii.Error, ValueError):
            raise ScramError("the server's SCRAM salt or iteration count is invalid") from None
        if not 1 <= iterations <= MAX_SCRAM_ITERATIONS:
            raise ScramError(f"the server asks for {iterations} SCRAM iterations")
        salted = salted_password(self._hash_name, self._password, salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self._hash_name, client_key).digest()
        without_proof = f"c={_b64(self._gs2_header.encode())},r={nonce}"
        auth_message = f"{self._client_first_bare},{server_first.decode()},{without_proof}"
        signature = self._hmac(stored_key, auth_message.encode())
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = self._hmac(
            self._hmac(salted, b"Server Key"), auth_message.encode()
        )
        return f"{without_proof},p={_b64(proof)}".encode()

    def verify_server_final(self, server_final: bytes) -> None:
        attributes = _scram_attributes(server_final)
        if "e" in attributes:
            raise ScramError(f"the server reports a SCRAM error: {attributes['e']}")
        if self._server_signature is None:
            raise ScramError("the server ended SCRAM early")
        try:
            verifier = base64.b64decode(attributes.get("v", ""), validate=True)
        except binascii.Error:
            raise ScramError("the server's SCRAM signature is not base64") from None
        if not hmac.compare_digest(verifier, self._server_signature):
            raise ScramError("the server's SCRAM signature is wrong: it does not know the key")


@functools.lru_cache(maxsize=4096)
def salted_password(hash_name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    """SCRAM's ``Hi(password, salt, i)``, remembered in this process's memory only.

    A server keeps one salt per account until the password changes, so a user's next
    logins skip the derivation (RFC 5802 §5.1 allows a client this cache); another salt,
    password or count is another entry.
    """
    return hashlib.pbkdf2_hmac(hash_name, password, salt, iterations)


# --- the exchange ----------------------------------------------------------------------------


def _sasl_element(name: str, payload: bytes | None, mechanism: str | None = None) -> str:
    attribute = f" mechanism='{mechanism}'" if mechanism else ""
    if payload is None:
        return f"<{name} xmlns='{SASL_NS}'{attribute}/>"
    return f"<{name} xmlns='{SASL_NS}'{attribute}>{_b64(payload) or '='}</{name}>"


def _payload(element: Element) -> bytes:
    text = (element.text or "").strip()
    if text in ("", "="):
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise UpstreamError(PROTOCOL_CONDITION, "the server sent invalid base64") from None


def _failure(element: Element, password: str) -> UpstreamError:
    condition = "not-authorized"
    text = ""
    for child in element:
        namespace, _, name = child.tag[1:].partition("}")
        if namespace != SASL_NS:
            continue
        if name == "text":
            text = (child.text or "").strip()
        else:
            condition = name
    detail = f"the server refused the credentials ({condition})"
    if text:
        detail += f": {text}"
    if password:
        detail = detail.replace(password, "***")
    return UpstreamError("not-authorized", detail)


async def authenticate(
    *,
    send: Callable[[str], Awaitable[None]],
    receive: Callable[[], Awaitable[str]],
    features_frame: str,
    jid: str,
    password: str,
    allow_plain: bool = False,
) -> None:
    """Authenticate as ``jid`` with ``password`` on a stream whose pre-authentication
    features are ``features_frame``; returns after ``<success/>`` (the caller restarts the
    stream).

    Raises UpstreamError: ``not-authorized`` when the server refuses the credentials (any
    SASL ``<failure/>``); the server's condition for a ``<stream:error>``; and
    ``remote-connection-failed`` when no acceptable mechanism is offered or the server
    breaks the protocol (including a wrong SCRAM server signature).
    """
    username, at, _domain = jid.partition("/")[0].rpartition("@")
    if not at or not username:
        raise UpstreamError("not-authorized", f"cannot authenticate as {jid!r}: no localpart")
    features = parse_frame(features_frame)
    offered = offered_mechanisms(features)
    mechanism = choose_mechanism(offered, allow_plain=allow_plain)
    if mechanism is None:
        raise UpstreamError(
            PROTOCOL_CONDITION,
            f"no acceptable SASL mechanism offered ({', '.join(offered) or 'none'};"
            f" PLAIN {'allowed' if allow_plain else 'not allowed on this channel'})",
        )

    async def next_element() -> Element:
        element = parse_frame(await receive())
        if element.tag == f"{{{STREAMS_NS}}}error":
            raise stream_error(element)
        if element.tag == f"{{{SASL_NS}}}failure":
            raise _failure(element, password)
        if not element.tag.startswith(f"{{{SASL_NS}}}"):
            raise UpstreamError(PROTOCOL_CONDITION, f"unexpected {element.tag} during SASL")
        return element

    try:
        if mechanism == "PLAIN":
            initial = b"\0" + saslprep(username).encode() + b"\0" + saslprep(password).encode()
            await send(_sasl_element("auth", initial, mechanism))
            element = await next_element()
            if element.tag != f"{{{SASL_NS}}}success":
                raise UpstreamError(PROTOCOL_CONDITION, "unexpected SASL challenge for PLAIN")
            return

        scram = ScramClient(
            hash_name=SCRAM_MECHANISMS[mechanism], username=username, password=password
        )
        await send(_sasl_element("auth", scram.first_message(), mechanism))
        element = await next_element()
        if element.tag != f"{{{SASL_NS}}}challenge":
            raise UpstreamError(PROTOCOL_CONDITION, f"expected a SCRAM challenge ({mechanism})")
        final = await asyncio.to_thread(scram.final_message, _payload(element))
        await send(_sasl_element("response", final))
        element = await next_element()
        if element.tag == f"{{{SASL_NS}}}challenge":
            # RFC 6120 §6.3.10 allows the server-final message as a last challenge.
            scram.verify_server_final(_payload(element))
            await send(_sasl_element("response", None))
            element = await next_element()
            if element.tag != f"{{{SASL_NS}}}success":
                raise UpstreamError(PROTOCOL_CONDITION, "expected SASL success")
            return
        if element.tag != f"{{{SASL_NS}}}success":
            raise UpstreamError(PROTOCOL_CONDITION, "expected SASL success")
        scram.verify_server_final(_payload(element))
    except ScramError as error:
        raise UpstreamError(PROTOCOL_CONDITION, f"{mechanism}: {error}") from None
    except SaslprepError as error:
        raise UpstreamError("not-authorized", str(error)) from None


async def authenticate_anonymous(
    *,
    send: Callable[[str], Awaitable[None]],
    receive: Callable[[], Awaitable[str]],
    features_frame: str,
) -> None:
    """SASL ANONYMOUS (RFC 4505), for a guest on the server's anonymous host: no
    credentials, the server makes up a fresh address.  Returns after ``<success/>``.

    Raises UpstreamError: ``remote-connection-failed`` when the host does not offer
    ANONYMOUS (anonymous mode is off on the server), ``not-authorized`` on a failure.
    """
    offered = offered_mechanisms(parse_frame(features_frame))
    if "ANONYMOUS" not in offered:
        raise UpstreamError(
            PROTOCOL_CONDITION,
            f"the host does not offer SASL ANONYMOUS ({', '.join(offered) or 'none'})",
        )
    await send(_sasl_element("auth", b"", "ANONYMOUS"))
    element = parse_frame(await receive())
    if element.tag == f"{{{STREAMS_NS}}}error":
        raise stream_error(element)
    if element.tag == f"{{{SASL_NS}}}failure":
        raise _failure(element, "")
    if element.tag != f"{{{SASL_NS}}}success":
        raise UpstreamError(PROTOCOL_CONDITION, "expected SASL success for ANONYMOUS")
