from __future__ import annotations

from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import User
from tests.fixtures.users import PASSWORD, client_for


def test_anonymous_visitor_is_sent_to_login(db: None) -> None:
    response = Client().get("/settings/users/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/settings/users/"


def test_login_with_right_password_opens_home(jeanne: User) -> None:
    client = Client()
    response = client.post("/login/", {"username": "jeanne", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "Bonjour, Jeanne" in response.content.decode()


def test_login_with_wrong_password_says_so(jeanne: User) -> None:
    response = Client().post("/login/", {"username": "jeanne", "password": "nope"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Saisissez un nom d’utilisateur et un mot de passe valides" in page
    assert "_auth_user_id" not in Client().session


def test_login_keeps_next_page(camille: User) -> None:
    response = Client().post(
        "/login/?next=/settings/users/",
        {"username": "camille", "password": PASSWORD, "next": "/settings/users/"},
    )
    assert response["Location"] == "/settings/users/"


def test_login_refuses_foreign_next(camille: User) -> None:
    response = Client().post(
        "/login/",
        {"username": "camille", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_logout_needs_post_and_ends_session(jeanne: User) -> None:
    client = client_for(jeanne)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_log_in(jeanne: User) -> None:
    jeanne.is_active = False
    jeanne.save()
    response = Client().post("/login/", {"username": "jeanne", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in response.client.session


def test_login_page_needs_no_login(db: None) -> None:
    response = Client().get("/login/")
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_too_many_failures_block_the_login_for_a_while(
    jeanne: User, settings: SettingsWrapper
) -> None:
    settings.EVIM_LOGIN_FAILURE_LIMIT = 3
    settings.EVIM_LOGIN_FAILURE_WINDOW = 600
    client = Client()
    for _ in range(3):
        client.post("/login/", {"username": "jeanne", "password": "guess"})
    # Even the right password is refused now, with how long to wait.
    response = client.post("/login/", {"username": "jeanne", "password": PASSWORD})
    page = response.content.decode()
    assert "Trop de tentatives échouées pour cet identifiant" in page
    assert "dans 10 minutes" in page
    assert "_auth_user_id" not in client.session
    # Another login name from the same address is not affected.
    assert Client().post("/login/", {"username": "camille", "password": "x"}).status_code == 200


def test_a_successful_login_forgets_earlier_failures(
    jeanne: User, settings: SettingsWrapper
) -> None:
    settings.EVIM_LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        client.post("/login/", {"username": "jeanne", "password": "guess"})
    assert client.post("/login/", {"username": "jeanne", "password": PASSWORD}).status_code == 302
    client.post("/logout/")
    for _ in range(2):
        client.post("/login/", {"username": "jeanne", "password": "guess"})
    assert client.post("/login/", {"username": "jeanne", "password": PASSWORD}).status_code == 302
