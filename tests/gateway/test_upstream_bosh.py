"""The upstream over BOSH (evim.gateway.upstream.bosh), against the real Prosody of the
session (its mod_bosh plays an external server's endpoint).  The contract every upstream
keeps is in test_upstream_contract.py."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import pytest

from evim.gateway.upstream import AuthenticatedUpstream, UpstreamClosed, UpstreamError
from evim.gateway.upstream.bosh import (
    HTTPBIND_NS,
    BoshUpstream,
    connect_bosh,
    parse_body,
    plain_allowed,
)
from evim.gateway.upstream.ending import CLEAN_CLOSE, CONNECTION_FAILED
from tests.fixtures.prosody import RunningProsody, free_ports
from tests.gateway.test_upstream_tcp import shape, start_tag
from tests.gateway.test_upstream_websocket import (
    TIMEOUT,
    bind,
    receive_until,
    run,
    upstream_for,
)


async def bosh_upstream(
    prosody: RunningProsody, jid: str, password: str, **options: Any
) -> BoshUpstream:
    return await connect_bosh(
        url=prosody.bosh_url,
        domain=prosody.domain,
        jid=jid,
        password=password,
        timeout=TIMEOUT,
        **options,
    )


def test_authenticate_bind_and_exchange_messages(managed_prosody: RunningProsody) -> None:
    alice = managed_prosody.register("bosh-alice", "alice-secret")
    bob = managed_prosody.register("bosh-bob", "bob-secret")

    async def scenario() -> None:
        to_alice = await bosh_upstream(managed_prosody, alice, "alice-secret")
        to_bob = await upstream_for(managed_prosody, bob, "bob-secret")  # a WebSocket
        try:
            assert to_alice.stream_id
            # The features in the protocol's form: as the WebSocket gives them.
            assert to_alice.features_frame.startswith("<stream:features")
            assert "xmlns='jabber:client'" in start_tag(to_alice.features_frame)
            assert sorted(map(shape, ElementTree.fromstring(to_alice.features_frame))) == sorted(
                shape(feature)
                for feature in ElementTree.fromstring(to_bob.features_frame)
                if not feature.tag.startswith("{urn:xmpp:sm:")
            )
            assert "xmpp-tls" not in to_alice.features_frame  # Prosody offers it: dropped
            assert "urn:xmpp:sm:3" in to_bob.features_frame
            assert "urn:xmpp:sm:" not in to_alice.features_frame  # not over BOSH: see bosh.py
            assert "mechanisms" not in to_alice.features_frame
            alice_full = await bind(to_alice, "desk")
            bob_full = await bind(to_bob)
            assert alice_full == f"{alice}/desk"

            body = 'Répétition générale à 20 h <ok> & "merci"'
            await to_alice.send(
                f"<message xmlns='jabber:client' to='{bob_full}' type='chat' id='m1'>"
                f"<body>{escape(body)}</body></message>"
            )
            message = ElementTree.fromstring(await receive_until(to_bob, "id='m1'"))
            assert message.get("from") == alice_full
            assert message.findtext("{jabber:client}body") == body

            # The other way: the long poll pending brings it.
            await to_bob.send(
                f"<message xmlns='jabber:client' to='{alice_full}' type='chat' id='m2'>"
                "<body>reçu</body></message>"
            )
            received = await receive_until(to_alice, "id='m2'")
            assert "xmlns='jabber:client'" in start_tag(received)
            assert ElementTree.fromstring(received).findtext("{jabber:client}body") == "reçu"

            # Several frames sent at once (some share a request), answered in order.
            for number in range(20):
                await to_alice.send(
                    f"<iq xmlns='jabber:client' type='get' id='p{number}'"
                    f" to='{managed_prosody.domain}'><ping xmlns='urn:xmpp:ping'/></iq>"
                )
            for number in range(20):
                answer = await receive_until(to_alice, "<iq ")
                assert f"id='p{number}'" in answer, answer

            # A large stanza, each way.
            large = "x" * 200_000
            await to_alice.send(
                f"<message xmlns='jabber:client' to='{bob_full}' id='m3'><body>{large}</body>"
                "</message>"
            )
            assert f"<body>{large}</body>" in await receive_until(to_bob, "id='m3'")
            await to_bob.send(
                f"<message xmlns='jabber:client' to='{alice_full}' id='m4'><body>{large}</body>"
                "</message>"
            )
            assert f"<body>{large}</body>" in await receive_until(to_alice, "id='m4'")
        finally:
            await to_alice.close()
            await to_bob.close()

    run(scenario())


def test_wrong_password_is_not_authorized_and_never_logged(
    managed_prosody: RunningProsody, caplog: pytest.LogCaptureFixture
) -> None:
    jid = managed_prosody.register("bosh-wrong", "the-right-one")
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await bosh_upstream(managed_prosody, jid, "a-wrong-password-42")
        assert raised.value.condition == "not-authorized"
        for text in (str(raised.value), repr(raised.value), raised.value.detail):
            assert "a-wrong-password-42" not in text
            assert "the-right-one" not in text

    run(scenario())
    assert "a-wrong-password-42" not in caplog.text


def test_a_domain_the_server_does_not_serve_is_host_unknown(
    managed_prosody: RunningProsody,
) -> None:
    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await connect_bosh(
                url=managed_prosody.bosh_url,
                domain="elsewhere.test",
                jid="someone@elsewhere.test",
                password="whatever",
                timeout=TIMEOUT,
            )
        assert raised.value.condition == "host-unknown"
        assert "elsewhere.test" in raised.value.detail

    run(scenario())


def test_closed_port_is_remote_connection_failed() -> None:
    (port,) = free_ports(1)

    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await connect_bosh(
                url=f"http://127.0.0.1:{port}/http-bind",
                domain="evim.test",
                jid="a@evim.test",
                password="x",
                timeout=TIMEOUT,
            )
        assert raised.value.condition == "remote-connection-failed"
        assert f"http://127.0.0.1:{port}/http-bind" in raised.value.detail

    run(scenario())


def test_an_http_endpoint_that_is_not_bosh_is_remote_connection_failed(
    managed_prosody: RunningProsody,
) -> None:
    async def scenario() -> None:
        with pytest.raises(UpstreamError) as raised:
            await connect_bosh(
                url=f"http://127.0.0.1:{managed_prosody.http_port}/no-such-endpoint",
                domain=managed_prosody.domain,
                jid=managed_prosody.jid("nobody"),
                password="x",
                timeout=TIMEOUT,
            )
        assert raised.value.condition == "remote-connection-failed"
        assert "HTTP 404" in raised.value.detail

    run(scenario())


def test_a_server_that_never_answers_is_connection_timeout() -> None:
    timeout = 0.5
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never answers
        port = silent.getsockname()[1]

        async def scenario() -> None:
            started = time.monotonic()
            with pytest.raises(UpstreamError) as raised:
                await connect_bosh(
                    url=f"http://127.0.0.1:{port}/http-bind",
                    domain="evim.test",
                    jid="a@evim.test",
                    password="x",
                    timeout=timeout,
                )
            assert raised.value.condition == "connection-timeout"
            assert timeout <= time.monotonic() - started < timeout + 0.5

        run(scenario())


def test_the_server_gone_mid_stream_is_a_lost_connection(
    managed_prosody: RunningProsody,
) -> None:
    """A BOSH server whose connections drop after the login (here: a proxy in front of
    Prosody, cut): receive() raises remote-connection-failed, which the relay tells the
    browser as a lost server."""
    jid = managed_prosody.register("bosh-gone", "gone-secret")
    proxy = _CuttableProxy(managed_prosody.http_port)

    async def scenario() -> None:
        upstream = await connect_bosh(
            url=f"http://127.0.0.1:{proxy.port}/http-bind",
            domain=managed_prosody.domain,
            jid=jid,
            password="gone-secret",
            timeout=TIMEOUT,
        )
        await bind(upstream)
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(UpstreamClosed) as raised:
            await receive_until(upstream, "never matches: the server is gone")
        assert raised.value.condition == CONNECTION_FAILED
        assert time.monotonic() - started < TIMEOUT / 2
        with pytest.raises(UpstreamClosed):
            await upstream.send("<presence xmlns='jabber:client'/>")
        await upstream.abort()

    try:
        run(scenario())
    finally:
        proxy.cut()


class _CuttableProxy:
    """A TCP relay to 127.0.0.1:``port`` in a thread; :meth:`cut` closes every connection
    and refuses new ones."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._copy, args=(source, sink), daemon=True).start()

    @staticmethod
    def _copy(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for each in (source, sink):
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accept() under way (Linux)
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        with self.lock:
            for each in self.sockets:
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)
                each.close()
            self.sockets.clear()


async def session_alive(prober: AuthenticatedUpstream, full_jid: str, domain: str) -> bool:
    """Whether the server still has a session for ``full_jid``: an iq to it is delivered
    (no answer), else answered with an error; the server answers the ping that follows
    only after routing the iq."""
    await prober.send(
        f"<iq xmlns='jabber:client' type='get' id='probe' to='{full_jid}'>"
        "<query xmlns='jabber:iq:version'/></iq>"
    )
    await prober.send(
        f"<iq xmlns='jabber:client' type='get' id='after' to='{domain}'>"
        "<ping xmlns='urn:xmpp:ping'/></iq>"
    )
    first = await receive_until(prober, "id='probe'|id='after'")
    if "id='probe'" in first:
        assert "type='error'" in first, first
        await receive_until(prober, "id='after'")
        return False
    return True


def test_abort_keeps_the_session_and_close_ends_it(managed_prosody: RunningProsody) -> None:
    jid = managed_prosody.register("bosh-ending", "ending-secret")
    watcher = managed_prosody.register("bosh-watcher", "watcher-secret")
    domain = managed_prosody.domain

    async def scenario() -> None:
        prober = await upstream_for(managed_prosody, watcher, "watcher-secret")
        try:
            await bind(prober)
            aborted = await bosh_upstream(managed_prosody, jid, "ending-secret")
            aborted_jid = await bind(aborted, "aborted")
            closed = await bosh_upstream(managed_prosody, jid, "ending-secret")
            closed_jid = await bind(closed, "closed")
            assert await session_alive(prober, aborted_jid, domain)
            assert await session_alive(prober, closed_jid, domain)

            await aborted.abort()
            with pytest.raises(UpstreamClosed) as raised:
                await aborted.receive()
            assert raised.value.condition == CLEAN_CLOSE
            # Dropped without a terminate: the server keeps it (until its inactivity).
            assert await session_alive(prober, aborted_jid, domain)

            await closed.close()
            with pytest.raises(UpstreamClosed) as raised:
                await closed.receive()
            assert raised.value.condition == CLEAN_CLOSE
            with pytest.raises(UpstreamClosed):
                await closed.send("<presence xmlns='jabber:client'/>")
            assert not await session_alive(prober, closed_jid, domain)
        finally:
            await prober.close()

    run(scenario())


def test_stream_management_is_answered_by_the_gateway(managed_prosody: RunningProsody) -> None:
    jid = managed_prosody.register("bosh-sm", "sm-secret")

    async def scenario() -> None:
        upstream = await bosh_upstream(managed_prosody, jid, "sm-secret")
        try:
            await bind(upstream)
            await upstream.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
            failed = await receive_until(upstream, "<failed ")
            assert start_tag(failed) == "<failed xmlns='urn:xmpp:sm:3'>"
            await upstream.send("<resume xmlns=\"urn:xmpp:sm:2\" previd='x' h='0'/>")
            assert "urn:xmpp:sm:2" in await receive_until(upstream, "<failed ")
            # The stream goes on.
            await upstream.send(
                f"<iq xmlns='jabber:client' type='get' id='p1' to='{managed_prosody.domain}'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>"
            )
            assert "type='result'" in await receive_until(upstream, "id='p1'")
        finally:
            await upstream.close()

    run(scenario())


def test_terminate_conditions_become_stream_errors() -> None:
    body = parse_body(
        f"<body xmlns='{HTTPBIND_NS}' xmlns:stream='http://etherx.jabber.org/streams'"
        " type='terminate' condition='remote-stream-error'><stream:error>"
        "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></body>".encode()
    )
    assert body.terminated and body.frames == []
    assert body.ending().condition == "conflict"
    gone = parse_body(
        f"<body xmlns='{HTTPBIND_NS}' type='terminate' condition='item-not-found'/>".encode()
    )
    assert gone.ending().condition == CONNECTION_FAILED
    clean = parse_body(f"<body xmlns='{HTTPBIND_NS}' type='terminate'/>".encode())
    assert clean.ending().condition == CLEAN_CLOSE
    # An element that inherited the body's namespace is a jabber:client one.
    plain = parse_body(f"<body xmlns='{HTTPBIND_NS}'><message to='a@b'/></body>".encode())
    assert plain.frames == ["<message xmlns='jabber:client' to='a@b'/>"]
    with pytest.raises(UpstreamError) as raised:
        parse_body(b"<html><body>Not here</body></html>")
    assert raised.value.condition == CONNECTION_FAILED


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:5280/http-bind", True),
        ("http://[::1]:5280/http-bind", True),
        ("http://localhost:5280/http-bind", True),
        ("https://chat.example.org/http-bind", True),
        ("http://chat.example.org/http-bind", False),
        ("http://192.0.2.10:5280/http-bind", False),
    ],
)
def test_plain_only_over_https_or_loopback(url: str, allowed: bool) -> None:
    assert plain_allowed(url) is allowed


def test_a_close_waits_for_the_servers_answer(managed_prosody: RunningProsody) -> None:
    jid = managed_prosody.register("bosh-close", "close-secret")

    async def scenario() -> None:
        upstream = await bosh_upstream(managed_prosody, jid, "close-secret")
        await bind(upstream)
        started = time.monotonic()
        await upstream.close()
        assert time.monotonic() - started < TIMEOUT / 4  # answered, not timed out
        with pytest.raises(UpstreamClosed) as raised:
            await upstream.receive()
        assert raised.value.condition == CLEAN_CLOSE

    run(scenario())
