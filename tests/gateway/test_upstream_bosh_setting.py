"""The service settings' “BOSH upstream”: with an external server, the gateway logs the main
host's accounts in through that server's BOSH endpoint (here the session's Prosody plays the
external server), and a browser's stream through the relay works over it."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from dataclasses import dataclass, field

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.gateway import hooks as gateway_hooks
from evim.gateway.relay import Relay, RelayHooks, RelayLimits, StreamOwner
from evim.gateway.upstream import AuthenticatedUpstream, UpstreamError
from evim.gateway.upstream.bosh import BoshUpstream
from evim.gateway.upstream.tcp import TcpUpstream
from evim.gateway.upstream.websocket import WebSocketUpstream
from evim.service import current
from evim.service.models import StoredOption
from tests.fixtures.prosody import RunningProsody, free_ports
from tests.gateway.test_upstream_tcp import start_tag
from tests.gateway.test_upstream_websocket import TIMEOUT, bind, receive_until, upstream_for

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
PASSWORD = "bosh-upstream-secret"


@pytest.fixture
def external(
    managed_prosody: RunningProsody, settings: SettingsWrapper, transactional_db: None
) -> StreamOwner:
    """evim on an external server: the session's Prosody (its database committed: the
    gateway reads the service settings in a thread of its own)."""
    settings.EVIM_XMPP_SERVER = "external"
    settings.EVIM_XMPP_DOMAIN = managed_prosody.domain
    settings.EVIM_XMPP_HOST = managed_prosody.c2s_host
    settings.EVIM_XMPP_C2S_PORT = managed_prosody.c2s_port
    settings.EVIM_XMPP_CA_FILE = str(managed_prosody.layout.certificate_path)
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = ""
    settings.EVIM_XMPP_TIMEOUT = 10
    jid = managed_prosody.register("bosh-upstream", PASSWORD)
    return StreamOwner(user_id=1, session_key="session", jid=jid, language="en")


def store(**values: str) -> None:
    for name, value in values.items():
        StoredOption.objects.update_or_create(name=name, defaults={"value": value})
    current.forget()


def test_the_bosh_upstream_is_used_when_set(
    external: StreamOwner, managed_prosody: RunningProsody
) -> None:
    async def log_in() -> type:
        upstream = await gateway_hooks.log_in_upstream(external, password=PASSWORD)
        try:
            assert (await bind(upstream)).startswith(f"{external.jid}/")
            return type(upstream)
        finally:
            await upstream.close()

    assert asyncio.run(log_in()) is TcpUpstream
    store(bosh_url=managed_prosody.bosh_url)
    assert asyncio.run(log_in()) is BoshUpstream
    # Both stored (the settings page refuses it): the WebSocket wins.
    store(websocket_url=managed_prosody.websocket_url)
    assert asyncio.run(log_in()) is WebSocketUpstream
    store(websocket_url="")

    # The server gone: nothing listens there, and the failure names the address used.
    url = f"http://127.0.0.1:{free_ports(1)[0]}/http-bind"
    store(bosh_url=url)
    with pytest.raises(UpstreamError) as failure:
        asyncio.run(log_in())
    assert failure.value.condition == "remote-connection-failed"
    assert url in failure.value.detail


@dataclass
class Browser:
    """The browser's side of a gateway stream: what it sends, what it is sent."""

    to_gateway: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    from_gateway: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    closed: bool = False

    async def receive(self) -> str | None:
        return await self.to_gateway.get()

    async def send(self, frame: str) -> None:
        self.from_gateway.put_nowait(frame)

    async def close(self) -> None:
        self.closed = True

    async def until(self, pattern: str) -> str:
        while True:
            frame = await asyncio.wait_for(self.from_gateway.get(), TIMEOUT)
            if re.search(pattern, frame):
                return frame


def relay_for(owner: StreamOwner, browser: Browser) -> Relay:
    async def redeem(token: str) -> bool:
        return token == "the-token"

    async def connect(token: str) -> AuthenticatedUpstream:
        # What the gateway does with the stored password (hooks.connect_upstream_for).
        return await gateway_hooks.log_in_upstream(owner, password=owner_password[owner.jid])

    limits = RelayLimits(max_stanza_bytes=262144, frames_per_second=50, frame_burst=100)
    return Relay(browser, owner, hooks=RelayHooks(redeem, connect), limits=limits)


owner_password: dict[str, str] = {}


def browser_auth(owner: StreamOwner) -> str:
    payload = base64.b64encode(f"\0{owner.localpart}\0the-token".encode()).decode()
    return f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"


def test_a_browser_stream_reaches_the_server_over_bosh(
    external: StreamOwner, managed_prosody: RunningProsody
) -> None:
    colleague = managed_prosody.register("bosh-colleague", "colleague-secret")
    store(bosh_url=managed_prosody.bosh_url)
    owner_password[external.jid] = PASSWORD
    opening = f"<open xmlns='{FRAMING}' to='{managed_prosody.domain}' version='1.0'/>"

    async def scenario() -> None:
        browser = Browser()
        relay = relay_for(external, browser)
        running = asyncio.create_task(relay.run())
        other = await upstream_for(managed_prosody, colleague, "colleague-secret")
        try:
            other_jid = await bind(other)
            for frame in (opening, browser_auth(external), opening):
                browser.to_gateway.put_nowait(frame)
            assert "<success" in await browser.until("<success|<failure")
            features = await browser.until("<stream:features")
            assert "urn:ietf:params:xml:ns:xmpp-bind" in features
            assert "urn:xmpp:sm:" not in features  # not over BOSH
            assert isinstance(relay.upstream, BoshUpstream)
            browser.to_gateway.put_nowait(
                "<iq xmlns='jabber:client' type='set' id='b1'>"
                "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
            )
            bound = await browser.until("id='b1'")
            found = re.search(r"<jid>([^<]+)</jid>", bound)
            assert found is not None, bound
            my_jid = found.group(1)

            browser.to_gateway.put_nowait(
                f"<message xmlns='jabber:client' to='{other_jid}' type='chat' id='c1'>"
                "<body>Bonjour par BOSH</body></message>"
            )
            received = await receive_until(other, "id='c1'")
            assert "Bonjour par BOSH" in received and f"from='{my_jid}'" in received
            await other.send(
                f"<message xmlns='jabber:client' to='{my_jid}' type='chat' id='c2'>"
                "<body>Bien reçu</body></message>"
            )
            answer = await browser.until("id='c2'")
            assert "Bien reçu" in answer and "xmlns='jabber:client'" in start_tag(answer)

            browser.to_gateway.put_nowait(f"<close xmlns='{FRAMING}'/>")
            assert (await browser.until("<close")).startswith("<close")
            await asyncio.wait_for(running, TIMEOUT)
            assert browser.closed
        finally:
            running.cancel()
            await other.close()

    asyncio.run(scenario())


def test_a_wrong_stored_password_is_refused_and_never_logged(
    external: StreamOwner, managed_prosody: RunningProsody, caplog: pytest.LogCaptureFixture
) -> None:
    store(bosh_url=managed_prosody.bosh_url)
    owner_password[external.jid] = "a-wrong-stored-password-7"
    caplog.set_level(logging.DEBUG)
    opening = f"<open xmlns='{FRAMING}' to='{managed_prosody.domain}' version='1.0'/>"

    async def scenario() -> None:
        browser = Browser()
        relay = relay_for(external, browser)
        for frame in (opening, browser_auth(external)):
            browser.to_gateway.put_nowait(frame)
        await asyncio.wait_for(relay.run(), TIMEOUT)
        failure = await browser.until("<failure")
        assert "temporary-auth-failure" in failure
        assert "refused the stored password" in failure

    asyncio.run(scenario())
    assert "the server refused the credentials" in caplog.text  # the gateway's log line
    assert "a-wrong-stored-password-7" not in caplog.text
