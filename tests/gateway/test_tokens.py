"""One-time tokens: once, for seconds, for one user and one back-office session."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import User
from evim.gateway.models import GatewayToken
from evim.gateway.tokens import issue_token, redeem_token
from evim.messaging import actions
from evim.service.actions import do_change_service_settings
from tests.fixtures.users import client_for


def test_a_token_is_redeemed_once(db: None, jeanne: User) -> None:
    token = issue_token(user_id=jeanne.pk, session_key="session-a")
    assert redeem_token(token, user_id=jeanne.pk, session_key="session-a") is True
    assert redeem_token(token, user_id=jeanne.pk, session_key="session-a") is False


def test_a_token_is_bound_to_its_user_and_session(db: None, jeanne: User, oliver: User) -> None:
    token = issue_token(user_id=jeanne.pk, session_key="session-a")
    assert redeem_token(token, user_id=oliver.pk, session_key="session-a") is False
    # A failed try spends it too: no second guess.
    assert redeem_token(token, user_id=jeanne.pk, session_key="session-a") is False
    other = issue_token(user_id=jeanne.pk, session_key="session-a")
    assert redeem_token(other, user_id=jeanne.pk, session_key="session-b") is False


def test_a_token_expires(db: None, jeanne: User) -> None:
    token = issue_token(user_id=jeanne.pk, session_key="session-a")
    GatewayToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert redeem_token(token, user_id=jeanne.pk, session_key="session-a") is False


def test_only_a_hash_is_stored(db: None, jeanne: User) -> None:
    token = issue_token(user_id=jeanne.pk, session_key="session-a")
    stored = GatewayToken.objects.get()
    assert token not in stored.token_hash and "session-a" not in stored.session_hash


def test_garbage_is_refused(db: None, jeanne: User) -> None:
    for guess in ("", "evim-token:", "password", "evim-token:" + "A" * 43):
        assert redeem_token(guess, user_id=jeanne.pk, session_key="s") is False


@pytest.fixture
def jeanne_account(jeanne: User, messaging_enabled: object) -> None:
    actions.do_create_account(
        acting_user=None, user=jeanne, jid="jeanne@jabber.example", password="real-secret"
    )


def test_credentials_url(jeanne: User, jeanne_account: None) -> None:
    response = client_for(jeanne).get("/im/credentials")
    assert response.status_code == 200
    data = response.json()
    # The bare JID, with a resource: the service's prefix, the client, a unique part.
    assert re.fullmatch(r"jeanne@jabber\.example/evim-bar-[0-9a-f]{8}", data["jid"])
    assert data["password"].startswith("evim-token:")
    assert "real-secret" not in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    # The full page says so; each session's resource is its own.
    page = client_for(jeanne).get("/im/credentials?client=page").json()["jid"]
    again = client_for(jeanne).get("/im/credentials?client=page").json()["jid"]
    assert page.startswith("jeanne@jabber.example/evim-page-") and again != page
    # The administrators' prefix, at once.
    do_change_service_settings(acting_user=None, values={"resource": "lilas"})
    assert "/lilas-bar-" in client_for(jeanne).get("/im/credentials").json()["jid"]


def test_credentials_url_refusals(
    oliver: User, jeanne_account: None, settings: SettingsWrapper
) -> None:
    anonymous = Client().get("/im/credentials")  # a script's request: JSON, not the login page
    assert anonymous.status_code == 401
    assert anonymous.json()["error"].startswith("Reconnectez-vous au back office")
    assert client_for(oliver).get("/im/credentials").status_code == 404  # no account
    assert client_for(oliver).post("/im/credentials").status_code == 405
