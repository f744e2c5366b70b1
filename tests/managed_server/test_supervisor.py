"""ProsodySupervisor with a real Prosody: start, restart after kill -9, stop, failures."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from evim.managed_server.daemon import wait_for_exit
from evim.managed_server.errors import (
    PortInUseError,
    ProsodyCrashLoopError,
    ProsodyNotFoundError,
    ProsodyStartError,
)
from evim.managed_server.layout import ServerLayout
from evim.managed_server.ports import accepts_connections, port_is_free
from evim.managed_server.supervisor import ProsodySupervisor
from tests.fixtures.prosody import make_layout


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def accepts(layout: ServerLayout) -> bool:
    return await accepts_connections(
        layout.c2s_host, layout.c2s_port
    ) and await accepts_connections(layout.http_host, layout.http_port)


def test_start_restart_after_kill_and_clean_stop(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")

    async def scenario() -> None:
        supervisor = ProsodySupervisor(layout, restart_delay=0.05)
        await supervisor.start()
        try:
            first = supervisor.pid
            assert first is not None and supervisor.ready
            assert await accepts(layout)
            assert int(layout.pidfile.read_text()) == first
            assert supervisor.restart_count == 0

            os.kill(first, signal.SIGKILL)
            second = await supervisor.wait_restarted(after=0, timeout=15)

            assert second != first
            assert supervisor.restart_count == 1
            assert not process_exists(first)
            assert await accepts(layout)
        finally:
            await supervisor.stop()
        assert supervisor.pid is None and supervisor.stopped
        assert not process_exists(second)
        assert not await accepts_connections(layout.c2s_host, layout.c2s_port)
        assert port_is_free(layout.c2s_host, layout.c2s_port)
        await supervisor.wait()  # a clean stop is not a failure

    asyncio.run(scenario())


def test_gives_up_after_too_many_deaths(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")

    async def scenario() -> None:
        supervisor = ProsodySupervisor(layout, max_restarts=1, restart_delay=0.05)
        await supervisor.start()
        try:
            assert supervisor.pid is not None
            os.kill(supervisor.pid, signal.SIGKILL)
            pid = await supervisor.wait_restarted(after=0, timeout=15)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(ProsodyCrashLoopError, match="died 2 times"):
                await asyncio.wait_for(supervisor.wait(), 15)
            assert supervisor.stopped and supervisor.pid is None
            assert isinstance(supervisor.failure, ProsodyCrashLoopError)
            assert port_is_free(layout.c2s_host, layout.c2s_port)
        finally:
            await supervisor.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("program", ["/nonexistent/prosody", "evim-no-such-prosody"])
def test_missing_prosody_is_a_clear_error(tmp_path: Path, program: str) -> None:
    layout = make_layout(tmp_path / "prosody", prosody_bin=program)
    supervisor = ProsodySupervisor(layout)
    with pytest.raises(ProsodyNotFoundError) as caught:
        asyncio.run(supervisor.start())
    message = str(caught.value)
    assert program in message
    assert "sudo apt-get install prosody" in message
    assert "EVIM_PROSODY_BIN" in message
    assert "EVIM_XMPP_SERVER=external" in message
    assert supervisor.pid is None


@pytest.mark.parametrize(
    ("taken", "setting"), [("c2s_port", "EVIM_XMPP_C2S_PORT"), ("http_port", "EVIM_XMPP_HTTP_PORT")]
)
def test_port_taken_by_another_program(tmp_path: Path, taken: str, setting: str) -> None:
    layout = make_layout(tmp_path / "prosody")
    port = getattr(layout, taken)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        supervisor = ProsodySupervisor(layout)
        with pytest.raises(PortInUseError) as caught:
            asyncio.run(supervisor.start())
    assert f"port {port} " in str(caught.value)
    assert setting in str(caught.value)
    assert supervisor.pid is None
    assert not layout.pidfile.exists()


def test_prosody_dying_at_start_reports_its_last_words(tmp_path: Path) -> None:
    fake = tmp_path / "prosody"
    fake.write_text("#!/bin/sh\necho 'Error: cannot load mod_sparkles' >&2\nexit 3\n")
    fake.chmod(0o755)
    layout = make_layout(tmp_path / "instance", prosody_bin=str(fake))
    supervisor = ProsodySupervisor(layout)
    with pytest.raises(ProsodyStartError) as caught:
        asyncio.run(supervisor.start())
    assert "exited with code 3 while starting" in str(caught.value)
    assert "cannot load mod_sparkles" in str(caught.value)


def test_prosody_not_ready_in_time_is_stopped(tmp_path: Path) -> None:
    fake = tmp_path / "prosody"
    fake.write_text("#!/bin/sh\necho 'stuck'\nexec sleep 60\n")
    fake.chmod(0o755)
    layout = make_layout(tmp_path / "instance", prosody_bin=str(fake), start_timeout=0.5)

    async def scenario() -> None:
        supervisor = ProsodySupervisor(layout, stop_timeout=2)
        with pytest.raises(ProsodyStartError, match="did not accept connections") as caught:
            await supervisor.start()
        assert "stuck" in str(caught.value)
        assert supervisor.pid is None

    asyncio.run(scenario())


def test_prosody_does_not_outlive_a_killed_evim(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")
    program = (
        "import asyncio, sys\n"
        "from evim.managed_server.layout import ServerLayout\n"
        "from evim.managed_server.supervisor import ProsodySupervisor\n"
        "async def main():\n"
        "    supervisor = ProsodySupervisor(ServerLayout.from_json(sys.argv[1]))\n"
        "    await supervisor.start()\n"
        "    print(supervisor.pid, flush=True)\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    evim = subprocess.Popen(
        [sys.executable, "-c", program, layout.to_json()], stdout=subprocess.PIPE, text=True
    )
    try:
        assert evim.stdout is not None
        prosody_pid = int(evim.stdout.readline())
        assert process_exists(prosody_pid)
    finally:
        evim.kill()
        evim.wait()
    assert wait_for_exit(prosody_pid, 10), "Prosody survived its supervisor"
