"""System checks xmpp.E001 (address overrides) and xmpp.E002 (CA file)."""

from __future__ import annotations

from pathlib import Path

from pytest_django.fixtures import Settings as SettingsWrapper

from evim.xmpp.checks import check_xmpp_settings
from tests.fixtures.prosody import RunningProsody


def test_valid_settings_pass(settings: SettingsWrapper, managed_prosody: RunningProsody) -> None:
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = "a.test=h:5222,b.test=[::1]:5223/direct-tls"
    settings.EVIM_XMPP_CA_FILE = str(managed_prosody.layout.certificate_path)
    assert check_xmpp_settings(None) == []
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = ""
    settings.EVIM_XMPP_CA_FILE = ""
    assert check_xmpp_settings(None) == []


def test_bad_overrides_are_e001(settings: SettingsWrapper) -> None:
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = "a.test=h:5222,x.example=host"
    settings.EVIM_XMPP_CA_FILE = ""
    messages = check_xmpp_settings(None)
    assert [message.id for message in messages] == ["xmpp.E001"]
    assert messages[0].msg == (
        "EVIM_XMPP_ADDRESS_OVERRIDES: 'x.example=host' has no port; "
        "expected domain=host:port or domain=host:port/direct-tls"
    )
    assert messages[0].hint


def test_ca_file_missing_or_not_pem_is_e002(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = ""
    settings.EVIM_XMPP_CA_FILE = str(tmp_path / "missing.pem")
    messages = check_xmpp_settings(None)
    assert [message.id for message in messages] == ["xmpp.E002"]
    assert "No such file" in messages[0].msg
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    settings.EVIM_XMPP_CA_FILE = str(not_pem)
    messages = check_xmpp_settings(None)
    assert [message.id for message in messages] == ["xmpp.E002"]
    assert "not a PEM certificate bundle" in messages[0].msg
    settings.EVIM_XMPP_CA_FILE = str(tmp_path)
    assert [message.id for message in check_xmpp_settings(None)] == ["xmpp.E002"]


def test_both_problems_are_reported(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = "nonsense"
    settings.EVIM_XMPP_CA_FILE = str(tmp_path / "missing.pem")
    assert [message.id for message in check_xmpp_settings(None)] == ["xmpp.E001", "xmpp.E002"]
