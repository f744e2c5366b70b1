"""The service settings page (Paramétrage > Général > Service de messagerie): who may use it,
what it stores and audits, what it refuses, and the effect of each option of its "Service"
and "Others" sections on the login page and in the chat's settings."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import AuditEntry, User
from evim.messaging import actions as messaging_actions
from evim.service.actions import SERVICE_SETTINGS_CHANGED
from evim.service.current import service
from evim.service.models import StoredOption
from evim.service.options import OPTIONS
from tests.fixtures.users import client_for
from tests.messaging.test_chat import home_chat_config

URL = "/service/settings/"


def form_values(**changes: Any) -> dict[str, Any]:
    """What the page posts: every option as it is now, with ``changes``."""
    values = service()
    posted: dict[str, Any] = {}
    for option in OPTIONS:
        value = changes.get(option.name, getattr(values, option.name))
        if isinstance(value, bool):
            if value:
                posted[option.name] = "on"
        elif isinstance(value, list):
            posted[option.name] = "\n".join(value)
        elif value is not None:
            posted[option.name] = value
    return posted


def save(client: Client, **changes: Any) -> str:
    response = client.post(URL, form_values(**changes), follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_only_administrators_see_and_use_it(camille: User, jeanne: User) -> None:
    assert client_for(jeanne).get(URL).status_code == 403
    assert client_for(jeanne).post(URL, form_values(name="Pirate")).status_code == 403
    assert service().name != "Pirate"
    assert 'data-menu="service-settings"' not in client_for(jeanne).get("/").content.decode()

    page = client_for(camille).get("/").content.decode()
    assert 'data-menu="service-settings"' in page
    settings_page = client_for(camille).get(URL).content.decode()
    for section in ("service", "others"):
        assert f'data-section="{section}"' in settings_page
    # Each option explained (French: camille's language), its default shown.
    assert "Nom du service" in settings_page
    assert "Par défaut : Théâtre des Lilas" in settings_page


@pytest.fixture(autouse=True)
def _structure(settings: SettingsWrapper) -> None:
    settings.EVIM_STRUCTURE_NAME = "Théâtre des Lilas"


def test_a_change_is_stored_audited_and_in_force_at_once(camille: User) -> None:
    client = client_for(camille)
    page = save(
        client,
        name="Messagerie des Lilas",
        description="Pour parler entre collègues.",
        terms_url="https://lilas.example/cgu",
    )
    assert "Enregistré" in page
    assert service().name == "Messagerie des Lilas"
    assert service().terms_url == "https://lilas.example/cgu"
    entry = AuditEntry.objects.get(event=SERVICE_SETTINGS_CHANGED)
    assert entry.acting_user == camille
    assert entry.changes["name"] == ["Messagerie instantanée", "Messagerie des Lilas"]
    assert set(entry.changes) == {"name", "description", "terms_url"}

    # The same values again: nothing to store, nothing audited.
    assert "Rien n’a changé" in save(client)
    assert AuditEntry.objects.filter(event=SERVICE_SETTINGS_CHANGED).count() == 1


def test_back_to_the_default_it_follows_the_configuration(
    camille: User, settings: SettingsWrapper
) -> None:
    client = client_for(camille)
    save(client, owner_name="Régie")
    assert StoredOption.objects.filter(name="owner_name").exists()
    save(client, owner_name="Théâtre des Lilas")  # the default (EVIM_STRUCTURE_NAME)
    assert not StoredOption.objects.filter(name="owner_name").exists()
    settings.EVIM_STRUCTURE_NAME = "Théâtre des Lilas et du Parc"
    assert service().owner_name == "Théâtre des Lilas et du Parc"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("owner_site", "javascript:alert(1)", "https://"),
        ("terms_url", "ftp://lilas.example/cgu", "https://"),
        ("name", "", "Ce champ est obligatoire"),
        ("name", "x" * 81, "au plus 80 caractères"),
        ("announcement", "x" * 301, "au plus 300 caractères"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_stored(
    camille: User, option: str, value: str, message: str
) -> None:
    response = client_for(camille).post(URL, form_values(**{option: value, "description": "ok"}))
    assert response.status_code == 200
    page = response.content.decode()
    field = re.search(rf'data-option="{option}".*?</div>', page, re.S)
    assert field is not None and message in field.group(0).replace("\u202f", " ")
    assert not StoredOption.objects.exists()
    assert not AuditEntry.objects.filter(event=SERVICE_SETTINGS_CHANGED).exists()


def test_the_login_page_shows_the_service(camille: User) -> None:
    save(
        client_for(camille),
        name="Messagerie des Lilas",
        description="Pour parler entre collègues.",
        owner_site="https://lilas.example/",
        terms_url="https://lilas.example/cgu",
    )
    page = Client().get("/login/").content.decode()
    assert "Messagerie des Lilas" in page
    assert "Pour parler entre collègues." in page
    assert '<a href="https://lilas.example/" rel="noopener">Théâtre des Lilas</a>' in page
    assert 'href="https://lilas.example/cgu"' in page

    save(client_for(camille), owner_site="", terms_url="")
    page = Client().get("/login/").content.decode()
    assert "lilas.example" not in page
    assert 'data-service="terms"' not in page


def chat_header(user: User) -> dict[str, str]:
    header: dict[str, str] = home_chat_config(user)["service"]
    return header


@pytest.mark.usefixtures("messaging_enabled")
def test_the_chat_shows_the_service_and_the_manager_link_to_administrators(
    camille: User, jeanne: User
) -> None:
    for user in (camille, jeanne):
        messaging_actions.do_create_account(
            acting_user=camille, user=user, jid=f"{user.username}@localhost", password="pw-1234"
        )
    save(client_for(camille), name="Messagerie des Lilas", announcement="Coupure à 14 h.")
    for user in (camille, jeanne):
        header = chat_header(user)
        assert header["name"] == "Messagerie des Lilas"
        assert header["announcement"] == "Coupure à 14 h."
    assert chat_header(camille)["manager_url"] == URL
    assert chat_header(jeanne)["manager_url"] == ""

    save(client_for(camille), manager_link=False, announcement="")
    assert chat_header(camille)["manager_url"] == ""
    assert chat_header(jeanne)["announcement"] == ""


@pytest.mark.usefixtures("messaging_enabled")
def test_rooms_to_join_are_joined_by_every_chat(camille: User) -> None:
    messaging_actions.do_create_account(
        acting_user=camille, user=camille, jid="camille@localhost", password="pw-1234"
    )
    save(
        client_for(camille),
        rooms_to_join=" Atelier@Conference.Lilas.test\n\nlilas@conference.evim.test\n",
    )
    assert service().rooms_to_join == [
        "atelier@conference.lilas.test",
        "lilas@conference.evim.test",
    ]
    # project.yml's room first, once; then the added one.
    assert home_chat_config(camille)["rooms"] == [
        "lilas@conference.evim.test",
        "atelier@conference.lilas.test",
    ]


def test_a_bad_room_names_its_line(camille: User) -> None:
    response = client_for(camille).post(
        URL, form_values(rooms_to_join="atelier@conference.lilas.test\nla régie")
    )
    page = response.content.decode()
    assert "Ligne 2 : la régie n’est pas une adresse de salon" in page
    assert not StoredOption.objects.exists()


def test_tracking_visits_needs_its_server_and_site(camille: User) -> None:
    response = client_for(camille).post(URL, form_values(track_visits=True))
    page = response.content.decode()
    assert page.count("Nécessaire quand « Suivre les visites » est activé.") == 2
    assert not StoredOption.objects.exists()
    save(
        client_for(camille),
        track_visits=True,
        tracker_url="https://stats.lilas.example/",
        tracker_site_id=3,
    )
    assert service().track_visits and service().tracker_site_id == 3


def test_under_force_https_the_tracker_must_be_https(camille: User) -> None:
    tracker = {"track_visits": True, "tracker_site_id": 3}
    response = client_for(camille).post(
        URL,
        form_values(force_https=True, tracker_url="http://stats.lilas.example/", **tracker),
    )
    assert "Forcer HTTPS est activé : les navigateurs bloqueraient" in response.content.decode()
    assert not StoredOption.objects.exists()
    # Without Force HTTPS, an http:// tracker serves the http:// pages.
    save(client_for(camille), tracker_url="http://stats.lilas.example/", **tracker)
    assert service().tracker_url == "http://stats.lilas.example/"
