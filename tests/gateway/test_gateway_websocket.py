"""The gateway end to end: a real evim (uvicorn, ASGI) with its managed Prosody, a browser-like
XMPP client over WebSocket, and go-sendxmpp as an external client.

Read each test as a script: who connects, what they send, what they get."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.fixtures.http_session import BackOfficeSession
from tests.fixtures.live_evim import LiveEvim, running_evim
from tests.gateway.xmpp_over_websocket import WebSocketXmpp, open_gateway

GO_SENDXMPP = "/usr/bin/go-sendxmpp"
READ_PASSWORD = (
    "from evim.messaging.models import JabberAccount\n"
    "from evim.messaging.encryption import decrypt_password\n"
    "account = JabberAccount.objects.get(jid='jeanne@localhost')\n"
    "print(decrypt_password(account.password_encrypted))\n"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    with running_evim(tmp_path_factory.mktemp("gateway")) as instance:
        instance.evim("accounts", "provision", "camille", "jeanne")  # oliver has none
        yield instance


def logged_in(gateway: LiveEvim, username: str) -> BackOfficeSession:
    session = BackOfficeSession(gateway.url)
    session.log_in(username, gateway.password)
    return session


async def start(gateway: LiveEvim, session: BackOfficeSession) -> tuple[WebSocketXmpp, str]:
    credentials = session.credentials()
    connection = await open_gateway(gateway.url, cookie=session.cookie_header, origin=gateway.url)
    client = WebSocketXmpp(connection, domain="localhost")
    full_jid = await client.start_session(credentials["jid"].split("@")[0], credentials["password"])
    return client, full_jid


async def stream_of(gateway: LiveEvim, session: BackOfficeSession) -> WebSocketXmpp:
    """A gateway WebSocket opened with ``session``'s cookie, before any authentication."""
    connection = await open_gateway(gateway.url, cookie=session.cookie_header, origin=gateway.url)
    return WebSocketXmpp(connection, domain="localhost")


def test_credentials_give_a_token_never_the_password(gateway: LiveEvim) -> None:
    session = logged_in(gateway, "jeanne")
    first, second = session.credentials(), session.credentials()
    assert first["jid"].startswith("jeanne@localhost/evim-bar-")
    assert first["password"].startswith("evim-token:")
    assert first["password"] != second["password"]
    real_password = gateway.evim("shell", "--verbosity=0", "-c", READ_PASSWORD).stdout.strip()
    assert real_password and real_password not in str(first)
    _status, _body, headers = session.get("/im/credentials")
    assert "no-store" in {key.lower(): value for key, value in headers.items()}["cache-control"]


def test_two_colleagues_chat_through_the_gateway(gateway: LiveEvim) -> None:
    async def script() -> None:
        camille, camille_jid = await start(gateway, logged_in(gateway, "camille"))
        jeanne, _jeanne_jid = await start(gateway, logged_in(gateway, "jeanne"))
        assert camille_jid.startswith("camille@localhost/")
        await camille.send(
            "<message xmlns='jabber:client' to='jeanne@localhost' type='chat' id='m1'>"
            "<body>Bonjour Jeanne, la salle est prête ?</body></message>"
        )
        received = await jeanne.receive_until("<message")
        assert "Bonjour Jeanne, la salle est prête ?" in received
        assert "from='camille@localhost/" in received or 'from="camille@localhost/' in received
        # The counters saw it, without any content.
        _status, metrics, _headers = BackOfficeSession(gateway.url).get("/metrics")
        counts = dict(
            line.rsplit(" ", 1) for line in metrics.splitlines() if not line.startswith("#")
        )
        assert int(counts['evim_gateway_sessions_open{transport="websocket"}']) >= 2
        assert int(counts["evim_gateway_stanzas_from_browser_total"]) >= 3
        assert "prête" not in metrics
        await camille.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
        assert "<close" in await camille.receive_until("<close")
        await jeanne.connection.close()
        await camille.connection.close()

    asyncio.run(script())


def test_a_go_sendxmpp_user_reaches_a_back_office_user(gateway: LiveEvim, tmp_path: Path) -> None:
    prosody = gateway.data_dir / "prosody" / "prosody.cfg.lua"
    subprocess.run(
        ["prosodyctl", "--config", str(prosody), "register", "outsider", "localhost", "outside-pw"],
        check=True,
        capture_output=True,
    )

    async def script() -> None:
        jeanne, _jid = await start(gateway, logged_in(gateway, "jeanne"))
        sender = await asyncio.create_subprocess_exec(
            GO_SENDXMPP,
            "-u",
            "outsider@localhost",
            "-p",
            "outside-pw",
            "-j",
            f"127.0.0.1:{gateway.c2s_port}",
            "-n",
            "jeanne@localhost",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        await sender.communicate(b"Message depuis un client externe")
        assert sender.returncode == 0
        received = await jeanne.receive_until("<message")
        assert "Message depuis un client externe" in received
        await jeanne.connection.close()

    asyncio.run(script())


def test_a_token_works_once_for_its_own_session(gateway: LiveEvim) -> None:
    async def script() -> None:
        session = logged_in(gateway, "jeanne")
        token = session.credentials()["password"]
        first = await stream_of(gateway, session)
        assert "<success" in await first.authenticate("jeanne", token)
        again = await stream_of(gateway, session)
        assert "not-authorized" in await again.authenticate("jeanne", token)
        # Another session of the same user cannot use this session's token either.
        other = logged_in(gateway, "jeanne")
        stolen = session.credentials()["password"]
        thief = await stream_of(gateway, other)
        assert "not-authorized" in await thief.authenticate("jeanne", stolen)
        # Nor can another user, even logged in.
        camille = logged_in(gateway, "camille")
        third = await stream_of(gateway, camille)
        assert "not-authorized" in await third.authenticate(
            "camille", session.credentials()["password"]
        )
        for client in (first, again, thief, third):
            await client.connection.close()

    asyncio.run(script())


def prepared_upstreams(session: BackOfficeSession) -> dict[str, int]:
    """The gateway's counts of prepared upstream logins, by outcome, from /metrics."""
    _status, text, _headers = session.get("/metrics")
    found = re.findall(r'evim_gateway_upstreams_prepared_total\{reason="(\w+)"\} (\d+)', text)
    return {outcome: int(count) for outcome, count in found}


def test_the_upstream_login_is_prepared_with_the_token(gateway: LiveEvim) -> None:
    """Fetching credentials starts the upstream login; the token's stream takes it over,
    and a token refused to another session takes its prepared login down with it."""

    async def script() -> None:
        session = logged_in(gateway, "jeanne")
        before = prepared_upstreams(session)
        client, full_jid = await start(gateway, session)
        assert full_jid.startswith("jeanne@localhost/")
        after = prepared_upstreams(session)
        assert after.get("claimed", 0) == before.get("claimed", 0) + 1
        # The claimed upstream carries the chat like any other.
        await client.send(
            "<iq xmlns='jabber:client' type='get' id='ping-1'><ping xmlns='urn:xmpp:ping'/></iq>"
        )
        assert "id='ping-1'" in await client.receive_until("<iq")
        other = logged_in(gateway, "jeanne")
        thief = await stream_of(gateway, other)
        assert "not-authorized" in await thief.authenticate(
            "jeanne", session.credentials()["password"]
        )
        final = prepared_upstreams(session)
        assert final.get("discarded", 0) == after.get("discarded", 0) + 1
        assert final.get("claimed", 0) == after.get("claimed", 0)
        for connection in (client.connection, thief.connection):
            await connection.close()

    asyncio.run(script())


@pytest.mark.parametrize(
    ("who", "origin", "subprotocol"),
    [
        ("jeanne", "http://evil.example", True),  # cross-site WebSocket hijacking
        ("jeanne", None, True),  # no Origin at all
        ("jeanne", "same", False),  # no xmpp subprotocol
        ("oliver", "same", True),  # logged in, but no Jabber account
        (None, "same", True),  # not logged in
    ],
)
def test_handshakes_refused(
    gateway: LiveEvim, who: str | None, origin: str | None, subprotocol: bool
) -> None:
    cookie = logged_in(gateway, who).cookie_header if who else ""

    async def script() -> None:
        with pytest.raises(InvalidStatus) as refused:
            await open_gateway(
                gateway.url,
                cookie=cookie,
                origin=gateway.url if origin == "same" else origin,
                subprotocol=subprotocol,
            )
        assert refused.value.response.status_code == 403

    asyncio.run(script())


def test_logging_out_ends_the_stream(gateway: LiveEvim) -> None:
    async def script() -> None:
        session = logged_in(gateway, "jeanne")
        client, _jid = await start(gateway, session)
        await asyncio.to_thread(session.log_out)
        ending = await client.receive_until("stream:error|<close")
        assert "not-authorized" in ending or "<close" in ending

    asyncio.run(script())


def test_after_logging_out_a_fresh_token_opens_nothing(gateway: LiveEvim) -> None:
    """The handshake trusts the owner the credentials view found only until a logout."""
    prepared_before = prepared_upstreams(logged_in(gateway, "camille"))
    session = logged_in(gateway, "jeanne")
    token = session.credentials()["password"]
    cookie = session.cookie_header
    session.log_out()

    async def script() -> None:
        with pytest.raises(InvalidStatus) as refused:
            await open_gateway(gateway.url, cookie=cookie, origin=gateway.url)
        assert refused.value.response.status_code == 403
        assert token  # never usable: no stream could be opened to present it

    asyncio.run(script())
    prepared_after = prepared_upstreams(logged_in(gateway, "camille"))
    assert prepared_after.get("discarded", 0) == prepared_before.get("discarded", 0) + 1


def test_stream_management_resumes_after_a_page_navigation(gateway: LiveEvim) -> None:
    """The browser leaves a page without closing its stream; on the next page it resumes."""

    async def script() -> None:
        session = logged_in(gateway, "jeanne")
        first, _jid = await start(gateway, session)
        await first.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        enabled = await first.receive_until("<enabled")
        previd = re.search(r"""id=['"]([^'"]+)['"]""", enabled)
        assert previd, enabled
        await first.connection.close()  # the page goes away: no XMPP <close/>

        credentials = session.credentials()
        second = await stream_of(gateway, session)
        assert "<success" in await second.authenticate("jeanne", credentials["password"])
        _opened, features = await second.open()
        assert "urn:xmpp:sm:3" in features
        await second.send(f"<resume xmlns='urn:xmpp:sm:3' previd='{previd.group(1)}' h='0'/>")
        assert "<resumed" in await second.receive_until("<resumed|<failed")
        await second.connection.close()

    asyncio.run(script())


@pytest.mark.parametrize(
    ("frame", "condition"),
    [
        (  # an entity-expansion bomb
            "<!DOCTYPE m [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
            "<message xmlns='jabber:client' to='camille@localhost'><body>&b;</body></message>",
            "restricted-xml",
        ),
        ("<message xmlns='jabber:client'><body>unclosed</message>", "not-well-formed"),
        (
            "<message xmlns='jabber:client' to='camille@localhost'><body>"
            + "x" * 300_000
            + "</body></message>",
            "policy-violation",
        ),
    ],
    ids=["entity-bomb", "malformed", "too-large"],
)
def test_bad_frames_end_the_stream_with_the_right_error(
    gateway: LiveEvim, frame: str, condition: str
) -> None:
    async def script() -> None:
        client, _jid = await start(gateway, logged_in(gateway, "jeanne"))
        await client.send(frame)
        ending = await client.receive_until("stream:error")
        assert condition in ending
        assert "<close" in await client.receive_until("<close")

    asyncio.run(script())


def test_too_many_streams_for_one_user_are_refused(gateway: LiveEvim) -> None:
    async def script() -> None:
        session = logged_in(gateway, "camille")
        streams = [
            await open_gateway(gateway.url, cookie=session.cookie_header, origin=gateway.url)
            for _ in range(10)  # EVIM_GATEWAY_MAX_SESSIONS_PER_USER
        ]
        with pytest.raises(InvalidStatus):
            await open_gateway(gateway.url, cookie=session.cookie_header, origin=gateway.url)
        for stream in streams:
            await stream.close()

    asyncio.run(script())


def test_prosody_killed_mid_session_then_back(gateway: LiveEvim) -> None:
    """The server dies: the browser gets a clean stream error; once the supervisor has
    restarted Prosody, a new stream works."""
    pid_file = gateway.data_dir / "prosody" / "prosody.pid"

    async def script() -> None:
        session = logged_in(gateway, "jeanne")
        client, _jid = await start(gateway, session)
        old_pid = int(pid_file.read_text())
        os.kill(old_pid, signal.SIGKILL)
        ending = await client.receive_until("stream:error")
        assert "system-shutdown" in ending  # clients reconnect after it
        assert "<close" in await client.receive_until("<close")
        # Reconnect as Converse does, until the restarted server answers (bounded).
        for attempt in range(100):
            try:
                again, full_jid = await start(gateway, session)
            except AssertionError:
                await asyncio.sleep(0.1 * min(attempt + 1, 5))  # back-off between reconnections
                continue
            assert full_jid.startswith("jeanne@localhost/")
            assert int(pid_file.read_text()) != old_pid
            await again.connection.close()
            return
        pytest.fail("no working stream after Prosody was restarted")

    asyncio.run(script())


def test_losing_the_account_ends_the_stream_within_seconds(gateway: LiveEvim) -> None:
    async def script() -> None:
        client, _jid = await start(gateway, logged_in(gateway, "camille"))
        await asyncio.to_thread(gateway.evim, "accounts", "remove", "camille")
        ending = await client.receive_until("stream:error")  # within EVIM_GATEWAY_RECHECK_SECONDS
        # In the user's language (Camille reads the back office in French).
        assert "La messagerie s’est arrêtée : le compte Jabber a changé." in ending

    asyncio.run(script())
