"""The chat's part of every page and the /im/ page, rendered by Django (no browser): who gets
the chat, what its settings say, and that they hold no secret.  tests/browser/test_chat.py
runs the same chat in Chromium against a real evim."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import AuditEntry, User
from evim.messaging import actions, checks
from evim.messaging.chat import WEBSOCKET_PATH
from evim.messaging.converse import ConverseFinder, served
from evim.messaging.project_config import get_messaging_config
from tests.fixtures.users import client_for

SECRET = "s3cret-Jabber-password"
CONFIG = re.compile(
    r'<script id="evim-chat-config" type="application/json">(.*?)</script>', re.DOTALL
)


@pytest.fixture
def jeanne_has_an_account(jeanne: User, messaging_enabled: Path) -> User:
    actions.do_create_account(
        acting_user=None, user=jeanne, jid="jeanne@jabber.example", password=SECRET
    )
    return jeanne


def chat_config(html: str) -> dict[str, object] | None:
    found = CONFIG.search(html)
    return None if found is None else dict(json.loads(found.group(1)))


def home_chat_config(user: User) -> dict[str, Any]:
    """The chat's settings on ``user``'s home page, which must carry the chat."""
    config = chat_config(client_for(user).get("/").content.decode())
    assert config is not None, "no chat on the page"
    return config


def test_every_page_carries_the_chat_settings_never_a_password(
    jeanne_has_an_account: User,
) -> None:
    client = client_for(jeanne_has_an_account)
    for path in ("/", "/profile/", "/profile/password/"):
        html = client.get(path).content.decode()
        config = chat_config(html)
        assert config is not None, path
        assert SECRET not in html
        assert 'type="module"' in html and "messaging/chat.js" in html
    assert config == {
        "script": "/static/converse/converse.min.js",
        "stylesheet": "/static/converse/converse.min.css",
        "assets_path": "/static/converse",
        "view_mode": "overlayed",
        "language": "fr",
        "credentials_url": "/im/credentials?client=bar",
        "websocket_path": "/im/ws",
        "nickname": "Jeanne Durand",
        "rooms": ["lilas@conference.evim.test"],
        "notifications": False,
        "encryption": False,  # the service's "encryption" is off: no OMEMO
        "unread_key": f"evim-chat-unread-{jeanne_has_an_account.pk}",
        "suggested_rooms": [],  # "suggest rooms" is off: every room is joined
        "service": {
            "name": "Messagerie instantanée",
            "description": "",
            "owner_name": settings.EVIM_STRUCTURE_NAME,
            "owner_site": "",
            "terms_url": "",
            "terms_label": "Conditions d’utilisation",
            "announcement": "",
            "manager_url": "",  # jeanne is no administrator
            "manager_label": "Réglages du service",
        },
        "texts": {
            "not_connected": "Le chat n’est pas connecté. "
            "Il se connecte de lui-même dès qu’il le peut.",
            "logged_out": "Vous êtes déconnecté : reconnectez-vous pour utiliser le chat.",
            "unread": {"one": "%(count)s message non lu", "other": "%(count)s messages non lus"},
        },
    }
    # No script of the page is inline: the Content-Security-Policy forbids it.
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)


def test_the_full_page_client(jeanne_has_an_account: User) -> None:
    response = client_for(jeanne_has_an_account).get("/im/")
    assert response.status_code == 200
    html = response.content.decode()
    config = chat_config(html)
    assert config is not None and config["view_mode"] == "fullscreen"
    assert html.count("evim-chat-config") == 1  # the full page only, no chat bar as well
    assert '<converse-root class="chat-full-page"' in html


def test_english_users_get_an_english_chat(oliver: User, messaging_enabled: Path) -> None:
    actions.do_create_account(acting_user=None, user=oliver, jid="oliver@evim.test", password="x")
    config = chat_config(client_for(oliver).get("/").content.decode())
    assert config is not None
    assert config["language"] == "en"
    assert config["nickname"] == "Oliver Bennett"
    assert config["texts"] == {
        "not_connected": "The chat is not connected. It connects by itself as soon as it can.",
        "logged_out": "You are logged out: log in again to use the chat.",
        "unread": {"one": "%(count)s unread message", "other": "%(count)s unread messages"},
    }


UNREAD = re.compile(r'<a class="chat-unread" href="/im/" data-chat="unread" hidden>')


def test_the_top_bar_has_the_unread_count_of_the_chat(
    jeanne_has_an_account: User, ines: User
) -> None:
    """A place in every page's top bar, through the back office's header items: empty, and
    hidden until messaging/chat.js counts; none for a user without the chat."""
    for path in ("/", "/profile/", "/im/"):
        html = client_for(jeanne_has_an_account).get(path).content.decode()
        topbar = html[html.index('<div class="usermenu">') : html.index("</nav>")]
        assert UNREAD.search(topbar), path
        assert 'data-chat="unread-count">0</span>' in topbar
    assert 'data-chat="unread"' not in client_for(ines).get("/").content.decode()


def test_desktop_notifications_are_opt_in_from_the_profile(jeanne_has_an_account: User) -> None:
    jeanne = jeanne_has_an_account
    client = client_for(jeanne)
    profile = client.get("/profile/").content.decode()
    assert 'data-chat="notifications-form"' in profile
    assert 'name="desktop_notifications" id="id_desktop_notifications">' in profile  # off
    config = chat_config(profile)
    assert config is not None and config["notifications"] is False

    answer = client.post("/messaging/chat-preferences/", {"desktop_notifications": "on"})
    assert answer.status_code == 302 and answer["Location"] == "/profile/"
    page = client.get("/profile/").content.decode()
    assert "Les notifications sur le bureau sont activées." in page
    assert 'id="id_desktop_notifications" checked>' in page
    config = chat_config(page)
    assert config is not None and config["notifications"] is True
    # Saving the same choice again changes nothing and writes nothing.
    client.post("/messaging/chat-preferences/", {"desktop_notifications": "on"})
    client.post("/messaging/chat-preferences/", {})
    config = chat_config(client.get("/").content.decode())
    assert config is not None and config["notifications"] is False

    audit = AuditEntry.objects.filter(event="chat_preferences_changed").order_by("id")
    assert [(entry.acting_user, entry.subject, entry.changes) for entry in audit] == [
        (jeanne, "jeanne", {"desktop_notifications": [False, True]}),
        (jeanne, "jeanne", {"desktop_notifications": [True, False]}),
    ]


def test_no_chat_preferences_without_the_chat(ines: User, messaging_enabled: Path) -> None:
    client = client_for(ines)
    assert "notifications-form" not in client.get("/profile/").content.decode()
    assert client.post("/messaging/chat-preferences/", {}).status_code == 403
    assert client.get("/messaging/chat-preferences/").status_code == 405


def test_no_chat_without_an_account(ines: User, messaging_enabled: Path) -> None:
    client = client_for(ines)
    html = client.get("/").content.decode()
    assert chat_config(html) is None
    assert "converse" not in html and "messaging/chat" not in html
    page = client.get("/im/")
    assert page.status_code == 200
    assert "converse" not in page.content.decode()
    assert "Vous n’avez pas encore de compte Jabber" in page.content.decode()


def test_no_chat_when_messaging_is_disabled(
    jeanne_has_an_account: User, tmp_path: Path, settings: SettingsWrapper
) -> None:
    (tmp_path / "disabled.yml").write_text("all:\n  messaging:\n    enable: false\n")
    with override_settings(EVIM_PROJECT_YML=tmp_path / "disabled.yml"):
        get_messaging_config.cache_clear()
        client = client_for(jeanne_has_an_account)
        html = client.get("/").content.decode()
        assert chat_config(html) is None and "converse" not in html
        assert client.get("/im/").status_code == 404
    get_messaging_config.cache_clear()


@pytest.mark.django_db  # every request reads the service settings (evim.service)
def test_anonymous_visitors_get_no_chat(messaging_enabled: Path) -> None:
    html = client_for(None).get("/login/").content.decode()
    assert chat_config(html) is None and "converse" not in html


def test_the_websocket_path_is_the_gateways() -> None:
    from evim.asgi import GATEWAY_WEBSOCKET_PATH

    assert WEBSOCKET_PATH == GATEWAY_WEBSOCKET_PATH


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("converse.min.js", True),
        ("converse.min.js.map", True),
        ("converse.min.css", True),
        ("emoji.json", True),
        ("chunkjs/locales/fr-LC_MESSAGES-converse-po.js", True),
        ("webfonts/muli.ttf", True),
        ("sounds/msg_received.ogg", True),
        ("images/custom_emojis/xmpp.png", True),
        # The OMEMO library (GPL-3.0) and its WebAssembly: for the service's "encryption".
        ("libomemo.esm.min.js", True),
        ("curve25519_compiled.wasm", True),
        # The unminified build: not served.
        ("converse.js", False),
        ("website.min.css", False),
        ("chunkjs", False),
        ("../package.json", False),
        ("chunkjs/../../package.json", False),
        ("/etc/passwd", False),
        ("", False),
    ],
)
def test_which_converse_files_are_served(relative: str, expected: bool) -> None:
    assert served(relative) is expected


def test_the_finder_lists_what_the_chat_needs() -> None:
    listed = {path for path, _storage in ConverseFinder().list([])}
    assert {"converse.min.js", "converse.min.css", "emoji.json"} <= listed
    assert {"libomemo.esm.min.js", "curve25519_compiled.wasm"} <= listed  # for encryption
    assert any(path.startswith("chunkjs/locales/fr-") for path in listed)
    assert not any(path.startswith(("converse.js", "website")) for path in listed)
    finder = ConverseFinder()
    assert finder.find("converse/converse.min.js") == str(finder.root / "converse.min.js")
    assert finder.find("converse/converse.js") is None
    assert finder.find("converse/converse.min.js", find_all=True) == [
        str(finder.root / "converse.min.js")
    ]


def test_a_missing_converse_is_reported_when_messaging_is_on(
    messaging_enabled: Path, settings: SettingsWrapper, tmp_path: Path
) -> None:
    settings.EVIM_CONVERSE_DIR = tmp_path / "nothing-here"
    errors = checks.check_converse_installed(None)
    assert [error.id for error in errors] == ["messaging.E002"]
    assert "npm ci" in str(errors[0].hint)
    with pytest.raises(Exception, match=r"messaging\.E002"):
        call_command("check")


def test_the_content_security_policy_stays_strict(jeanne_has_an_account: User) -> None:
    header = client_for(jeanne_has_an_account).get("/")["Content-Security-Policy"]
    policy = {directive.split()[0]: directive.split()[1:] for directive in header.split("; ")}
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no WebAssembly
    assert policy["connect-src"] == ["'self'"]  # the same-origin WebSocket included
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["style-src"][0] == "'self'"
    assert all(source.startswith("'sha256-") for source in policy["style-src"][1:])
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert "'unsafe-inline'" not in policy["style-src"] + policy["script-src"]
