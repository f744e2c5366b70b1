"""The managed_server.* system checks."""

from __future__ import annotations

from pathlib import Path

from pytest_django.fixtures import Settings as SettingsWrapper

from evim.managed_server.checks import check_managed_server, check_prosody_installed


def ids(settings: SettingsWrapper) -> list[str]:
    return [message.id or "" for message in check_managed_server()]


def test_a_sound_configuration_passes(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_DATA_DIR = tmp_path
    settings.EVIM_XMPP_C2S_PORT, settings.EVIM_XMPP_HTTP_PORT = 5222, 5280
    assert ids(settings) == []


def test_missing_prosody(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_DATA_DIR = tmp_path
    settings.EVIM_PROSODY_BIN = "/nonexistent/prosody"
    messages = check_prosody_installed()
    assert [message.id for message in messages] == ["managed_server.E001"]
    assert "apt-get install prosody" in (messages[0].hint or "")


def test_same_ports(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_DATA_DIR = tmp_path
    settings.EVIM_XMPP_C2S_PORT = settings.EVIM_XMPP_HTTP_PORT = 5222
    assert ids(settings) == ["managed_server.E002"]


def test_unwritable_data_directory(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.EVIM_XMPP_SERVER = "managed"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.EVIM_DATA_DIR = blocker / "evim"  # under a file: cannot be created
    assert ids(settings) == ["managed_server.W001"]


def test_overlong_admin_socket_path(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_DATA_DIR = tmp_path / ("d" * 120)
    assert ids(settings) == ["managed_server.W003"]


def test_nothing_is_checked_for_an_external_server(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    settings.EVIM_XMPP_SERVER = "external"
    settings.EVIM_PROSODY_BIN = "/nonexistent/prosody"
    settings.EVIM_XMPP_C2S_PORT = settings.EVIM_XMPP_HTTP_PORT = 5222
    assert ids(settings) == []
