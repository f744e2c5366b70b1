"""``evim xmpp start|status|stop`` end to end, as separate processes."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from pathlib import Path

from evim.managed_server.daemon import wait_for_exit
from evim.managed_server.ports import accepts_connections, port_is_free
from tests.fixtures.processes import evim_environment, run_evim
from tests.fixtures.prosody import free_ports


def pid_of(output: str, name: str) -> int:
    match = re.search(rf"{name} pid:\s+(\d+)", output)
    assert match, output
    return int(match.group(1))


def run_together(
    *commands: tuple[str, ...], environment: dict[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``evim`` commands at the same time (each one starts Python and Django)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "evim", *command],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    results = []
    for command, process in zip(commands, processes, strict=True):
        stdout, stderr = process.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return results


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The last line of stderr: where ``evim: error: …`` is."""
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def test_start_status_stop(tmp_path: Path) -> None:
    c2s_port, http_port = free_ports(2)
    environment = evim_environment(
        tmp_path,
        EVIM_XMPP_DOMAIN="cli.test",
        EVIM_XMPP_C2S_PORT=str(c2s_port),
        EVIM_XMPP_HTTP_PORT=str(http_port),
    )

    started = run_evim("xmpp", "start", environment=environment, check=False)
    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout
    assert f"127.0.0.1:{c2s_port}" in started.stdout
    assert f"ws://127.0.0.1:{http_port}/xmpp-websocket" in started.stdout
    try:
        assert asyncio.run(accepts_connections("127.0.0.1", c2s_port))
        status, again = run_together(("xmpp", "status"), ("xmpp", "start"), environment=environment)
        assert status.returncode == 0, status.stderr
        assert "running" in status.stdout and "cli.test" in status.stdout
        supervisor_pid = pid_of(status.stdout, "supervisor")
        prosody_pid = pid_of(status.stdout, "prosody")
        assert b"prosody" in Path(f"/proc/{prosody_pid}/cmdline").read_bytes()
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout
        assert pid_of(again.stdout, "prosody") == prosody_pid
    finally:
        stop = run_evim("xmpp", "stop", environment=environment, check=False)
    assert stop.returncode == 0, stop.stderr
    assert "stopped" in stop.stdout
    assert wait_for_exit(supervisor_pid, 0) and wait_for_exit(prosody_pid, 0)
    assert port_is_free("127.0.0.1", c2s_port)
    assert not (tmp_path / "prosody" / "supervisor.json").exists()
    assert "Prosody" in (tmp_path / "prosody" / "supervisor.log").read_text()

    after, not_running = run_together(("xmpp", "status"), ("xmpp", "stop"), environment=environment)
    assert after.returncode == 3, after.stderr
    assert "stopped" in after.stdout
    assert not_running.returncode == 0, not_running.stderr
    assert "not running" in not_running.stdout


def test_start_failures_are_one_clear_line(tmp_path: Path) -> None:
    c2s_port, http_port = free_ports(2)
    base = {"EVIM_XMPP_C2S_PORT": str(c2s_port), "EVIM_XMPP_HTTP_PORT": str(http_port)}
    missing = evim_environment(tmp_path / "a", EVIM_PROSODY_BIN="/nonexistent/prosody", **base)
    taken = evim_environment(tmp_path / "b", **base)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", c2s_port))
        squatter.listen()
        (missing_result,) = run_together(("xmpp", "start"), environment=missing)
        taken_result, taken_status = run_together(
            ("xmpp", "start"), ("xmpp", "status"), environment=taken
        )
    assert missing_result.returncode == 2
    assert error_line(missing_result).startswith(
        "evim: error: the Prosody program '/nonexistent/prosody' was not found"
    )
    assert "sudo apt-get install prosody" in error_line(missing_result)
    assert taken_result.returncode == 2
    assert error_line(taken_result).startswith(
        f"evim: error: port {c2s_port} on 127.0.0.1 is already in use"
    )
    assert "EVIM_XMPP_C2S_PORT" in error_line(taken_result)
    assert "Traceback" not in missing_result.stderr + taken_result.stderr
    assert taken_status.returncode == 3


def test_external_server_starts_nothing(tmp_path: Path) -> None:
    c2s_port, http_port = free_ports(2)
    environment = evim_environment(
        tmp_path,
        EVIM_XMPP_SERVER="external",
        EVIM_XMPP_DOMAIN="example.org",
        EVIM_XMPP_HOST="xmpp.example.org",
        EVIM_XMPP_C2S_PORT=str(c2s_port),
        EVIM_XMPP_HTTP_PORT=str(http_port),
    )
    results = run_together(
        ("xmpp", "start"), ("xmpp", "status"), ("xmpp", "stop"), environment=environment
    )
    assert [result.returncode for result in results] == [0, 0, 0]
    outputs = [result.stdout for result in results]
    for output in outputs:
        assert "external" in output
    assert f"xmpp.example.org:{c2s_port}" in outputs[1]
    assert not (tmp_path / "prosody").exists()
    assert port_is_free("127.0.0.1", c2s_port)
