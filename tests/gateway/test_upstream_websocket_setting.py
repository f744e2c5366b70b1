"""The service settings' “WebSocket upstream”: with an external server, the gateway logs
the main host's accounts in through that server's XMPP WebSocket instead of TCP (here the
session's Prosody plays the external server)."""

from __future__ import annotations

import asyncio

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.gateway import hooks as gateway_hooks
from evim.gateway.relay import StreamOwner
from evim.gateway.upstream import UpstreamError
from evim.gateway.upstream.tcp import TcpUpstream
from evim.gateway.upstream.websocket import WebSocketUpstream
from evim.service import current
from evim.service.models import StoredOption
from tests.fixtures.prosody import RunningProsody, free_ports
from tests.gateway.test_upstream_websocket import bind


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
    jid = managed_prosody.register("ws-upstream", "upstream-secret")
    return StreamOwner(user_id=1, session_key="session", jid=jid)


def upstream_url(url: str) -> None:
    StoredOption.objects.update_or_create(name="websocket_url", defaults={"value": url})
    current.forget()


def test_the_websocket_upstream_is_used_when_set(
    external: StreamOwner, managed_prosody: RunningProsody
) -> None:
    async def log_in() -> type:
        upstream = await gateway_hooks.log_in_upstream(external, password="upstream-secret")
        try:
            assert (await bind(upstream)).startswith(f"{external.jid}/")
            return type(upstream)
        finally:
            await upstream.close()

    assert asyncio.run(log_in()) is TcpUpstream
    upstream_url(managed_prosody.websocket_url)
    assert asyncio.run(log_in()) is WebSocketUpstream

    # Nothing listens there: the failure names the address, proving it is the one used.
    port = free_ports(1)[0]
    upstream_url(f"ws://127.0.0.1:{port}/xmpp-websocket")
    with pytest.raises(UpstreamError) as failure:
        asyncio.run(log_in())
    assert f"ws://127.0.0.1:{port}/xmpp-websocket" in failure.value.detail


def test_other_domains_keep_tcp(
    external: StreamOwner, managed_prosody: RunningProsody, settings: SettingsWrapper
) -> None:
    upstream_url(f"ws://127.0.0.1:{free_ports(1)[0]}/xmpp-websocket")
    settings.EVIM_XMPP_DOMAIN = "elsewhere.example"  # the account is not the main host's
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = (
        f"{managed_prosody.domain}={managed_prosody.c2s_host}:{managed_prosody.c2s_port}"
    )

    async def log_in() -> type:
        upstream = await gateway_hooks.log_in_upstream(external, password="upstream-secret")
        await upstream.close()
        return type(upstream)

    assert asyncio.run(log_in()) is TcpUpstream
