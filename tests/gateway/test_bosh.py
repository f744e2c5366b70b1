"""The gateway over BOSH (XEP-0124, XEP-0206) end to end: a real evim with its managed
Prosody, a tiny BOSH client over HTTP, and a colleague on the WebSocket gateway.

Read each test as a script: who connects, what they send, what they get."""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import re
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures.http_session import BackOfficeSession
from tests.fixtures.live_evim import LiveEvim, running_evim
from tests.gateway.test_gateway_websocket import logged_in, start
from tests.gateway.xmpp_over_websocket import WebSocketXmpp, open_gateway

HTTPBIND = "http://jabber.org/protocol/httpbind"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
WAIT = 10  # seconds the gateway may hold a request
DEADLINE = 30  # seconds a test waits for an expected stanza


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    with running_evim(tmp_path_factory.mktemp("bosh")) as instance:
        instance.evim("accounts", "provision", "camille", "jeanne")  # oliver has none
        yield instance


@dataclass
class Bosh:
    """What a browser's Strophe.js says over BOSH, one request at a time."""

    base_url: str
    cookie: str
    origin: str | None
    rid: int = field(default_factory=lambda: 1_000_000 + secrets.randbelow(1_000_000))
    sid: str | None = None
    created: str = ""  # the session creation's response

    def post(self, data: str, *, method: str = "POST") -> tuple[int, str]:
        parts = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(parts.netloc, timeout=WAIT + 20)
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.origin is not None:
            headers["Origin"] = self.origin
        try:
            connection.request(method, "/http-bind", body=data.encode(), headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def body(
        self, payload: str = "", attributes: dict[str, str] | None = None, rid: int | None = None
    ) -> str:
        """A ``<body/>`` with the next rid (or ``rid``) and this session's sid; attribute names
        with ``_`` for ``:`` (``xmpp_restart``)."""
        if rid is None:
            self.rid += 1
            rid = self.rid
        attributes = dict(attributes or {})
        if self.sid is not None:
            attributes.setdefault("sid", self.sid)
        rendered = "".join(
            f" {key.replace('_', ':')}='{value}'" for key, value in attributes.items()
        )
        return (
            f"<body rid='{rid}' xmlns='{HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'{rendered}>"
            f"{payload}</body>"
        )

    def send(self, payload: str = "", **attributes: str) -> str:
        status, text = self.post(self.body(payload, attributes))
        assert status == 200, (status, text)
        return text

    def create(self) -> str:
        status, text = self.post(
            self.body(
                attributes={
                    "to": "localhost",
                    "wait": str(WAIT),
                    "hold": "1",
                    "ver": "1.6",
                    "xmpp_version": "1.0",
                }
            )
        )
        assert status == 200, (status, text)
        match = re.search(r"sid='([^']+)'", text)
        assert match, text
        self.sid = match.group(1)
        self.created = text
        return text

    def receive_until(self, pattern: str) -> str:
        """Empty requests (long polls) until a response matches ``pattern``."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            text = self.send()
            if re.search(pattern, text):
                return text
            assert "type='terminate'" not in text, text
        raise AssertionError(f"nothing matching {pattern!r} within {DEADLINE} s")

    def authenticate(self, username: str, token: str) -> str:
        payload = base64.b64encode(f"\0{username}\0{token}".encode()).decode()
        text = self.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{payload}</auth>")
        return (
            text
            if re.search("<success|<failure", text)
            else self.receive_until("<success|<failure")
        )


def bosh_for(gateway: LiveEvim, session: BackOfficeSession) -> Bosh:
    return Bosh(gateway.url, cookie=session.cookie_header, origin=gateway.url)


def test_a_bosh_user_chats_with_a_websocket_user(gateway: LiveEvim) -> None:
    async def script() -> None:
        camille, camille_jid = await start(gateway, logged_in(gateway, "camille"))
        session = logged_in(gateway, "jeanne")
        token = session.credentials()["password"]
        jeanne = bosh_for(gateway, session)

        created = await asyncio.to_thread(jeanne.create)
        assert "from='localhost'" in created and "xmpp:restartlogic='true'" in created
        assert "<mechanism>PLAIN</mechanism>" in created, created
        assert "<success" in await asyncio.to_thread(jeanne.authenticate, "jeanne", token)
        restarted = await asyncio.to_thread(jeanne.send, xmpp_restart="true")
        assert "urn:ietf:params:xml:ns:xmpp-bind" in restarted, restarted
        bind = "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
        bound = await asyncio.to_thread(jeanne.send, bind)
        if "<jid>" not in bound:
            bound = await asyncio.to_thread(jeanne.receive_until, "<jid>")
        match = re.search(r"<jid>(jeanne@localhost/[^<]+)</jid>", bound)
        assert match, bound
        # A retried request (same rid) gets the very same response again.
        status, again = await asyncio.to_thread(jeanne.post, jeanne.body(bind, rid=jeanne.rid))
        assert (status, again) == (200, bound)
        await asyncio.to_thread(jeanne.send, "<presence/>")

        # Jeanne (BOSH) writes to Camille (WebSocket).
        await asyncio.to_thread(
            jeanne.send,
            "<message to='camille@localhost' type='chat' id='b1'>"
            "<body>Bonjour Camille, par BOSH</body></message>",
        )
        received = await camille.receive_until("<message")
        assert "Bonjour Camille, par BOSH" in received
        assert f"from='{match.group(1)}'" in received or f'from="{match.group(1)}"' in received

        # Camille answers while Jeanne's long poll is waiting.
        poll = asyncio.create_task(asyncio.to_thread(jeanne.receive_until, "Merci Jeanne"))
        await camille.send(
            f"<message xmlns='jabber:client' to='{match.group(1)}' type='chat' id='w1'>"
            "<body>Merci Jeanne</body></message>"
        )
        answer = await poll
        assert f"from='{camille_jid}'" in answer or f'from="{camille_jid}"' in answer

        # Jeanne ends her session: it is gone.
        ended = await asyncio.to_thread(
            jeanne.send, "<presence type='unavailable'/>", type="terminate"
        )
        assert "type='terminate'" in ended and "condition=" not in ended, ended
        gone = await asyncio.to_thread(jeanne.send)
        assert "type='terminate'" in gone and "condition='item-not-found'" in gone
        await camille.connection.close()

    asyncio.run(script())


def test_a_spent_token_fails_over_bosh(gateway: LiveEvim) -> None:
    session = logged_in(gateway, "jeanne")
    token = session.credentials()["password"]
    first, second = bosh_for(gateway, session), bosh_for(gateway, session)
    first.create()
    assert "<success" in first.authenticate("jeanne", token)
    second.create()
    refused = second.authenticate("jeanne", token)
    assert "<failure" in refused and "not-authorized" in refused, refused
    ended = refused if "type='terminate'" in refused else second.send()
    assert "type='terminate'" in ended, ended
    first.send(type="terminate")


@pytest.mark.parametrize(
    ("who", "origin", "method", "status"),
    [
        ("jeanne", "http://evil.example", "POST", 403),  # a foreign page
        (None, "same", "POST", 403),  # not logged in
        ("oliver", "same", "POST", 403),  # logged in, no Jabber account
        ("jeanne", "same", "GET", 405),
        ("jeanne", "same", "OPTIONS", 405),
    ],
)
def test_bosh_requests_refused(
    gateway: LiveEvim, who: str | None, origin: str, method: str, status: int
) -> None:
    cookie = logged_in(gateway, who).cookie_header if who else ""
    client = Bosh(gateway.url, cookie=cookie, origin=gateway.url if origin == "same" else origin)
    answer, text = client.post(
        client.body(attributes={"to": "localhost", "wait": str(WAIT)}), method=method
    )
    assert answer == status, (answer, text)
    assert "sid=" not in text


def test_unknown_sids_and_rids_outside_the_window_end_the_session(gateway: LiveEvim) -> None:
    session = logged_in(gateway, "jeanne")
    client = bosh_for(gateway, session)
    client.sid = "no-such-session"
    assert "condition='item-not-found'" in client.send()
    client.sid = None
    client.create()
    client.rid += 10  # far ahead of the window
    assert "condition='item-not-found'" in client.send()
    client.rid -= 10
    assert "condition='item-not-found'" in client.send()  # the session is gone


def test_bad_xml_is_refused(gateway: LiveEvim) -> None:
    session = logged_in(gateway, "jeanne")
    client = bosh_for(gateway, session)
    bomb = (
        "<?xml version='1.0'?><!DOCTYPE body [<!ENTITY a 'aaaaaaaa'>]>"
        f"<body rid='1' xmlns='{HTTPBIND}' to='localhost'>&a;</body>"
    )
    status, text = client.post(bomb)
    assert status == 400 and "condition='bad-request'" in text, (status, text)


def bound_bosh(gateway: LiveEvim, session: BackOfficeSession) -> Bosh:
    """A BOSH session authenticated with a fresh token and bound, as Converse leaves it."""
    client = bosh_for(gateway, session)
    client.create()
    assert "<success" in client.authenticate("jeanne", session.credentials()["password"])
    client.send(xmpp_restart="true")
    bind = "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
    bound = client.send(bind)
    if "<jid>" not in bound:
        bound = client.receive_until("<jid>")
    return client


def ended_with(client: Bosh, condition: str) -> str:
    """Polls until the gateway terminates the session; its response names ``condition``."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        text = client.send()
        if "type='terminate'" in text:
            assert condition in text, text
            return text
    raise AssertionError(f"the BOSH session did not end within {DEADLINE} s")


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        (
            "<message to='camille@localhost'><body>" + "x" * 300_000 + "</body></message>",
            "policy-violation",
        ),
        # The whole request is then not XML: the session's own rid and sid still end it.
        ("<message to='camille@localhost'><body>unclosed</message>", "not-well-formed"),
    ],
    ids=["too-large", "malformed"],
)
def test_bad_stanzas_end_the_bosh_session_with_the_right_error(
    gateway: LiveEvim, payload: str, condition: str
) -> None:
    client = bound_bosh(gateway, logged_in(gateway, "jeanne"))
    status, text = client.post(client.body(payload))
    if status == 200 and "type='terminate'" in text:
        assert condition in text, text
    else:
        ended_with(client, condition)
    assert "condition='item-not-found'" in client.send()  # nothing left of the session


def prosody_pid(pid_file: Path) -> int:
    """The managed Prosody's pid; 0 while its supervisor restarts it (no file yet)."""
    try:
        return int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return 0


def test_prosody_killed_mid_bosh_session_then_back(gateway: LiveEvim) -> None:
    """The server dies: the BOSH client is told the remote connection failed; once the
    supervisor has restarted Prosody, a new session works.  (Last in this module: it
    restarts the module's Prosody.)"""
    pid_file = gateway.data_dir / "prosody" / "prosody.pid"
    session = logged_in(gateway, "jeanne")
    client = bound_bosh(gateway, session)
    old_pid = int(pid_file.read_text())
    os.kill(old_pid, signal.SIGKILL)
    ended_with(client, "system-shutdown")  # clients reconnect after it
    deadline = time.monotonic() + DEADLINE
    while prosody_pid(pid_file) in (0, old_pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # the supervisor's restart, observed through its pid file
    for _attempt in range(50):
        try:
            again = bound_bosh(gateway, session)
        except AssertionError:  # not ready yet: reconnect, as Converse does
            time.sleep(0.2)
            continue
        again.send(type="terminate")
        return
    pytest.fail("no working BOSH session after Prosody was restarted")


def bosh_sessions_open(gateway: LiveEvim) -> int:
    _status, text, _headers = BackOfficeSession(gateway.url).get("/metrics")
    found = re.search(r'evim_gateway_sessions_open\{transport="bosh"\} (-?\d+)', text)
    assert found, text
    return int(found.group(1))


def test_an_idle_bosh_session_ends_and_stays_resumable(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A browser that stops polling (its page went away) loses its BOSH session after
    EVIM_GATEWAY_BOSH_INACTIVITY_SECONDS, as a page left over WebSocket: the server keeps
    the XMPP session, which the next page resumes."""
    with running_evim(
        tmp_path_factory.mktemp("bosh-idle"), {"EVIM_GATEWAY_BOSH_INACTIVITY_SECONDS": "2"}
    ) as instance:
        instance.evim("accounts", "provision", "jeanne")
        session = logged_in(instance, "jeanne")
        jeanne = bound_bosh(instance, session)
        assert "inactivity='2'" in jeanne.created, jeanne.created
        enabled = jeanne.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        if "<enabled" not in enabled:
            enabled = jeanne.receive_until("<enabled")
        previd = re.search(r"""id=['"]([^'"]+)['"]""", enabled)
        assert previd, enabled
        assert bosh_sessions_open(instance) == 1

        # No more requests: the gateway ends the session by itself.
        deadline = time.monotonic() + DEADLINE
        while bosh_sessions_open(instance) and time.monotonic() < deadline:
            time.sleep(0.2)  # polling /metrics, the condition awaited
        assert bosh_sessions_open(instance) == 0
        assert "condition='item-not-found'" in jeanne.send()

        async def next_page() -> None:
            client = WebSocketXmpp(
                await open_gateway(instance.url, cookie=session.cookie_header, origin=instance.url),
                domain="localhost",
            )
            credentials = session.credentials()
            assert "<success" in await client.authenticate("jeanne", credentials["password"])
            await client.open()
            await client.send(f"<resume xmlns='urn:xmpp:sm:3' previd='{previd.group(1)}' h='0'/>")
            assert "<resumed" in await client.receive_until("<resumed|<failed")
            await client.connection.close()

        asyncio.run(next_page())
