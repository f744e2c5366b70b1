"""The service's "Force HTTPS" (Advanced): redirects, HSTS, secure cookies — and the chat's
streams over TLS only, on a real evim."""

from __future__ import annotations

import asyncio
import urllib.error
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from django.test import Client
from websockets.exceptions import InvalidStatus

from evim.backoffice.models import User
from evim.service.actions import do_change_service_settings
from tests.fixtures.http_session import BackOfficeSession
from tests.fixtures.live_evim import PASSWORD, LiveEvim, running_evim
from tests.gateway.xmpp_over_websocket import open_gateway


def test_off_by_default_nothing_changes(jeanne: User) -> None:
    response = Client().get("/login/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


def test_on_pages_are_https_only(camille: User) -> None:
    do_change_service_settings(acting_user=camille, values={"force_https": True})
    plain = Client().get("/login/?next=/profile/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/login/?next=/profile/"

    client = Client()
    page = client.get("/login/", secure=True)
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    token = client.cookies["csrftoken"]
    assert token["secure"] is True
    logged_in = client.post(
        "/login/",
        {"username": "camille", "password": "correct-horse-battery-42"},
        secure=True,
        HTTP_X_CSRFTOKEN=token.value,
    )
    assert logged_in.status_code == 302
    assert client.cookies["sessionid"]["secure"] is True
    # A scraper on this machine still reads /metrics over plain HTTP; from elsewhere, no.
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 301


class _FormValues(HTMLParser):
    """The values a browser would post from the service settings page."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        name = found.get("name")
        if tag == "input" and name:
            if found.get("type") != "checkbox":
                self.values[name] = found.get("value") or ""
            elif "checked" in found:
                self.values[name] = "on"
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data.removeprefix("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


@pytest.fixture(scope="module")
def evim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    with running_evim(tmp_path_factory.mktemp("https")) as instance:
        instance.evim("accounts", "provision", "camille", "jeanne")
        yield instance


def test_on_the_chat_connects_over_tls_only(evim: LiveEvim) -> None:
    jeanne = BackOfficeSession(evim.url)
    jeanne.log_in("jeanne", PASSWORD)

    async def handshake() -> int:
        try:
            connection = await open_gateway(evim.url, cookie=jeanne.cookie_header, origin=evim.url)
        except InvalidStatus as refused:
            return refused.response.status_code
        await connection.close()
        return 101

    assert asyncio.run(handshake()) == 101
    # camille turns "Force HTTPS" on from the settings page (evim serves plain HTTP here).
    camille = BackOfficeSession(evim.url)
    camille.log_in("camille", PASSWORD)
    _status, page, _headers = camille.get("/service/settings/")
    form = _FormValues()
    form.feed(page)
    assert "force_https" not in form.values
    form.values["force_https"] = "on"
    # Saved: the page after it is sent to https:// already (which this evim does not serve).
    with pytest.raises(urllib.error.URLError, match="SSL"):
        camille._post("/service/settings/", form.values)
    # The WebSocket over plain HTTP is refused now.
    assert asyncio.run(handshake()) == 403
