"""HTTP authentication in Chromium against a real evim (``evim run``: uvicorn, ASGI) and its
managed Prosody: the browser's requests carry the login header as a reverse proxy on this
machine would set it (loopback is the proxy's address).  No login form: the back office
shows the person logged in and the chat bar connects by itself.  X-Forwarded-For does not
make an untrusted connection a trusted one."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_backoffice_pages import log_in
from tests.browser.test_chat import CHAT, ROOM
from tests.fixtures.live_evim import LiveEvim, running_evim

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def proxied_evim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    """camille (administrator) and jeanne with Jabber accounts, the structure's room made."""
    with running_evim(tmp_path_factory.mktemp("http-auth")) as instance:
        instance.evim("accounts", "provision", "camille", "jeanne")
        instance.evim("sync")
        yield instance


def set_proxies(admin: Page, evim: LiveEvim, proxies: str) -> None:
    """The administrator turns HTTP authentication on, with these trusted proxies."""
    admin.goto(f"{evim.url}/service/settings/")
    admin.locator("[name=http_auth]").check()
    admin.locator("[name=http_auth_proxies]").fill(proxies)
    admin.locator("[data-action=save-service-settings]").click()
    expect(admin.locator(".flash")).to_contain_text("Enregistré")


def get_home(evim: LiveEvim, headers: dict[str, str]) -> http.client.HTTPResponse:
    """GET / from this machine (loopback), redirections not followed."""
    address = urlsplit(evim.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    connection.request("GET", "/", headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_the_proxys_login_logs_in_and_the_chat_connects_by_itself(
    browser: Browser, proxied_evim: LiveEvim
) -> None:
    evim = proxied_evim
    admin_context = browser.new_context(locale="fr-FR")
    admin = admin_context.new_page()
    log_in(admin, evim, "camille")

    # The proxy is said to be at 10.9.9.9: a request from loopback naming it in
    # X-Forwarded-For is still a request from loopback, and the header is ignored.
    set_proxies(admin, evim, "10.9.9.9")
    refused = get_home(evim, {"X-Remote-User": "jeanne", "X-Forwarded-For": "10.9.9.9"})
    assert refused.status == 302
    assert refused.getheader("Location") == "/login/?next=/"
    log = (evim.data_dir / "evim.log").read_text()
    assert "came from 127.0.0.1, which is not a trusted proxy" in log

    # The proxy is on this machine.
    set_proxies(admin, evim, "127.0.0.1\n::1")
    context = browser.new_context(
        locale="fr-FR",
        viewport={"width": 1280, "height": 900},
        extra_http_headers={"X-Remote-User": "jeanne"},
    )
    try:
        page = context.new_page()
        page.goto(f"{evim.url}/")
        # No login form: jeanne's home page, and her chat bar logged in by itself.
        expect(page).to_have_url(f"{evim.url}/")
        expect(page.locator("h1")).to_have_text("Bonjour, Jeanne")
        room = page.locator(f"converse-muc[jid='{ROOM}']")
        expect(room.locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)

        # She logs out: she stays out, though the proxy still sends her login, and the
        # login page offers to log in again with it.
        page.locator("[data-action=logout]").click()
        expect(page).to_have_url(f"{evim.url}/login/")
        notice = page.locator("[data-http-auth=paused]")
        expect(notice).to_contain_text("jeanne")
        expect(page.locator("converse-muc")).to_have_count(0)
        page.goto(f"{evim.url}/profile/")
        expect(page).to_have_url(f"{evim.url}/login/?next=/profile/")
        page.locator("[data-http-auth=paused] button").click()
        expect(page).to_have_url(f"{evim.url}/profile/")
        expect(room.locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    finally:
        context.close()
        admin_context.close()
