"""Track visits (service settings, Advanced): the tracker on every page and the origin it
reports to in the page's Content-Security-Policy when it is on; nothing at all when it is
off or when the browser asks not to be tracked.  tests/browser/test_tracking.py watches a
real Chromium report the page views to a fake Matomo."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.test import Client

from evim.backoffice.models import User
from evim.service.actions import do_change_service_settings
from tests.fixtures.users import client_for

if TYPE_CHECKING:
    # What the test client returns (django-stubs' name for it).
    from django.test.client import _MonkeyPatchedWSGIResponse as HttpResponse

TRACKER_ELEMENT = re.compile(r'<script id="evim-tracker" type="application/json">(.*?)</script>')
MODULE = '<script type="module" src="/static/service/tracker.js"></script>'


def turn_on(url: str = "https://stats.lilas.example/", site_id: int = 3) -> None:
    do_change_service_settings(
        acting_user=None,
        values={"track_visits": True, "tracker_url": url, "tracker_site_id": site_id},
    )


def today_policy() -> str:
    """The policy of settings.EVIM_CONTENT_SECURITY_POLICY, as the header has always been."""
    return "; ".join(
        f"{directive} {' '.join(sources)}"
        for directive, sources in settings.EVIM_CONTENT_SECURITY_POLICY.items()
    )


def directives(response: HttpResponse) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split(" ") for part in policy.split("; "))}


def tracker_settings(response: HttpResponse) -> dict[str, Any] | None:
    found = TRACKER_ELEMENT.search(response.content.decode())
    if found is None:
        return None
    values: dict[str, Any] = json.loads(found.group(1))
    return values


def pages(camille: User, jeanne: User) -> list[HttpResponse]:
    """The login page (nobody logged in), an administrator's and a colleague's pages."""
    responses = [
        Client().get("/login/"),
        client_for(camille).get("/"),
        client_for(camille).get("/settings/users/"),
        client_for(jeanne).get("/profile/"),
    ]
    assert [response.status_code for response in responses] == [200] * 4
    return responses


def assert_untracked(response: HttpResponse) -> None:
    page = response.content.decode()
    assert "evim-tracker" not in page
    assert "tracker.js" not in page
    assert response.headers["Content-Security-Policy"] == today_policy()


def test_off_by_default_no_tracker_and_the_policy_of_today(camille: User, jeanne: User) -> None:
    for response in pages(camille, jeanne):
        assert_untracked(response)


@pytest.mark.parametrize(
    ("url", "endpoint", "origin"),
    [
        ("https://stats.lilas.example/", "https://stats.lilas.example/matomo.php", None),
        # In a folder, on another port: the port is part of the origin.
        (
            "https://Lilas.example:8443/matomo",
            "https://lilas.example:8443/matomo/matomo.php",
            "https://lilas.example:8443",
        ),
        # The endpoint itself; the default port is the origin's anyway.
        (
            "https://stats.lilas.example:443/piwik.php",
            "https://stats.lilas.example/piwik.php",
            None,
        ),
    ],
)
def test_on_every_page_carries_the_tracker_and_allows_its_origin(
    camille: User, jeanne: User, url: str, endpoint: str, origin: str | None
) -> None:
    turn_on(url, site_id=3)
    origin = origin or "https://stats.lilas.example"
    for response in pages(camille, jeanne):
        values = tracker_settings(response)
        assert values is not None, "no tracker on the page"
        assert values["endpoint"] == endpoint
        assert values["site_id"] == 3
        assert MODULE in response.content.decode()
        # Connections to the tracker's origin, nothing else, no other directive touched.
        policy = directives(response)
        today = {**settings.EVIM_CONTENT_SECURITY_POLICY}
        assert policy["connect-src"] == [*today.pop("connect-src"), origin]
        assert {name: policy[name] for name in today} == today
        assert set(policy) == {*today, "connect-src"}


def test_the_tracker_sends_no_names(camille: User, ines: User) -> None:
    """The page's title names the person it is about: the tracker gets the view's name."""
    turn_on()
    response = client_for(camille).get(f"/settings/users/{ines.pk}/")
    assert "Inès Moreau" in response.content.decode()  # in the page's title
    values = tracker_settings(response)
    assert values == {
        "endpoint": "https://stats.lilas.example/matomo.php",
        "site_id": 3,
        "action_name": "backoffice / user_edit",
    }
    login = tracker_settings(Client().get("/login/?next=/settings/users/"))
    assert login is not None and login["action_name"] == "backoffice / login"


def test_only_pages_with_the_tracker_allow_its_origin(camille: User) -> None:
    turn_on()
    redirect = Client().get("/settings/users/")  # to the login page, no page of its own
    assert redirect.status_code == 302
    assert redirect.headers["Content-Security-Policy"] == today_policy()


@pytest.mark.parametrize("header", ["DNT", "Sec-GPC"])
def test_do_not_track_and_global_privacy_control_are_respected(camille: User, header: str) -> None:
    turn_on()
    assert_untracked(Client(headers={header: "1"}).get("/login/"))
    assert_untracked(client_for(camille).get("/", headers={header: "1"}))
    # "0" (or any other value) is no refusal.
    assert tracker_settings(Client(headers={header: "0"}).get("/login/")) is not None


def test_off_again_the_tracker_and_its_origin_are_gone(camille: User, jeanne: User) -> None:
    turn_on()
    assert all(tracker_settings(response) for response in pages(camille, jeanne))
    do_change_service_settings(acting_user=None, values={"track_visits": False})
    for response in pages(camille, jeanne):
        assert_untracked(response)


def test_an_http_tracker_is_left_out_of_https_pages(camille: User) -> None:
    """The browser would refuse it (mixed content): no tracker, no origin in the policy."""
    turn_on("http://stats.lilas.example/")
    assert tracker_settings(Client().get("/login/")) is not None
    assert_untracked(Client().get("/login/", secure=True))
    turn_on("https://stats.lilas.example/")
    assert tracker_settings(Client().get("/login/", secure=True)) is not None
