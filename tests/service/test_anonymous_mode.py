"""The service's anonymous mode and anonymous host on the settings page: validated, stored,
and what the managed server's layout gets from them (the guests' host only while on)."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import User
from evim.managed_server.layout import SERVER_OPTIONS, ServerLayout, service_layout_values
from evim.service.current import service
from tests.fixtures.users import client_for
from tests.service.test_settings_page import URL, form_values


def test_anonymous_host_is_a_host_name_of_its_own(
    camille: User, messaging_enabled: Path, settings: SettingsWrapper
) -> None:
    settings.EVIM_XMPP_DOMAIN = "lilas.example"
    settings.EVIM_XMPP_MUC_HOST = "conference.lilas.example"
    assert service().anonymous_mode is False
    assert service().anonymous_host == "guest.lilas.example"
    client = client_for(in_english(camille))
    for bad, why in [
        ("conference.lilas.example", "already the server&#x27;s EVIM_XMPP_MUC_HOST"),
        ("lilas.example", "already the server&#x27;s EVIM_XMPP_DOMAIN"),
        ("guest lilas", "is not a host name"),
        ("invités.lilas.example", "is not a host name"),
        ("localhost", "is not a host name"),
    ]:
        page = client.post(URL, form_values(anonymous_host=bad)).content.decode()
        assert why in page, bad
        assert service().anonymous_host == "guest.lilas.example"
    client.post(URL, form_values(anonymous_mode=True, anonymous_host="Visiteurs.Lilas.Example."))
    assert service().anonymous_mode is True
    assert service().anonymous_host == "visiteurs.lilas.example"


def test_the_managed_server_has_the_anonymous_host_only_in_anonymous_mode(
    camille: User, messaging_enabled: Path, settings: SettingsWrapper, tmp_path: Path
) -> None:
    settings.EVIM_DATA_DIR = tmp_path
    assert {"anonymous_mode", "anonymous_host"} <= SERVER_OPTIONS
    assert service_layout_values(service())["anonymous_host"] is None
    client_for(camille).post(URL, form_values(anonymous_mode=True))
    values = service_layout_values(service())
    assert values["anonymous_host"] == f"guest.{settings.EVIM_XMPP_DOMAIN}"
    layout = ServerLayout.from_settings().with_service_settings()
    assert layout.anonymous_host == f"guest.{settings.EVIM_XMPP_DOMAIN}"


def in_english(camille: User) -> User:
    """camille reads the back office in English for these messages."""
    camille.language = "en"
    camille.save(update_fields=["language"])
    return camille


def test_not_available_with_an_external_server(
    camille: User, messaging_enabled: Path, settings: SettingsWrapper
) -> None:
    settings.EVIM_XMPP_SERVER = "external"
    client_for(camille).post(URL, form_values(anonymous_mode=True))
    assert service().anonymous_mode is False
    page = client_for(camille).get(URL).content.decode()
    assert re_field("anonymous_mode", page).count("disabled") == 1


def re_field(name: str, page: str) -> str:
    """The ``<input>`` of option ``name`` on the settings page."""
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert match, name
    return match.group(0)
