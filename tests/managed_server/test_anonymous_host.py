"""The anonymous host (the service's anonymous mode) on a real managed Prosody: guests log
in with SASL ANONYMOUS and get a fresh address; they cannot log in with a password, create
rooms, store anything or reach another server; without it in the layout the host is absent."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from evim.gateway.upstream import UpstreamError
from evim.gateway.upstream.websocket import WebSocketUpstream, connect_websocket
from evim.managed_server.config import ANONYMOUS_MODULES_DISABLED, render_config
from tests.fixtures.prosody import RunningProsody, make_layout, running_prosody

GUEST_HOST = "guest.evim.test"
CLIENT = "jabber:client"


@pytest.fixture(scope="module")
def prosody_with_guests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProsody]:
    layout = make_layout(
        tmp_path_factory.mktemp("anonymous-host") / "prosody", anonymous_host=GUEST_HOST
    )
    with running_prosody(layout, name="prosody-with-guests") as prosody:
        yield prosody


def test_configuration_has_the_anonymous_host_only_when_set(tmp_path: Path) -> None:
    without = render_config(make_layout(tmp_path / "a"))
    assert "anonymous" not in without
    text = render_config(make_layout(tmp_path / "b", anonymous_host=GUEST_HOST))
    section = text.split(f'VirtualHost "{GUEST_HOST}"', 1)[1].split("Component", 1)[0]
    assert 'authentication = "anonymous"' in section
    assert "allow_anonymous_s2s = false" in section
    assert "allow_anonymous_storage = false" in section
    assert "allow_registration = false" in section
    for module in ("offline", "mam", "register", "smacks"):
        assert module in ANONYMOUS_MODULES_DISABLED
        assert f'"{module}"' in section.split("modules_disabled = ", 1)[1].split("\n", 1)[0]
    # The main host keeps its password logins.
    main = text.split('VirtualHost "evim.test"', 1)[1].split("VirtualHost", 1)[0]
    assert "authentication" not in main


def test_layout_refuses_an_anonymous_host_that_is_another_host(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="already the domain or MUC host"):
        make_layout(tmp_path, anonymous_host="conference.evim.test")
    with pytest.raises(ValueError, match="not a valid host name"):
        make_layout(tmp_path, anonymous_host="guest evim.test")


async def guest(prosody: RunningProsody) -> tuple[WebSocketUpstream, str]:
    upstream = await connect_websocket(
        url=prosody.websocket_url,
        domain=GUEST_HOST,
        jid="",
        password="",
        timeout=10,
        anonymous=True,
    )
    await upstream.send(
        f"<iq xmlns='{CLIENT}' type='set' id='bind'>"
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
    )
    bound = await receive_until(upstream, "id='bind'")
    match = re.search(r"<jid>([^<]+)</jid>", bound)
    assert match, bound
    return upstream, match.group(1)


async def receive_until(upstream: WebSocketUpstream, text: str) -> str:
    async with asyncio.timeout(10):
        while True:
            frame = await upstream.receive()
            if text in frame.replace('"', "'"):
                return frame


def test_guests_get_a_fresh_address_and_nothing_more(prosody_with_guests: RunningProsody) -> None:
    prosody = prosody_with_guests

    async def script() -> None:
        first, first_jid = await guest(prosody)
        second, second_jid = await guest(prosody)
        assert first_jid.split("/")[0].endswith(f"@{GUEST_HOST}")
        assert first_jid.split("/")[0] != second_jid.split("/")[0]
        # A guest cannot create a room (restrict_room_creation = "local").
        await first.send(
            f"<presence xmlns='{CLIENT}' to='newroom@{prosody.muc_host}/Guest'>"
            "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
        )
        refused = await receive_until(first, "newroom@")
        assert "type='error'" in refused.replace('"', "'") and "not-allowed" in refused
        # Nor reach another server (no s2s at all for the anonymous host).
        await first.send(
            f"<iq xmlns='{CLIENT}' type='get' id='far' to='elsewhere.example'>"
            "<ping xmlns='urn:xmpp:ping'/></iq>"
        )
        far = await receive_until(first, "id='far'")
        assert "type='error'" in far.replace('"', "'")
        # Nor store anything: private storage is not even served.
        await first.send(
            f"<iq xmlns='{CLIENT}' type='set' id='store'><query xmlns='jabber:iq:private'>"
            "<note xmlns='evim:test'>kept?</note></query></iq>"
        )
        stored = await receive_until(first, "id='store'")
        assert "type='error'" in stored.replace('"', "'")
        # The host answers the few queries a client needs (disco, ping).
        await first.send(
            f"<iq xmlns='{CLIENT}' type='get' id='ping' to='{GUEST_HOST}'>"
            "<ping xmlns='urn:xmpp:ping'/></iq>"
        )
        assert "type='result'" in (await receive_until(first, "id='ping'")).replace('"', "'")
        await first.close()
        await second.close()

    asyncio.run(script())


def test_no_password_login_on_the_anonymous_host(prosody_with_guests: RunningProsody) -> None:
    prosody = prosody_with_guests
    prosody.register("someone", "a-password-1")

    async def script() -> None:
        with pytest.raises(UpstreamError) as refused:
            await connect_websocket(
                url=prosody.websocket_url,
                domain=GUEST_HOST,
                jid=f"someone@{GUEST_HOST}",
                password="a-password-1",
                timeout=10,
            )
        assert "no acceptable SASL mechanism" in refused.value.detail
        assert "ANONYMOUS" in refused.value.detail
        # The main host offers no ANONYMOUS login.
        with pytest.raises(UpstreamError, match="does not offer SASL ANONYMOUS"):
            await connect_websocket(
                url=prosody.websocket_url,
                domain=prosody.domain,
                jid="",
                password="",
                timeout=10,
                anonymous=True,
            )

    asyncio.run(script())


def test_guests_cannot_log_in_on_the_client_port(prosody_with_guests: RunningProsody) -> None:
    """Only through the WebSocket (evim's gateway, with its guest rules): a client on the
    client-to-server port is turned away before any login is offered."""
    layout = prosody_with_guests.layout

    async def script() -> str:
        reader, writer = await asyncio.open_connection(layout.c2s_host, layout.c2s_port)
        writer.write(
            f"<?xml version='1.0'?><stream:stream to='{GUEST_HOST}' xmlns='{CLIENT}' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".encode()
        )
        await writer.drain()
        received = b""
        async with asyncio.timeout(10):
            while chunk := await reader.read(4096):
                received += chunk
        writer.close()
        return received.decode()

    answer = asyncio.run(script())
    assert "policy-violation" in answer, answer
    assert "ANONYMOUS" not in answer and "starttls" not in answer, answer
