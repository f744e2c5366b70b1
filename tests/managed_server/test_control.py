"""What ``evim run`` uses: run Prosody in-process, or reuse the one already running."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.managed_server.control import (
    ensure_running_in_process,
    managed_server_for_run,
    running_server,
)
from evim.managed_server.daemon import OWNER_IN_PROCESS, server_status, stop_daemon
from evim.managed_server.errors import ManagedServerError
from evim.managed_server.ports import accepts_connections, port_is_free
from tests.fixtures.prosody import free_ports, make_layout


def test_in_process_server_is_shared_and_released(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")

    async def scenario() -> None:
        async with running_server(layout) as supervisor:
            assert supervisor is not None and supervisor.ready
            status = server_status(layout)
            assert status.running and status.owner == OWNER_IN_PROCESS
            assert status.prosody_pid == supervisor.pid
            assert status.ready

            # A second user of the same directory reuses it instead of starting another.
            assert await ensure_running_in_process(layout) is None
            # 'evim xmpp stop' must not kill an 'evim run'.
            with pytest.raises(ManagedServerError, match="evim run"):
                stop_daemon(layout)
            # Same directory, other settings: refused, not silently mixed up.
            with pytest.raises(ManagedServerError, match="other settings"):
                await ensure_running_in_process(replace(layout, c2s_port=free_ports(1)[0]))
            assert await accepts_connections(layout.c2s_host, layout.c2s_port)
        assert not server_status(layout).running
        assert not layout.state_path.exists()
        assert port_is_free(layout.c2s_host, layout.c2s_port)

    asyncio.run(scenario())


def test_for_run_with_an_external_server_starts_nothing(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    settings.EVIM_XMPP_SERVER = "external"
    settings.EVIM_XMPP_HOST = "xmpp.example.org"
    settings.EVIM_DATA_DIR = tmp_path
    reports: list[str] = []

    async def scenario() -> None:
        async with managed_server_for_run(report=reports.append) as supervisor:
            assert supervisor is None

    asyncio.run(scenario())
    assert len(reports) == 1 and "external" in reports[0]
    assert "xmpp.example.org" in reports[0]
    assert not (tmp_path / "prosody").exists()


def test_for_run_starts_and_stops_the_managed_server(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    c2s_port, http_port = free_ports(2)
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_DATA_DIR = tmp_path
    settings.EVIM_XMPP_HOST = "127.0.0.1"
    settings.EVIM_XMPP_C2S_PORT = c2s_port
    settings.EVIM_XMPP_HTTP_PORT = http_port
    reports: list[str] = []

    async def scenario() -> None:
        async with managed_server_for_run(report=reports.append) as supervisor:
            assert supervisor is not None
            assert await accepts_connections("127.0.0.1", c2s_port)
        assert supervisor.stopped

    asyncio.run(scenario())
    assert "started the managed Prosody" in reports[0]
    assert f"127.0.0.1:{c2s_port}" in reports[0]
    assert port_is_free("127.0.0.1", c2s_port)
