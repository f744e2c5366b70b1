"""SASL on the user's behalf (evim.gateway.upstream.sasl): SCRAM against the RFC test vectors,
SASLprep, the choice of mechanism, a scripted server, and the real Prosody."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Awaitable, Callable, Iterable

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from evim.gateway.upstream import UpstreamError
from evim.gateway.upstream.sasl import (
    SASL_NS,
    SaslprepError,
    ScramClient,
    ScramError,
    authenticate,
    choose_mechanism,
    salted_password,
    saslprep,
)
from tests.fixtures.prosody import RunningProsody

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
STREAMS = "http://etherx.jabber.org/streams"

# --- SCRAM test vectors ------------------------------------------------------------------


def test_scram_sha1_rfc5802_vector() -> None:
    """RFC 5802 §5."""
    client = ScramClient(
        hash_name="sha1", username="user", password="pencil", nonce="fyko+d2lbbFgONRv9qkxdawL"
    )
    assert client.first_message() == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    final = client.final_message(
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
    )
    assert final == (
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    )
    client.verify_server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")


def test_scram_sha256_rfc7677_vector() -> None:
    """RFC 7677 §3."""
    client = ScramClient(
        hash_name="sha256", username="user", password="pencil", nonce="rOprNGfwEbeRWgbNEkqO"
    )
    assert client.first_message() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    final = client.final_message(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert final == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    client.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def _rfc5802_client() -> ScramClient:
    client = ScramClient(
        hash_name="sha1", username="user", password="pencil", nonce="fyko+d2lbbFgONRv9qkxdawL"
    )
    client.first_message()
    return client


def test_the_salted_password_is_derived_once_per_salt() -> None:
    """A user's next logins skip PBKDF2 (same salt); another salt or password derives anew,
    and the proof is the same as without the cache (the RFC vector)."""
    salted_password.cache_clear()
    for _ in range(3):
        test_scram_sha1_rfc5802_vector()
    info = salted_password.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    other_salt = ScramClient(hash_name="sha1", username="user", password="pencil", nonce="n")
    other_salt.final_message(b"r=nXYZ,s=QSXCR+Q6sek8bf93,i=4096")
    other_password = ScramClient(hash_name="sha1", username="user", password="pencil2", nonce="n")
    other_password.final_message(b"r=nXYZ,s=QSXCR+Q6sek8bf92,i=4096")
    assert salted_password.cache_info().misses == 3


def test_scram_refuses_a_wrong_server_signature() -> None:
    client = _rfc5802_client()
    client.final_message(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    with pytest.raises(ScramError, match="signature is wrong"):
        client.verify_server_final(b"v=" + base64.b64encode(b"\0" * 20))
    with pytest.raises(ScramError, match="reports a SCRAM error: invalid-proof"):
        client.verify_server_final(b"e=invalid-proof")


@pytest.mark.parametrize(
    ("server_first", "message"),
    [
        (b"r=someone-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096", "does not extend"),
        (b"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096", "does not extend"),
        (b"r=fyko+d2lbbFgONRv9qkxdawLxx,s=QSXCR+Q6sek8bf92,i=99999999", "iterations"),
        (b"r=fyko+d2lbbFgONRv9qkxdawLxx,s=QSXCR+Q6sek8bf92,i=0", "iterations"),
        (b"r=fyko+d2lbbFgONRv9qkxdawLxx,s=not base64!,i=4096", "salt or iteration"),
        (b"r=fyko+d2lbbFgONRv9qkxdawLxx,i=4096", "lacks r, s or i"),
        (b"m=ext,r=fyko+d2lbbFgONRv9qkxdawLxx,s=QSXCR+Q6sek8bf92,i=4096", "extension"),
        (b"garbage", "malformed"),
    ],
)
def test_scram_refuses_bad_server_first_messages(server_first: bytes, message: str) -> None:
    with pytest.raises(ScramError, match=message):
        _rfc5802_client().final_message(server_first)


def test_scram_escapes_the_username_and_makes_fresh_nonces() -> None:
    one = ScramClient(hash_name="sha1", username="a,b=c", password="x").first_message()
    two = ScramClient(hash_name="sha1", username="a,b=c", password="x").first_message()
    assert one.startswith(b"n,,n=a=2Cb=3Dc,r=")
    assert one != two


# --- SASLprep (RFC 4013 §3 examples) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prepared"),
    [
        ("I\u00adX", "IX"),  # soft hyphen mapped to nothing
        ("user", "user"),
        ("USER", "USER"),
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),  # NFKC
        ("a\u00a0b", "a b"),  # non-ASCII space mapped to space
    ],
)
def test_saslprep(text: str, prepared: str) -> None:
    assert saslprep(text) == prepared


@pytest.mark.parametrize("text", ["\u0007", "a\u0627\u0031", "\u0627\u0031"])
def test_saslprep_refuses_prohibited_text_without_quoting_it(text: str) -> None:
    with pytest.raises(SaslprepError) as raised:
        saslprep(text)
    assert text not in str(raised.value)


# --- the choice of mechanism ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "allow_plain", "chosen"),
    [
        (["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"], True, "SCRAM-SHA-256"),
        (["PLAIN", "SCRAM-SHA-1"], True, "SCRAM-SHA-1"),
        (["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"], False, "SCRAM-SHA-1"),
        (["SCRAM-SHA-256-PLUS", "PLAIN"], True, "PLAIN"),
        (["PLAIN"], False, None),
        (["DIGEST-MD5", "X-OAUTH2"], True, None),
        ([], True, None),
    ],
)
def test_choose_mechanism(offered: list[str], allow_plain: bool, chosen: str | None) -> None:
    assert choose_mechanism(offered, allow_plain=allow_plain) == chosen


# --- a scripted server -----------------------------------------------------------------------


def features(*mechanisms: str) -> str:
    offered = "".join(f"<mechanism>{name}</mechanism>" for name in mechanisms)
    return (
        f"<stream:features xmlns='jabber:client' xmlns:stream='{STREAMS}'>"
        f"<mechanisms xmlns='{SASL_NS}'>{offered}</mechanisms></stream:features>"
    )


class ScriptedServer:
    """Answers each frame the client sends with the next of ``replies``."""

    def __init__(self, replies: Iterable[str | Callable[[str], str]]) -> None:
        self.replies = list(replies)
        self.sent: list[str] = []
        self._pending: asyncio.Queue[str] = asyncio.Queue()

    async def send(self, frame: str) -> None:
        self.sent.append(frame)
        reply = self.replies.pop(0)
        await self._pending.put(reply(frame) if callable(reply) else reply)

    async def receive(self) -> str:
        return await asyncio.wait_for(self._pending.get(), 5)

    def run(self, features_frame: str, *, password: str, allow_plain: bool) -> Awaitable[None]:
        return authenticate(
            send=self.send,
            receive=self.receive,
            features_frame=features_frame,
            jid="alice@evim.test/ignored",
            password=password,
            allow_plain=allow_plain,
        )


def test_plain_only_when_allowed() -> None:
    async def scenario() -> None:
        refused = ScriptedServer([])
        with pytest.raises(UpstreamError) as raised:
            await refused.run(features("PLAIN"), password="secret", allow_plain=False)
        assert raised.value.condition == "remote-connection-failed"
        assert "no acceptable SASL mechanism" in raised.value.detail
        assert refused.sent == []  # the password never left

        server = ScriptedServer([f"<success xmlns='{SASL_NS}'/>"])
        await server.run(features("PLAIN"), password="secret", allow_plain=True)
        (auth,) = server.sent
        payload = re.fullmatch(rf"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>(.*)</auth>", auth)
        assert payload is not None
        assert base64.b64decode(payload.group(1)) == b"\0alice\0secret"

    asyncio.run(scenario())


def test_failure_is_not_authorized_and_never_shows_the_password() -> None:
    async def scenario() -> None:
        server = ScriptedServer(
            [
                f"<failure xmlns='{SASL_NS}'><credentials-expired/>"
                "<text xml:lang='en'>Password hunter2 expired</text></failure>"
            ]
        )
        with pytest.raises(UpstreamError) as raised:
            await server.run(features("PLAIN"), password="hunter2", allow_plain=True)
        assert raised.value.condition == "not-authorized"
        assert "credentials-expired" in raised.value.detail
        assert "hunter2" not in str(raised.value)
        assert "hunter2" not in repr(raised.value)

    asyncio.run(scenario())


def test_scram_over_a_scripted_server_checks_the_server_signature() -> None:
    """The exchange of RFC 5802 §5 with the client nonce forced; a server that does not
    know the key (wrong v=) is refused even though it says <success/>."""

    def challenge(auth: str) -> str:
        first = base64.b64decode(re.sub(r"<[^>]*>", "", auth)).decode()
        nonce = first.rpartition("r=")[2]
        server_first = f"r={nonce}server-part,s=QSXCR+Q6sek8bf92,i=4096"
        payload = base64.b64encode(server_first.encode()).decode()
        return f"<challenge xmlns='{SASL_NS}'>{payload}</challenge>"

    forged = base64.b64encode(b"v=" + base64.b64encode(b"\1" * 20)).decode()

    async def scenario() -> None:
        server = ScriptedServer([challenge, f"<success xmlns='{SASL_NS}'>{forged}</success>"])
        with pytest.raises(UpstreamError) as raised:
            await server.run(features("SCRAM-SHA-1", "PLAIN"), password="pencil", allow_plain=True)
        assert raised.value.condition == "remote-connection-failed"
        assert "signature is wrong" in raised.value.detail
        assert "mechanism='SCRAM-SHA-1'" in server.sent[0]

    asyncio.run(scenario())


def test_a_stream_error_during_sasl_gives_its_condition() -> None:
    async def scenario() -> None:
        server = ScriptedServer(
            [
                f"<stream:error xmlns:stream='{STREAMS}'>"
                "<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
            ]
        )
        with pytest.raises(UpstreamError) as raised:
            await server.run(features("SCRAM-SHA-256"), password="x", allow_plain=False)
        assert raised.value.condition == "system-shutdown"

    asyncio.run(scenario())


def test_a_frame_with_a_dtd_is_refused_unparsed() -> None:
    bomb = (
        "<!DOCTYPE lol [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>"
        f"<challenge xmlns='{SASL_NS}'>&lol2;</challenge>"
    )

    async def scenario() -> None:
        server = ScriptedServer([bomb])
        with pytest.raises(UpstreamError) as raised:
            await server.run(features("SCRAM-SHA-1"), password="x", allow_plain=False)
        assert raised.value.condition == "remote-connection-failed"
        assert "DTD" in raised.value.detail

    asyncio.run(scenario())


# --- the real Prosody ------------------------------------------------------------------------


class ProsodyChannel:
    """A bare RFC 7395 channel to Prosody, up to its pre-authentication features."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, frame: str) -> None:
        await self.connection.send(frame)

    async def receive(self) -> str:
        return await asyncio.wait_for(self.connection.recv(decode=True), 10)


async def prosody_login(
    prosody: RunningProsody,
    jid: str,
    password: str,
    *,
    offer: Callable[[str], str] = lambda features: features,
) -> str:
    """Authenticate on a fresh WebSocket; returns the features the client saw."""
    async with connect(
        prosody.websocket_url, subprotocols=[Subprotocol("xmpp")], compression=None, proxy=None
    ) as connection:
        channel = ProsodyChannel(connection)
        await channel.send(f"<open xmlns='{FRAMING}' to='{prosody.domain}' version='1.0'/>")
        assert "<open" in await channel.receive()
        features_frame = offer(await channel.receive())
        await authenticate(
            send=channel.send,
            receive=channel.receive,
            features_frame=features_frame,
            jid=jid,
            password=password,
            allow_plain=True,
        )
        return features_frame


def test_scram_and_plain_against_prosody(managed_prosody: RunningProsody) -> None:
    password = "\u2168\u00ad-p\u00e4ssw\u00f6rd"  # SASLprep: "IX-pässwörd"
    jid = managed_prosody.register("sasl-dora", password)

    def plain_only(features_frame: str) -> str:
        return re.sub(r"<mechanism>SCRAM-[^<]*</mechanism>", "", features_frame)

    async def scenario() -> None:
        offered = await prosody_login(managed_prosody, jid, password)
        assert "<mechanism>SCRAM-SHA-1</mechanism>" in offered  # so SCRAM ran
        # Prosody prepared the password with SASLprep when it stored it; so do we.
        await prosody_login(managed_prosody, jid, "IX-p\u00e4ssw\u00f6rd")
        await prosody_login(managed_prosody, jid, password, offer=plain_only)
        for offer in (lambda features_frame: features_frame, plain_only):
            with pytest.raises(UpstreamError) as raised:
                await prosody_login(managed_prosody, jid, "IX-passwort", offer=offer)
            assert raised.value.condition == "not-authorized"
            assert "IX-passwort" not in str(raised.value)

    asyncio.run(scenario())
