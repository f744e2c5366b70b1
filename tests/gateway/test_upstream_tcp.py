"""The upstream over a TCP XML stream (evim.gateway.upstream.tcp), against the real Prosody
of the session (its c2s port: STARTTLS, self-signed certificate) and, for what Prosody
cannot be made to do, small scripted servers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from xml.etree import ElementTree
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.gateway import hooks as gateway_hooks
from evim.gateway.relay import StreamOwner
from evim.gateway.upstream import AuthenticatedUpstream, UpstreamClosed, UpstreamError
from evim.gateway.upstream.ending import CLEAN_CLOSE
from evim.gateway.upstream.tcp import HIGH_WATER, TcpUpstream, connect_tcp
from evim.gateway.upstream.websocket import WebSocketUpstream, connect_websocket
from evim.xmpp.addresses import ServerAddress, ServerLocator
from tests.fixtures.dns import LocalDnsServer
from tests.fixtures.prosody import RunningProsody, free_ports
from tests.gateway.test_upstream_websocket import (
    bind,
    enable_resumption,
    receive_until,
    run,
    try_resume,
)

TIMEOUT = 10.0
CLIENT_NS = "jabber:client"
STREAMS_NS = "http://etherx.jabber.org/streams"


def locator_for(prosody: RunningProsody, *, trusted: bool = True) -> ServerLocator:
    """The session's Prosody as the server of its domain, its self-signed certificate
    trusted, or (``trusted=False``) no CA given: the system's trust store."""
    return ServerLocator(
        home_domain=prosody.domain,
        home_address=ServerAddress(prosody.c2s_host, prosody.c2s_port),
        home_ca_file=prosody.layout.certificate_path if trusted else None,
    )


async def tcp_upstream(prosody: RunningProsody, jid: str, password: str) -> TcpUpstream:
    return await connect_tcp(
        jid=jid, password=password, timeout=TIMEOUT, locator=locator_for(prosody)
    )


async def websocket_upstream(prosody: RunningProsody, jid: str, password: str) -> WebSocketUpstream:
    return await connect_websocket(
        url=prosody.websocket_url,
        domain=prosody.domain,
        jid=jid,
        password=password,
        timeout=TIMEOUT,
    )


def start_tag(frame: str) -> str:
    found = re.match(r"<[^>]*>", frame)
    assert found is not None, frame
    return found.group(0)


def shape(element: Element) -> tuple[str, list[str], list[Any]]:
    """An element's form: its name, its attributes' names, its children's forms."""
    return (element.tag, sorted(element.attrib), [shape(child) for child in element])


def same_form(tcp_frame: str, websocket_frame: str) -> None:
    """Both frames are the same kind of element, declaring the same namespaces."""
    for frame in (tcp_frame, websocket_frame):
        assert f"xmlns='{CLIENT_NS}'" in start_tag(frame), frame
    tcp_element = ElementTree.fromstring(tcp_frame)
    websocket_element = ElementTree.fromstring(websocket_frame)
    assert shape(tcp_element) == shape(websocket_element)


# --- against Prosody ------------------------------------------------------------------------


def test_a_tcp_and_a_websocket_session_chat_with_frames_of_the_same_form(
    managed_prosody: RunningProsody,
) -> None:
    alice = managed_prosody.register("tcp-alice", "alice-secret")
    bob = managed_prosody.register("tcp-bob", "bob-secret")

    async def scenario() -> None:
        to_alice = await tcp_upstream(managed_prosody, alice, "alice-secret")
        to_bob = await websocket_upstream(managed_prosody, bob, "bob-secret")
        try:
            assert to_alice.stream_id and to_alice.stream_id != to_bob.stream_id
            features = to_alice.features_frame
            assert start_tag(features) == (
                f"<stream:features xmlns='{CLIENT_NS}' xmlns:stream='{STREAMS_NS}'>"
            )
            assert "mechanisms" not in features and "starttls" not in features
            assert shape(ElementTree.fromstring(features)) == shape(
                ElementTree.fromstring(to_bob.features_frame)
            )  # bind, sm, csi...: the same features either way
            alice_full = await bind(to_alice, "tcp")
            bob_full = await bind(to_bob, "ws")
            assert alice_full == f"{alice}/tcp"

            body = 'Répétition générale à 20 h <ok> & "merci"'
            received: dict[str, str] = {}
            for sender, receiver, to in (
                (to_alice, to_bob, bob_full),
                (to_bob, to_alice, alice_full),
            ):
                await sender.send(
                    f"<message xmlns='{CLIENT_NS}' to='{to}' type='chat' id='m1'>"
                    f"<body>{escape(body)}</body></message>"
                )
                frame = await receive_until(receiver, "id='m1'")
                message = ElementTree.fromstring(frame)
                assert message.tag == f"{{{CLIENT_NS}}}message"
                assert message.get("to") == to
                assert message.findtext(f"{{{CLIENT_NS}}}body") == body
                received["tcp" if receiver is to_alice else "websocket"] = frame
            same_form(received["tcp"], received["websocket"])
            assert ElementTree.fromstring(received["tcp"]).get("from") == bob_full

            # An iq result, each way its own.
            roster = (
                "<iq xmlns='jabber:client' type='get' id='r1'>"
                "<query xmlns='jabber:iq:roster'/></iq>"
            )
            results = []
            for upstream in (to_alice, to_bob):
                await upstream.send(roster)
                results.append(await receive_until(upstream, "id='r1'"))
            same_form(*results)

            # Up to Prosody's stanza size limit (256 KiB), many TCP reads, both ways.
            large = "x" * 250_000
            for sender, receiver, to in (
                (to_alice, to_bob, bob_full),
                (to_bob, to_alice, alice_full),
            ):
                await sender.send(
                    f"<message xmlns='{CLIENT_NS}' to='{to}' id='m2'><body>{large}</body></message>"
                )
                assert f"<body>{large}</body>" in await receive_until(receiver, "id='m2'")
        finally:
            await to_alice.close()
            await to_bob.close()

    run(scenario())


def test_wrong_password_is_not_authorized(managed_prosody: RunningProsody) -> None:
    jid = managed_prosody.register("tcp-wrong", "the-right-one")

    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await tcp_upstream(managed_prosody, jid, "a-wrong-password-42")
        assert raised.value.condition == "not-authorized"
        assert not isinstance(raised.value, UpstreamClosed)
        for text in (str(raised.value), repr(raised.value), raised.value.detail):
            assert "a-wrong-password-42" not in text
            assert "the-right-one" not in text

    run(scenario())


def test_an_untrusted_certificate_is_refused(managed_prosody: RunningProsody) -> None:
    """With no CA given (the system's trust store), Prosody's self-signed certificate is
    refused after STARTTLS, and the detail says why."""
    jid = managed_prosody.register("tcp-untrusted", "untrusted-secret")
    locator = locator_for(managed_prosody, trusted=False)

    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await connect_tcp(
                jid=jid, password="untrusted-secret", timeout=TIMEOUT, locator=locator
            )
        assert raised.value.condition == "remote-connection-failed"
        detail = raised.value.detail
        assert f"the certificate for {managed_prosody.domain} is not accepted" in detail
        assert "self-signed certificate" in detail
        assert f"127.0.0.1:{managed_prosody.c2s_port}" in detail
        assert "untrusted-secret" not in str(raised.value)

    run(scenario())


def test_a_domain_the_server_does_not_serve_is_host_unknown(
    managed_prosody: RunningProsody,
) -> None:
    locator = ServerLocator(
        home_domain=managed_prosody.domain,
        home_address=None,
        home_ca_file=None,
        overrides={"elsewhere.test": ServerAddress("127.0.0.1", managed_prosody.c2s_port)},
        ca_file=managed_prosody.layout.certificate_path,
    )

    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await connect_tcp(
                jid="someone@elsewhere.test", password="x", timeout=TIMEOUT, locator=locator
            )
        assert raised.value.condition == "host-unknown"
        assert "elsewhere.test" in raised.value.detail

    run(scenario())


def test_a_domain_that_does_not_exist_is_host_unknown() -> None:
    async def scenario(dns: LocalDnsServer) -> None:
        locator = ServerLocator(
            home_domain="home.invalid",
            home_address=None,
            home_ca_file=None,
            resolver_nameservers=[dns.host],
            resolver_port=dns.port,
        )
        with pytest.raises(UpstreamError) as raised:
            await connect_tcp(
                jid="someone@no-such-domain.invalid", password="x", timeout=TIMEOUT, locator=locator
            )
        assert raised.value.condition == "host-unknown"
        assert "no-such-domain.invalid does not exist" in raised.value.detail

    with LocalDnsServer({}) as dns:  # NXDOMAIN for every name
        run(scenario(dns))


def test_addresses_are_tried_in_order(managed_prosody: RunningProsody) -> None:
    """SRV records: a closed port first, then Prosody: the login goes through the second."""
    jid = managed_prosody.register("tcp-srv", "srv-secret")
    (closed,) = free_ports(1)
    records = {
        f"_xmpp-client._tcp.{managed_prosody.domain}": [
            ("SRV", f"0 0 {closed} localhost."),
            ("SRV", f"10 0 {managed_prosody.c2s_port} localhost."),
        ]
    }

    async def scenario(dns: LocalDnsServer) -> None:
        locator = ServerLocator(
            home_domain="home.invalid",
            home_address=None,
            home_ca_file=None,
            ca_file=managed_prosody.layout.certificate_path,
            resolver_nameservers=[dns.host],
            resolver_port=dns.port,
        )
        upstream = await connect_tcp(
            jid=jid, password="srv-secret", timeout=TIMEOUT, locator=locator
        )
        try:
            assert (await bind(upstream)).startswith(f"{jid}/")
        finally:
            await upstream.close()

    with LocalDnsServer(records) as dns:
        run(scenario(dns))
        assert (f"_xmpp-client._tcp.{managed_prosody.domain}", "SRV") in dns.queries


def test_a_closed_port_is_remote_connection_failed() -> None:
    (port,) = free_ports(1)
    locator = ServerLocator("evim.test", ServerAddress("127.0.0.1", port), None)

    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await connect_tcp(jid="a@evim.test", password="x", timeout=TIMEOUT, locator=locator)
        assert raised.value.condition == "remote-connection-failed"
        assert raised.value.detail == f"127.0.0.1:{port}: connection refused"

    run(scenario())


def test_a_server_that_never_answers_is_connection_timeout() -> None:
    timeout = 0.5
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never answers
        port = silent.getsockname()[1]
        locator = ServerLocator("evim.test", ServerAddress("127.0.0.1", port), None)

        async def scenario() -> None:
            started = time.monotonic()
            with pytest.raises(UpstreamError) as raised:
                await connect_tcp(jid="a@evim.test", password="x", timeout=timeout, locator=locator)
            elapsed = time.monotonic() - started
            assert raised.value.condition == "connection-timeout"
            assert f"opening the XMPP stream at 127.0.0.1:{port}" in raised.value.detail
            assert timeout <= elapsed < timeout + 0.5

        run(scenario())


def test_close_does_not_wait_on_unread_frames(managed_prosody: RunningProsody) -> None:
    """Frames nobody reads, over HIGH_WATER, pause reading from the server; close()
    must still see Prosody end the connection at once, not after its timeout."""
    jid = managed_prosody.register("tcp-unread", "unread-secret")
    sender = managed_prosody.register("tcp-chatty", "chatty-secret")

    async def scenario() -> None:
        upstream = await tcp_upstream(managed_prosody, jid, "unread-secret")
        chatty = await websocket_upstream(managed_prosody, sender, "chatty-secret")
        try:
            full_jid = await bind(upstream)
            previd = await enable_resumption(upstream)
            await bind(chatty)
            filler = "y" * 100_000
            for number in range(HIGH_WATER // len(filler) + 2):
                await chatty.send(
                    f"<message xmlns='jabber:client' to='{full_jid}' id='n{number}'>"
                    f"<body>{filler}</body></message>"
                )
            # Prosody answers the ping after routing every message before it.
            await chatty.send(
                f"<iq xmlns='jabber:client' type='get' id='p1' to='{managed_prosody.domain}'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>"
            )
            await receive_until(chatty, "id='p1'")
            started = time.monotonic()
            await upstream.close()
            assert time.monotonic() - started < TIMEOUT / 4
        finally:
            await chatty.close()
        answer = await try_resume(
            managed_prosody, jid, "unread-secret", previd, connect=tcp_upstream
        )
        assert answer.startswith("<failed "), answer

    run(scenario())


def test_the_gateway_relays_accounts_of_other_servers_over_tcp(
    managed_prosody: RunningProsody,
    settings: SettingsWrapper,
    monkeypatch: pytest.MonkeyPatch,
    db: None,  # the service settings: no WebSocket upstream set
) -> None:
    """connect_upstream_for(): the managed server's accounts through its WebSocket, any other
    server's over TCP (here the same Prosody, configured as an external server)."""
    jid = managed_prosody.register("tcp-hooks", "hooks-secret")
    monkeypatch.setattr(gateway_hooks, "stored_password", lambda owner: "hooks-secret")
    owner = StreamOwner(user_id=1, session_key="session", jid=jid)
    settings.EVIM_XMPP_DOMAIN = managed_prosody.domain
    settings.EVIM_XMPP_HOST = managed_prosody.c2s_host
    settings.EVIM_XMPP_C2S_PORT = managed_prosody.c2s_port
    settings.EVIM_XMPP_HTTP_PORT = managed_prosody.http_port
    settings.EVIM_XMPP_CA_FILE = str(managed_prosody.layout.certificate_path)
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = ""
    settings.EVIM_XMPP_TIMEOUT = 10

    async def connect(expected: type[AuthenticatedUpstream]) -> None:
        upstream = await gateway_hooks.connect_upstream_for(owner)
        try:
            assert isinstance(upstream, expected)
            assert (await bind(upstream)).startswith(f"{jid}/")
        finally:
            await upstream.close()

    settings.EVIM_XMPP_SERVER = "external"
    run(connect(TcpUpstream))
    settings.EVIM_XMPP_SERVER = "managed"
    run(connect(WebSocketUpstream))


# --- against scripted servers -----------------------------------------------------------------

HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
    f" xmlns:stream='{STREAMS_NS}' id='{{id}}' from='evim.test' version='1.0'>"
)
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
PLAIN_FEATURES = (
    f"<stream:features><mechanisms xmlns='{SASL_NS}'><mechanism>PLAIN</mechanism>"
    "</mechanisms></stream:features>"
).encode()
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def scripted_server(
    script: Script, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, asyncio.Future[None]]]:
    """A loopback server running ``script`` for its first connection; yields its port and
    a future of the script's end (its exception, if it failed)."""
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await script(reader, writer)
        except Exception as error:
            if not finished.done():
                finished.set_exception(error)
        else:
            if not finished.done():
                finished.set_result(None)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1], finished
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        await server.wait_closed()


async def read_header(reader: asyncio.StreamReader) -> bytes:
    await reader.readuntil(b"<stream:stream")
    return await reader.readuntil(b">")


def test_direct_tls_plain_and_a_clean_end_of_stream(managed_prosody: RunningProsody) -> None:
    """A direct-TLS server offering PLAIN only: PLAIN is used (the stream is encrypted);
    an element cut in small pieces arrives whole, its namespace declared; the server's
    </stream:stream> ends receive() cleanly and is answered."""
    layout = managed_prosody.layout
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(layout.certificate_path, layout.key_path)
    seen: dict[str, bytes] = {}
    message = (
        "<message from='a@evim.test/x' to='scripted@evim.test/r' id='s1'>"
        "<body>pièce à pièce</body></message>"
    ).encode()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_header(reader)
        writer.write(HEADER.format(id="first").encode() + PLAIN_FEATURES)
        seen["auth"] = await reader.readuntil(b"</auth>")
        writer.write(f"<success xmlns='{SASL_NS}'/>".encode())
        await read_header(reader)
        writer.write(
            HEADER.format(id="second").encode()
            + b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
            b"</stream:features>"
        )
        for start in range(0, len(message), 5):
            writer.write(message[start : start + 5])
            await writer.drain()
        seen["stanza"] = await reader.readuntil(b"</message>")
        writer.write(b"</stream:stream>")
        seen["end"] = await reader.read()  # until the client closes

    async def scenario() -> None:
        async with scripted_server(script, tls=tls) as (port, finished):
            locator = ServerLocator(
                layout.domain,
                ServerAddress("127.0.0.1", port, direct_tls=True),
                layout.certificate_path,
            )
            upstream = await connect_tcp(
                jid="scripted@evim.test", password="pässwörd", timeout=TIMEOUT, locator=locator
            )
            assert upstream.stream_id == "second"
            assert upstream.features_frame == (
                f"<stream:features xmlns='{CLIENT_NS}' xmlns:stream='{STREAMS_NS}'>"
                "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
            )
            assert await upstream.receive() == (
                "<message xmlns='jabber:client' from='a@evim.test/x' to='scripted@evim.test/r'"
                " id='s1'><body>pièce à pièce</body></message>"
            )
            await upstream.send("<message xmlns='jabber:client' id='c1'><body>ok</body></message>")
            with pytest.raises(UpstreamClosed) as raised:
                await upstream.receive()
            assert raised.value.condition == CLEAN_CLOSE
            await asyncio.wait_for(finished, TIMEOUT)
            with pytest.raises(UpstreamClosed):
                await upstream.send("<presence xmlns='jabber:client'/>")
            await upstream.close()  # nothing left to do

        auth = ElementTree.fromstring(seen["auth"])
        assert auth.get("mechanism") == "PLAIN"
        assert base64.b64decode(auth.text or "") == "\0scripted\0pässwörd".encode()
        assert seen["stanza"] == b"<message xmlns='jabber:client' id='c1'><body>ok</body></message>"
        assert seen["end"] == b"</stream:stream>"

    run(scenario())


async def _no_starttls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_header(reader)
    writer.write(HEADER.format(id="1").encode() + PLAIN_FEATURES)
    await reader.read()


async def _starttls_failure(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_header(reader)
    tls = "urn:ietf:params:xml:ns:xmpp-tls"
    writer.write(
        HEADER.format(id="1").encode()
        + f"<stream:features><starttls xmlns='{tls}'/></stream:features>".encode()
    )
    await reader.readuntil(b"/>")
    writer.write(f"<failure xmlns='{tls}'/></stream:stream>".encode())
    await reader.read()


async def _not_xmpp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_header(reader)
    writer.write(
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\r\n"
        b"<html><body>Bad Request</body></html>"
    )
    await reader.read()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_header(reader)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (_no_starttls, "offers no STARTTLS: evim does not log in unencrypted"),
        (_starttls_failure, "refused STARTTLS (<failure/>)"),
        (_not_xmpp, "the server does not speak XMPP (not-well-formed: "),
        (_hang_up, "the server closed the connection during login"),
    ],
)
def test_a_server_that_does_not_let_the_gateway_in(script: Script, expected: str) -> None:
    async def scenario() -> None:
        async with scripted_server(script) as (port, finished):
            locator = ServerLocator("evim.test", ServerAddress("127.0.0.1", port), None)
            with pytest.raises(UpstreamError) as raised:
                await connect_tcp(
                    jid="a@evim.test", password="secret", timeout=TIMEOUT, locator=locator
                )
            assert raised.value.condition == "remote-connection-failed"
            assert expected in raised.value.detail, raised.value.detail
            await asyncio.wait_for(finished, TIMEOUT)  # the gateway hung up

    run(scenario())
