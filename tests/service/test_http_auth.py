"""HTTP authentication (service settings, Connection): the login a trusted reverse proxy
passes in a header logs the session in, audited; from any other address, or with the option
off, the header is ignored; an unknown login is explained on the login page; another login
switches the session; logging out stays logged out until asked.  The options refuse bad
values with their field's message.  tests/browser/test_http_auth.py runs it through a real
evim and Chromium, with the chat."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_out
from django.core.handlers.asgi import ASGIRequest
from django.test import Client

from evim.backoffice.models import AuditEntry, User
from evim.messaging import actions as messaging_actions
from evim.service import http_auth
from evim.service.actions import do_change_service_settings
from evim.service.current import service
from evim.service.models import StoredOption
from tests.fixtures.users import client_for
from tests.service.test_settings_page import URL, form_values

PROXY = "10.1.2.3"


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    """Each test sees the warnings logged once per process as if first."""
    http_auth._warned.clear()
    yield
    http_auth._warned.clear()


def turn_on(proxies: list[str] | None = None, header: str = "X-Remote-User") -> None:
    do_change_service_settings(
        acting_user=None,
        values={
            "http_auth": True,
            "http_auth_header": header,
            "http_auth_proxies": proxies if proxies is not None else ["10.1.2.0/24"],
        },
    )


def proxied(login: str | None, *, address: str = PROXY, **extra: Any) -> dict[str, Any]:
    """What a request through the proxy carries: its address, and the login header."""
    values: dict[str, Any] = {"REMOTE_ADDR": address, "HTTP_ACCEPT_LANGUAGE": "en", **extra}
    if login is not None:
        values["HTTP_X_REMOTE_USER"] = login
    return values


def session_user(client: Client) -> int | None:
    value = client.session.get(SESSION_KEY)
    return int(value) if value is not None else None


def logins() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(event=http_auth.HTTP_AUTH_LOGIN).order_by("id"))


def test_the_proxys_login_logs_in_with_an_audit_entry_and_the_chat_follows(
    camille: User, jeanne: User, messaging_enabled: Path
) -> None:
    messaging_actions.do_create_account(
        acting_user=camille, user=jeanne, jid="jeanne@localhost", password="pw-1"
    )
    turn_on()
    client = Client()
    page = client.get("/", **proxied("jeanne", address="10.1.2.77"))
    # No login form: the home page, as jeanne, with her chat.
    assert page.status_code == 200
    assert "Bonjour, Jeanne" in page.content.decode()
    assert 'id="evim-chat-config"' in page.content.decode()
    assert session_user(client) == jeanne.pk
    jeanne.refresh_from_db()
    assert jeanne.last_login is not None
    [entry] = logins()
    assert (entry.acting_user, entry.subject) == (jeanne, "jeanne")
    assert entry.changes == {"proxy": "10.1.2.77"}
    # The chat's credentials come from this session, as after a login with the form.
    credentials = client.get("/im/credentials", **proxied("jeanne"))
    assert credentials.status_code == 200
    assert credentials.json()["jid"].startswith("jeanne@localhost/")
    # The next pages: the same session, no new login.
    key = client.session.session_key
    assert client.get("/profile/", **proxied("jeanne")).status_code == 200
    assert client.session.session_key == key
    assert len(logins()) == 1


def test_from_an_untrusted_address_the_header_is_ignored_and_logged_once(
    jeanne: User, caplog: pytest.LogCaptureFixture
) -> None:
    turn_on(["10.1.2.3"])
    client = Client()
    with caplog.at_level(logging.WARNING, logger="evim.service.http_auth"):
        for _ in range(3):
            # X-Forwarded-For names the proxy: not believed, only the connection's address.
            response = client.get(
                "/", **proxied("jeanne", address="192.0.2.9", HTTP_X_FORWARDED_FOR="10.1.2.3")
            )
            assert response.status_code == 302
            assert response["Location"] == "/login/?next=/"
    assert session_user(client) is None
    assert logins() == []
    [record] = [r for r in caplog.records if r.name == "evim.service.http_auth"]
    assert record.levelno == logging.WARNING
    assert "192.0.2.9" in record.getMessage()
    assert "not a trusted proxy" in record.getMessage()
    assert "jeanne" not in record.getMessage()  # the header's value is never logged
    # The login page says nothing about the proxy: it was not believed.
    page = client.get("/login/", **proxied("jeanne", address="192.0.2.9")).content.decode()
    assert "data-http-auth" not in page


def test_with_the_option_off_the_header_is_ignored_entirely(
    jeanne: User, caplog: pytest.LogCaptureFixture
) -> None:
    assert service().http_auth is False  # the default
    client = Client()
    with caplog.at_level(logging.DEBUG, logger="evim.service.http_auth"):
        response = client.get("/", **proxied("jeanne", address="127.0.0.1"))
        page = client.get("/login/", **proxied("jeanne", address="127.0.0.1"))
    assert response.status_code == 302
    assert session_user(client) is None
    assert "data-http-auth" not in page.content.decode()
    assert logins() == []
    assert [r for r in caplog.records if r.name == "evim.service.http_auth"] == []


@pytest.mark.parametrize("login", ["Jeanne", "nobody", "jeanne-inactive"])
def test_an_unknown_or_inactive_login_is_explained_on_the_login_page(
    camille: User, jeanne: User, login: str
) -> None:
    if login == "jeanne-inactive":
        User.objects.filter(pk=jeanne.pk).update(is_active=False)
        login = "jeanne"
    turn_on()
    client = Client()
    response = client.get("/", **proxied(login), follow=True)
    assert response.redirect_chain == [("/login/?next=/", 302)]
    page = response.content.decode()
    assert 'data-http-auth="unknown"' in page
    assert (
        f"Your reverse proxy identifies you as “{login}”, but the back office has no "
        "active user with this login"
    ) in page
    assert 'name="password"' in page  # the login form is still there
    assert session_user(client) is None
    assert logins() == []
    # The login form still logs in (camille knows her password): the proxy's unknown
    # login does not undo it.
    client.post("/login/", {"username": "camille", "password": "correct-horse-battery-42"})
    assert session_user(client) == camille.pk
    assert client.get("/", **proxied(login)).status_code == 200
    assert session_user(client) == camille.pk


def test_a_different_login_from_the_proxy_switches_the_session(camille: User, jeanne: User) -> None:
    turn_on()
    ended: list[str] = []

    def record(sender: Any, user: User | None, **kwargs: Any) -> None:
        ended.append(user.username if user else "")

    user_logged_out.connect(record)
    try:
        client = client_for(camille)
        key = client.session.session_key
        page = client.get("/", **proxied("jeanne")).content.decode()
    finally:
        user_logged_out.disconnect(record)
    assert "Bonjour, Jeanne" in page
    assert session_user(client) == jeanne.pk
    assert client.session.session_key != key  # a new session, not camille's
    assert ended == ["camille"]  # logged out first: the gateway ends camille's streams
    [entry] = logins()
    assert entry.changes == {"proxy": PROXY, "replaced": "camille"}


def test_logging_out_stays_logged_out_until_asked(camille: User, jeanne: User) -> None:
    turn_on()
    client = Client()
    assert client.get("/", **proxied("jeanne")).status_code == 200
    response = client.post("/logout/", **proxied("jeanne"), follow=True)
    # The login page, not the home page again: the proxy's login is not used by itself.
    assert response.redirect_chain == [("/login/", 302)]
    assert session_user(client) is None
    page = response.content.decode()
    assert 'data-http-auth="paused"' in page
    assert "You logged out. Your reverse proxy still identifies you as “jeanne”" in page
    assert "Log in again as jeanne" in page
    assert client.get("/", **proxied("jeanne")).status_code == 302
    assert len(logins()) == 1
    # "Log in again as jeanne": back to where she was going, logged in by the proxy.
    response = client.post(
        "/service/http-auth/resume/", {"next": "/profile/"}, **proxied("jeanne"), follow=True
    )
    assert response.redirect_chain == [("/profile/", 302)]
    assert response.status_code == 200
    assert session_user(client) == jeanne.pk
    assert len(logins()) == 2
    # A next address elsewhere is not followed.
    client.post("/logout/", **proxied("jeanne"))
    away = client.post("/service/http-auth/resume/", {"next": "https://evil.example/"})
    assert away["Location"] == "/"


def test_after_logging_out_someone_else_at_the_proxy_is_logged_in(
    camille: User, jeanne: User
) -> None:
    turn_on()
    client = Client()
    client.get("/", **proxied("jeanne"))
    client.post("/logout/", **proxied("jeanne"))
    assert client.get("/", **proxied("jeanne")).status_code == 302
    assert client.get("/", **proxied("camille")).status_code == 200
    assert session_user(client) == camille.pk


def test_a_header_sent_twice_is_not_believed(jeanne: User) -> None:
    """Under ASGI, X_Remote_User from a browser would join the proxy's X-Remote-User (a
    server sees one name for both): such a request is not logged in."""
    turn_on()

    def through_proxy(*headers: tuple[bytes, bytes]) -> ASGIRequest:
        """A request as uvicorn hands it over: header names in lower case, values as
        sent, the connection's address."""
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "query_string": b"",
            "headers": list(headers),
            "client": (PROXY, 41000),
            "server": ("127.0.0.1", 8000),
        }
        return ASGIRequest(scope, io.BytesIO())

    assert http_auth.proxy_username(through_proxy((b"x-remote-user", b"jeanne"))) == "jeanne"
    twice = through_proxy((b"x-remote-user", b"jeanne"), (b"x_remote_user", b"camille"))
    assert http_auth.proxy_username(twice) is None
    # A login with accents, as the proxy sends it: UTF-8 bytes.
    accents = through_proxy((b"x-remote-user", "inès".encode()))
    assert http_auth.proxy_username(accents) == "inès"


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        ("10.1.2.200", True),
        ("10.1.3.1", False),
        ("::ffff:10.1.2.5", True),  # an IPv4 client seen by a dual-stack socket
        ("2001:db8::7", True),
        ("2001:db9::7", False),
        ("", False),
        ("not-an-address", False),
    ],
)
def test_trusted_addresses(address: str, trusted: bool) -> None:
    assert http_auth.trusted_proxy(address, ["10.1.2.0/24", "2001:db8::/32"]) is trusted


def english_administrator(camille: User) -> Client:
    User.objects.filter(pk=camille.pk).update(language="en")
    camille.refresh_from_db()
    return client_for(camille)


def test_the_options_are_on_the_settings_page_and_stored_normalised(camille: User) -> None:
    client = english_administrator(camille)
    page = client.get(URL).content.decode()
    for option in ("http_auth", "http_auth_header", "http_auth_proxies"):
        assert f'data-option="{option}"' in page
    assert "proxy_set_header X-Remote-User $remote_user;" in page
    assert "Default: X-Remote-User" in page
    response = client.post(
        URL,
        form_values(
            http_auth=True,
            http_auth_header="Remote-User",
            http_auth_proxies=["10.0.0.0/24", " ::1 ", "", "127.0.0.1/32", "10.0.0.0/24"],
        ),
    )
    assert response.status_code == 302
    assert service().http_auth is True
    assert service().http_auth_header == "Remote-User"
    assert service().http_auth_proxies == ["10.0.0.0/24", "::1", "127.0.0.1"]


@pytest.mark.parametrize(
    ("changes", "option", "message"),
    [
        (
            {"http_auth_header": "X Remote User"},
            "http_auth_header",
            "Write a header name: letters without accents, digits and dashes",
        ),
        (
            {"http_auth_header": "X_Remote_User"},
            "http_auth_header",
            "Write a header name: letters without accents, digits and dashes",
        ),
        (
            {"http_auth_header": "X-Remote-User:"},
            "http_auth_header",
            "Write a header name: letters without accents, digits and dashes",
        ),
        (
            {"http_auth_proxies": ["127.0.0.1", "proxy.lilas.example"]},
            "http_auth_proxies",
            "Line 2: proxy.lilas.example is not an IP address or network. Write one a line, "
            "as 127.0.0.1, ::1 or 10.0.0.0/24.",
        ),
        (
            {"http_auth_proxies": ["10.0.0.0/33"]},
            "http_auth_proxies",
            "Line 1: 10.0.0.0/33 is not an IP address or network.",
        ),
        (
            {"http_auth_proxies": ["10.0.0.5/24"]},
            "http_auth_proxies",
            "Line 1: 10.0.0.5/24 is not the start of a network. Write 10.0.0.0/24 for that "
            "network, or the address alone for one machine.",
        ),
        ({"http_auth_proxies": []}, "http_auth_proxies", "Needed when “HTTP authentication”"),
        ({"http_auth_header": ""}, "http_auth_header", "Needed when “HTTP authentication”"),
    ],
)
def test_bad_values_are_refused_with_the_fields_message(
    camille: User, changes: dict[str, Any], option: str, message: str
) -> None:
    client = english_administrator(camille)
    values = {"http_auth": True, "http_auth_proxies": ["10.0.0.1"], **changes}
    response = client.post(URL, form_values(**values))
    assert response.status_code == 200
    page = response.content.decode()
    field = page.split(f'data-option="{option}"', 1)[1].split('data-option="', 1)[0]
    assert 'class="error"' in field
    assert message in field
    assert not StoredOption.objects.exists()
    assert service().http_auth is False


def test_the_login_page_explains_it_in_french(jeanne: User) -> None:
    """(Passes once /tmp/evim_fr_http_auth.json is merged into the French catalogue.)"""
    turn_on()
    page = Client().get("/login/", **proxied("Jeanne", HTTP_ACCEPT_LANGUAGE="fr"))
    assert "Votre proxy inverse vous identifie comme « Jeanne »" in page.content.decode()
