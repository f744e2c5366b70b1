"""Guests (the service's anonymous mode) end to end: a real evim (uvicorn, ASGI) with its
managed Prosody serving the anonymous host, a guest speaking raw RFC 7395 frames as
Converse would, and a colleague through the gateway.

Read each test as a script: who connects, what they send, what they get."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from evim.managed_server.admin_shell import AdminShell
from evim.service.current import CACHE_SECONDS
from tests.fixtures.http_session import BackOfficeSession, _csrf_token
from tests.fixtures.live_evim import LiveEvim, running_evim
from tests.gateway.test_gateway_websocket import logged_in, start
from tests.gateway.xmpp_over_websocket import TIMEOUT, WebSocketXmpp

GUEST_HOST = "guest.localhost"
ROOM = "clients@conference.localhost"
MUC = "http://jabber.org/protocol/muc"
LIMIT = 8  # EVIM_GATEWAY_GUEST_STREAMS_PER_MINUTE here

ANONYMOUS_MODE = (
    "from evim.service.actions import do_change_service_settings\n"
    "do_change_service_settings(acting_user=None, values={'anonymous_mode': %s})\n"
)
NEW_LINK = (
    "from evim.backoffice.models import User\n"
    "from evim.messaging.guests import do_create_guest_link\n"
    "made = do_create_guest_link(acting_user=User.objects.get(username='camille'), "
    f"room={ROOM!r}, days=2)\n"
    "print('LINK', made.link.pk, made.token)\n"
)


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    with running_evim(
        tmp_path_factory.mktemp("guests"),
        {"EVIM_GATEWAY_GUEST_STREAMS_PER_MINUTE": str(LIMIT), "EVIM_GATEWAY_RECHECK_SECONDS": "1"},
        setup=ANONYMOUS_MODE % "True",
    ) as instance:
        instance.evim("accounts", "provision", "camille", "jeanne")
        # The guests' room: members-only, camille its owner (made as a colleague would).
        asyncio.run(
            shell(
                instance,
                f">local room = prosody.hosts['conference.localhost'].modules.muc"
                f".create_room('{ROOM}'); room:set_members_only(true); "
                "room:set_persistent(true); "
                "room:set_affiliation(true, 'camille@localhost', 'owner'); room:save(true)",
            )
        )
        yield instance


async def shell(instance: LiveEvim, lua: str) -> str:
    async with AdminShell(instance.data_dir / "prosody" / "prosody.sock") as admin:
        return (await admin.execute(lua)).value


def new_link(instance: LiveEvim) -> tuple[int, str]:
    output = instance.evim("shell", "-c", NEW_LINK).stdout
    match = re.search(r"^LINK (\d+) (\S+)$", output, re.MULTILINE)
    assert match, output
    return int(match.group(1)), match.group(2)


def guest_with_nickname(instance: LiveEvim, token: str, nickname: str) -> BackOfficeSession:
    """A browser on the guest page that chose ``nickname`` (no back-office login)."""
    browser = BackOfficeSession(instance.url)
    status, page, _headers = browser.get(f"/guest/{token}/")
    assert status == 200 and 'name="nickname"' in page
    landed = browser._post(
        f"/guest/{token}/", {"nickname": nickname, "csrfmiddlewaretoken": _csrf_token(page)}
    )
    assert landed.endswith(f"/guest/{token}/")
    return browser


def open_guest_stream(instance: LiveEvim, link_id: int, cookie: str) -> connect:
    return connect(
        f"{instance.url.replace('http://', 'ws://')}/im/guest-ws?link={link_id}",
        subprotocols=[Subprotocol("xmpp")],
        origin=Origin(instance.url),
        additional_headers={"Cookie": cookie} if cookie else {},
        compression=None,
        open_timeout=TIMEOUT,
    )


async def guest_session(
    instance: LiveEvim, link_id: int, token: str, browser: BackOfficeSession
) -> tuple[WebSocketXmpp, str]:
    status, body, _headers = browser.get(f"/guest/{token}/credentials")
    assert status == 200, body
    credentials = json.loads(body)
    assert credentials["password"].startswith("evim-guest:")
    connection: ClientConnection = await open_guest_stream(instance, link_id, browser.cookie_header)
    client = WebSocketXmpp(connection, domain=GUEST_HOST)
    full_jid = await client.start_session("guest", credentials["password"])
    return client, full_jid


def page_status(instance: LiveEvim, token: str, status: int) -> None:
    """Until the guest page of ``token`` answers ``status``: pages read the service settings
    through a cache of CACHE_SECONDS, so a change made in another process (here `evim
    shell`) shows within that time — nothing to await but the page itself."""
    deadline = time.monotonic() + CACHE_SECONDS + 5
    while BackOfficeSession(instance.url).get(f"/guest/{token}/")[0] != status:
        assert time.monotonic() < deadline, f"the guest page never answered {status}"
        time.sleep(0.2)


def refused_handshakes(instance: LiveEvim, status: int) -> int:
    _status, metrics, _headers = BackOfficeSession(instance.url).get("/metrics")
    match = re.search(rf'evim_gateway_handshakes_refused_total{{reason="{status}"}} (\d+)', metrics)
    return int(match.group(1)) if match else 0


async def affiliation(instance: LiveEvim, jid: str) -> str:
    return await shell(
        instance,
        f">return true, tostring(prosody.hosts['conference.localhost'].modules.muc"
        f".get_room_from_jid('{ROOM}'):get_affiliation('{jid}'))",
    )


def test_a_guest_and_a_colleague_chat_in_the_linked_room_and_nowhere_else(
    guests: LiveEvim,
) -> None:
    link_id, token = new_link(guests)
    browser = guest_with_nickname(guests, token, "Marie Curie")

    async def script() -> str:
        guest, guest_jid = await guest_session(guests, link_id, token, browser)
        # The server made up an address on the anonymous host; the guest has no account.
        assert guest_jid.split("/")[0].endswith(f"@{GUEST_HOST}")
        await guest.send(
            f"<presence xmlns='jabber:client' to='{ROOM}/Marie Curie'><x xmlns='{MUC}'/></presence>"
        )
        # Members-only, yet the guest is in: evim made the address a member for this stream.
        joined = await guest.receive_until(r"status code=['\"]110['\"]")
        assert f"from='{ROOM}/Marie Curie'" in joined.replace('"', "'")
        assert await affiliation(guests, guest_jid.split("/")[0]) == "member"
        assert (
            await shell(
                guests,
                f">return true, tostring(prosody.hosts['conference.localhost']"
                f".modules.muc.get_room_from_jid('{ROOM}'):get_members_only())",
            )
            == "true"
        )

        camille, _camille_jid = await start(guests, logged_in(guests, "camille"))
        await camille.send(
            f"<presence xmlns='jabber:client' to='{ROOM}/Camille Martin'><x xmlns='{MUC}'/>"
            "</presence>"
        )
        await camille.receive_until(r"status code=['\"]110['\"]")
        await guest.send(
            f"<message xmlns='jabber:client' to='{ROOM}' type='groupchat' id='g1'>"
            "<body>Bonjour, la fiche technique est prête ?</body></message>"
        )
        heard = await camille.receive_until("fiche technique")
        assert f"from='{ROOM}/Marie Curie'" in heard.replace('"', "'")
        await camille.send(
            f"<message xmlns='jabber:client' to='{ROOM}' type='groupchat' id='c1'>"
            "<body>Oui, je vous l'envoie.</body></message>"
        )
        answer = await guest.receive_until("je vous l")
        assert f"from='{ROOM}/Camille Martin'" in answer.replace('"', "'")

        # Anything else gets an error back from the gateway, and never reaches anyone.
        await guest.send(
            "<message xmlns='jabber:client' to='jeanne@localhost' type='chat' id='x1'>"
            "<body>Hors du salon</body></message>"
        )
        refused = (await guest.receive_until("id=['\"]x1['\"]")).replace('"', "'")
        assert "type='error'" in refused and "not-allowed" in refused
        assert "from='jeanne@localhost'" in refused
        await guest.send(
            f"<presence xmlns='jabber:client' to='other@conference.localhost/Marie Curie'>"
            f"<x xmlns='{MUC}'/></presence>"
        )
        assert "not-allowed" in await guest.receive_until("other@conference")
        await guest.send(
            "<iq xmlns='jabber:client' type='get' id='v1' to='localhost'>"
            "<query xmlns='jabber:iq:version'/></iq>"
        )
        assert "not-allowed" in await guest.receive_until("id=['\"]v1['\"]")
        # The anonymous host's own services answer (ping).
        await guest.send(
            f"<iq xmlns='jabber:client' type='get' id='p1' to='{GUEST_HOST}'>"
            "<ping xmlns='urn:xmpp:ping'/></iq>"
        )
        assert "type='result'" in (await guest.receive_until("id=['\"]p1['\"]")).replace('"', "'")

        # Revoking the link ends the guest's open chat at once, and its membership.
        admin = logged_in(guests, "camille")
        _status, page, _headers = admin.get("/messaging/guest-links/")
        admin._post(
            f"/messaging/guest-links/{link_id}/revoke/",
            {"csrfmiddlewaretoken": _csrf_token(page)},
        )
        ended = await guest.receive_until("stream:error|<close")
        assert "not-authorized" in ended and "revoked" in ended
        with pytest.raises(ConnectionClosed):
            while True:
                await guest.receive()
        left = await camille.receive_until("Marie Curie")
        assert "unavailable" in left
        await camille.connection.close()
        return guest_jid.split("/")[0]

    guest_address = asyncio.run(script())
    assert asyncio.run(affiliation(guests, guest_address)) == "nil"

    async def after() -> None:
        # The same browser cannot come back: no token, no stream.
        status, _body, _headers = browser.get(f"/guest/{token}/credentials")
        assert status == 403
        status, page, _headers = browser.get(f"/guest/{token}/")
        assert status == 410 and "retiré" in page
        with pytest.raises(InvalidStatus):
            await open_guest_stream(guests, link_id, browser.cookie_header)

    asyncio.run(after())


def test_a_guest_stream_needs_its_own_one_time_token(guests: LiveEvim) -> None:
    link_id, token = new_link(guests)
    browser = guest_with_nickname(guests, token, "Pierre")
    intruder = guest_with_nickname(guests, token, "Paul")

    async def script() -> None:
        _status, body, _headers = browser.get(f"/guest/{token}/credentials")
        stolen = json.loads(body)["password"]
        # Another browser (session) cannot use it...
        connection = await open_guest_stream(guests, link_id, intruder.cookie_header)
        other = WebSocketXmpp(connection, domain=GUEST_HOST)
        assert "not-authorized" in await other.authenticate("guest", stolen)
        await connection.close()
        # ... and it was spent by that try: its own browser cannot either.
        connection = await open_guest_stream(guests, link_id, browser.cookie_header)
        own = WebSocketXmpp(connection, domain=GUEST_HOST)
        assert "not-authorized" in await own.authenticate("guest", stolen)
        await connection.close()

    asyncio.run(script())


def test_turning_anonymous_mode_off_ends_guests(guests: LiveEvim) -> None:
    link_id, token = new_link(guests)
    browser = guest_with_nickname(guests, token, "Lise")

    async def script() -> None:
        guest, _jid = await guest_session(guests, link_id, token, browser)
        guests.evim("shell", "-c", ANONYMOUS_MODE % "False")
        # Ended by the gateway's periodic check (every second here), or by the server
        # dropping its anonymous host: either way the stream ends.
        ended = await guest.receive_until("stream:error|<close")
        assert ended
        page_status(guests, token, 404)
        with pytest.raises(InvalidStatus):
            await open_guest_stream(guests, link_id, browser.cookie_header)

    try:
        asyncio.run(script())
    finally:
        guests.evim("shell", "-c", ANONYMOUS_MODE % "True")
        page_status(guests, token, 200)


def test_guest_stream_openings_are_limited_per_address(guests: LiveEvim) -> None:
    link_id, token = new_link(guests)
    browser = guest_with_nickname(guests, token, "Jules")
    before = refused_handshakes(guests, 429)

    async def script() -> None:
        # Openings without a guest session are refused anyway, but they count.
        for _attempt in range(LIMIT + 1):
            with pytest.raises(InvalidStatus):
                await open_guest_stream(guests, link_id, "")
        assert refused_handshakes(guests, 429) > before
        # Now even a real guest from this address waits for the minute to pass.
        with pytest.raises(InvalidStatus):
            await open_guest_stream(guests, link_id, browser.cookie_header)
        assert refused_handshakes(guests, 429) >= before + 2

    asyncio.run(script())
