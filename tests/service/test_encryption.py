"""Encryption (service settings, Advanced): the chat's settings say whether Converse loads
its OMEMO plugins, and the pages that carry such a chat, and only those, allow WebAssembly
in their Content-Security-Policy.  tests/browser/test_encryption.py sends an encrypted
message between two real browsers."""

from __future__ import annotations

from pathlib import Path

from django.test import Client

from evim.backoffice.models import User
from evim.messaging import actions
from evim.service.actions import do_change_service_settings
from evim.service.current import service
from tests.fixtures.users import client_for
from tests.messaging.test_chat import chat_config
from tests.service.test_tracking import directives, today_policy

WASM = "'wasm-unsafe-eval'"


def with_account(user: User) -> User:
    actions.do_create_account(
        acting_user=None, user=user, jid=f"{user.username}@evim.test", password="pw-1"
    )
    return user


def test_off_by_default_no_omemo_and_the_policy_of_today(
    jeanne: User, messaging_enabled: Path
) -> None:
    with_account(jeanne)
    assert service().encryption is False
    response = client_for(jeanne).get("/")
    config = chat_config(response.content.decode())
    assert config is not None and config["encryption"] is False
    assert response.headers["Content-Security-Policy"] == today_policy()


def test_on_the_pages_with_the_chat_allow_webassembly_and_no_other(
    camille: User, jeanne: User, ines: User, messaging_enabled: Path
) -> None:
    with_account(jeanne)
    do_change_service_settings(acting_user=camille, values={"encryption": True})

    for path in ("/", "/profile/", "/im/"):
        response = client_for(jeanne).get(path)
        assert response.status_code == 200, path
        config = chat_config(response.content.decode())
        assert config is not None and config["encryption"] is True, path
        policy = directives(response)
        # WebAssembly only: no 'unsafe-eval' (JavaScript's eval stays refused), no origin.
        assert policy["script-src"] == ["'self'", WASM], path
        expected = today_policy().replace("script-src 'self'", f"script-src 'self' {WASM}")
        assert response.headers["Content-Security-Policy"] == expected

    # No chat, no WebAssembly: the login page, a user without an account, an answer that is
    # not a page (the chat's credentials).
    nothing = [
        Client().get("/login/"),
        client_for(ines).get("/"),
        client_for(camille).get("/"),
        client_for(jeanne).get("/im/credentials"),
    ]
    for response in nothing:
        assert WASM not in response.headers["Content-Security-Policy"]
    assert chat_config(nothing[1].content.decode()) is None

    # Off again: the policy of today, and the chat without OMEMO.
    do_change_service_settings(acting_user=camille, values={"encryption": False})
    response = client_for(jeanne).get("/")
    assert response.headers["Content-Security-Policy"] == today_policy()
    config = chat_config(response.content.decode())
    assert config is not None and config["encryption"] is False


def test_the_settings_page_explains_it_in_english_and_french(camille: User) -> None:
    camille.language = "en"
    camille.save()
    english = client_for(camille).get("/service/settings/").content.decode()
    assert 'name="encryption"' in english
    assert "OMEMO end-to-end encryption" in english
    assert "GPL-3.0" in english
    camille.language = "fr"
    camille.save()
    french = client_for(camille).get("/service/settings/").content.decode()
    assert "chiffrement de bout en bout OMEMO" in french  # once the translations are merged
