"""The settings page's Hosts section and Registration allowed: what is shown read-only, what
is refused and why, what is stored.  (The managed server following them live:
tests/managed_server/test_reconfigure.py.)"""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import User
from evim.service.current import service
from evim.service.models import StoredOption
from tests.fixtures.users import client_for
from tests.service.test_settings_page import URL, form_values


@pytest.fixture
def admin(camille: User, settings: SettingsWrapper) -> Client:
    """An administrator reading the page in English, on a managed server for example.org."""
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_XMPP_DOMAIN = "example.org"
    settings.EVIM_XMPP_MUC_HOST = "conference.example.org"
    settings.EVIM_XMPP_HTTP_PORT = 5280
    camille.language = "en"
    camille.save()
    return client_for(camille)


def row(page: str, option: str) -> str:
    """The page's block for one option."""
    match = re.search(rf'<div class="field[^"]*" data-option="{option}">(.*?)</div>', page, re.S)
    assert match, option
    return html.unescape(match.group(1))


def errors_of(client: Client, **changes: object) -> dict[str, str]:
    """Post the page with ``changes``; the error shown under each option."""
    response = client.post(URL, form_values(**changes))
    assert response.status_code == 200, "refused values are shown again, not saved"
    errors: dict[str, str] = {}
    for chunk in response.content.decode().split('data-option="')[1:]:
        name = chunk.split('"', 1)[0]
        found = re.search(r'<p class="error" role="alert">(.*?)</p>', chunk.split("</div>")[0])
        if found:
            errors[name] = html.unescape(found.group(1))
    return errors


def test_hosts_of_the_managed_server(admin: Client) -> None:
    page = admin.get(URL).content.decode()
    for option, value in (("main_host", "example.org"), ("muc_host", "conference.example.org")):
        block = row(page, option)
        assert f'value="{value}"' in block and "disabled" in block, option
        assert "Set by evim's configuration" in block
    assert "moving every account" in row(page, "main_host")
    proxy = row(page, "integrated_proxy")
    assert "checked" in proxy and "disabled" in proxy
    assert "Jabber password to their browser" in proxy
    websocket = row(page, "websocket_url")
    assert 'value="ws://127.0.0.1:5280/xmpp-websocket"' in websocket and "disabled" in websocket
    for option in ("pubsub_host", "directory_host", "stun_servers", "registration_allowed"):
        assert "disabled" not in row(page, option), option
    assert 'value="pubsub.example.org"' in row(page, "pubsub_host")
    assert 'value="directory.example.org"' in row(page, "directory_host")
    assert "Default: off." in row(page, "registration_allowed")


def test_read_only_values_cannot_be_changed(admin: Client) -> None:
    response = admin.post(
        URL,
        form_values(
            main_host="evil.example",
            muc_host="rooms.evil.example",
            integrated_proxy=False,
            websocket_url="wss://elsewhere.example/ws",
        ),
        follow=True,
    )
    assert response.status_code == 200
    assert not StoredOption.objects.exists()
    values = service()
    assert (values.main_host, values.muc_host, values.integrated_proxy) == (
        "example.org",
        "conference.example.org",
        True,
    )
    # Even a value stored by hand is not used: the environment decides.
    StoredOption.objects.create(name="main_host", value="evil.example")
    assert service().main_host == "example.org"


def test_hosts_are_stored_and_normalised(admin: Client) -> None:
    admin.post(
        URL,
        form_values(
            pubsub_host="Feeds.Example.org.",
            directory_host="",
            stun_servers="stun.example.org\n[2001:DB8::1]:3479\nstun.example.org:3478",
            registration_allowed=True,
        ),
    )
    values = service()
    assert values.pubsub_host == "feeds.example.org"
    assert values.directory_host == ""
    assert values.stun_servers == ["stun.example.org:3478", "[2001:db8::1]:3479"]
    assert values.registration_allowed is True


@pytest.mark.parametrize(
    ("changes", "option", "message"),
    [
        (
            {"pubsub_host": "pubsub example"},
            "pubsub_host",
            "pubsub example is not a host name",
        ),
        (
            {"pubsub_host": "pubsub.other.org"},
            "pubsub_host",
            "pubsub.other.org is not under the server's domain example.org",
        ),
        (
            {"directory_host": "conference.example.org"},
            "directory_host",
            "conference.example.org is already the server's EVIM_XMPP_MUC_HOST",
        ),
        (
            {"pubsub_host": "shared.example.org", "directory_host": "shared.example.org"},
            "directory_host",
            "shared.example.org is already the Pubsub host: each host needs a name of its own.",
        ),
        (
            {"stun_servers": "stun.example.org\nstun.example.org:70000"},
            "stun_servers",
            "Line 2: stun.example.org:70000 is not a STUN server.",
        ),
    ],
)
def test_bad_hosts_are_refused_with_what_to_do(
    admin: Client, changes: dict[str, str], option: str, message: str
) -> None:
    errors = errors_of(admin, **changes)
    assert option in errors
    assert message in errors[option]
    assert not StoredOption.objects.exists()


def test_an_external_server(admin: Client, settings: SettingsWrapper) -> None:
    settings.EVIM_XMPP_SERVER = "external"
    page = admin.get(URL).content.decode()
    for option in ("pubsub_host", "directory_host", "stun_servers", "registration_allowed"):
        assert "disabled" in row(page, option), option
    assert "evim cannot create any" in row(page, "registration_allowed")
    assert "disabled" not in row(page, "websocket_url")
    assert service().registration_allowed is False
    assert service().pubsub_host == ""

    errors = errors_of(admin, websocket_url="ws://xmpp.example.org/xmpp-websocket")
    assert "ws:// would send the Jabber passwords unencrypted" in errors["websocket_url"]
    errors = errors_of(admin, websocket_url="https://xmpp.example.org/")
    assert "starting with wss://" in errors["websocket_url"]
    admin.post(URL, form_values(websocket_url="wss://xmpp.example.org/xmpp-websocket"))
    assert service().websocket_url == "wss://xmpp.example.org/xmpp-websocket"
    # Switching back to the managed server: its own WebSocket, whatever was stored.
    settings.EVIM_XMPP_SERVER = "managed"
    assert service().websocket_url == "ws://127.0.0.1:5280/xmpp-websocket"


def test_french_explanations(camille: User, settings: SettingsWrapper) -> None:
    settings.EVIM_XMPP_SERVER = "managed"
    page = client_for(camille).get(URL).content.decode()
    assert "Hôte principal" in page  # the label of main_host, translated


def test_the_bosh_upstream(admin: Client, settings: SettingsWrapper) -> None:
    # The managed server: its own endpoint, shown read-only.
    bosh = row(admin.get(URL).content.decode(), "bosh_url")
    assert 'value="http://127.0.0.1:5280/http-bind"' in bosh and "disabled" in bosh
    assert service().bosh_url == "http://127.0.0.1:5280/http-bind"

    settings.EVIM_XMPP_SERVER = "external"
    assert "disabled" not in row(admin.get(URL).content.decode(), "bosh_url")
    assert service().bosh_url == ""
    errors = errors_of(admin, bosh_url="http://xmpp.example.org/http-bind")
    assert "http:// would send the Jabber passwords unencrypted" in errors["bosh_url"]
    for wrong in ("wss://xmpp.example.org/ws", "https://user:secret@xmpp.example.org/http-bind"):
        errors = errors_of(admin, bosh_url=wrong)
        assert "starting with https://" in errors["bosh_url"], wrong
    errors = errors_of(
        admin,
        bosh_url="https://xmpp.example.org/http-bind",
        websocket_url="wss://xmpp.example.org/xmpp-websocket",
    )
    assert "A WebSocket upstream is already given" in errors["bosh_url"]
    assert not StoredOption.objects.exists()

    admin.post(URL, form_values(bosh_url="http://127.0.0.1:5280/http-bind"))
    assert service().bosh_url == "http://127.0.0.1:5280/http-bind"
    admin.post(URL, form_values(bosh_url=" https://xmpp.example.org/http-bind "))
    assert service().bosh_url == "https://xmpp.example.org/http-bind"
    # Switching back to the managed server: its own endpoint, whatever was stored.
    settings.EVIM_XMPP_SERVER = "managed"
    assert service().bosh_url == "http://127.0.0.1:5280/http-bind"
