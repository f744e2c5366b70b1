"""French by default, English too, the language chosen per user."""

from __future__ import annotations

from django.test import Client

from evim.backoffice.models import User
from tests.fixtures.users import client_for


def test_login_page_is_french_by_default(db: None) -> None:
    response = Client().get("/login/")
    page = response.content.decode()
    assert '<html lang="fr">' in page
    assert "Se connecter" in page
    assert response["Content-Language"] == "fr"


def test_login_page_follows_an_english_browser(db: None) -> None:
    page = Client(headers={"accept-language": "en-GB,en;q=0.8"}).get("/login/").content.decode()
    assert '<html lang="en">' in page
    assert "Log in to the back office." in page


def test_visitor_can_switch_language_on_login_page(db: None) -> None:
    client = Client()
    client.post("/language/", {"language": "en", "next": "/login/"})
    assert "Log in to the back office." in client.get("/login/").content.decode()


def test_french_user_gets_french_pages(jeanne: User) -> None:
    page = client_for(jeanne).get("/", headers={"accept-language": "en"}).content.decode()
    assert "Bonjour, Jeanne" in page
    assert "Se déconnecter" in page


def test_english_user_gets_english_pages(oliver: User) -> None:
    page = client_for(oliver).get("/", headers={"accept-language": "fr"}).content.decode()
    assert '<html lang="en">' in page
    assert "Hello, Oliver" in page
    assert "Log out" in page


def test_user_changes_their_language_in_profile(jeanne: User) -> None:
    client = client_for(jeanne)
    response = client.post(
        "/profile/", {"first_name": "Jeanne", "last_name": "Durand", "language": "en"}
    )
    assert response.status_code == 302
    jeanne.refresh_from_db()
    assert jeanne.language == "en"
    assert "Your profile is saved." in client.get("/profile/").content.decode()


def test_unknown_language_is_refused(jeanne: User) -> None:
    response = client_for(jeanne).post("/profile/", {"language": "de"})
    assert response.status_code == 200
    assert "Sélectionnez un choix valide" in response.content.decode()
    jeanne.refresh_from_db()
    assert jeanne.language == "fr"
