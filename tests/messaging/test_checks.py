"""Prosody is required only when messaging is enabled on the managed server."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.processes import evim_environment, run_evim

ENABLED = "all:\n  messaging:\n    enable: true\n"


def test_without_messaging_evim_starts_without_prosody(tmp_path: Path) -> None:
    environment = evim_environment(tmp_path, EVIM_PROSODY_BIN="/nonexistent/prosody")
    result = run_evim("check", environment=environment, check=False)
    assert result.returncode == 0, result.stderr
    assert "managed_server.E001" not in result.stderr


def test_with_messaging_a_missing_prosody_stops_evim(tmp_path: Path) -> None:
    (tmp_path / "project.yml").write_text(ENABLED)
    environment = evim_environment(tmp_path, EVIM_PROSODY_BIN="/nonexistent/prosody")
    result = run_evim("check", environment=environment, check=False)
    assert result.returncode != 0
    assert "managed_server.E001" in result.stderr
    assert "apt-get install prosody" in result.stderr


def test_an_external_server_needs_no_prosody(tmp_path: Path) -> None:
    (tmp_path / "project.yml").write_text(ENABLED)
    environment = evim_environment(
        tmp_path, EVIM_PROSODY_BIN="/nonexistent/prosody", EVIM_XMPP_SERVER="external"
    )
    assert run_evim("check", environment=environment, check=False).returncode == 0
