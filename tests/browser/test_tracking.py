"""Track visits in a real Chromium against a real evim: a fake Matomo server (a thread of
this test) receives one page view per page load, the pages' policy lets exactly that
through, and nothing else leaves the site."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request

from tests.browser.test_backoffice_pages import log_in
from tests.fixtures.live_evim import LiveEvim

pytestmark = pytest.mark.browser

SITE_ID = 7


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    #: The query string's and the form-encoded body's parameters together.
    params: dict[str, str]
    headers: dict[str, str]


class _MatomoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _MatomoHandler)
        self.hits: list[Hit] = []
        self.arrived = threading.Condition()

    def record(self, hit: Hit) -> None:
        with self.arrived:
            self.hits.append(hit)
            self.arrived.notify_all()


class _MatomoHandler(BaseHTTPRequestHandler):
    """Answers anything as Matomo answers a page view sent with send_image=0: 204."""

    def _record(self) -> None:
        assert isinstance(self.server, _MatomoServer)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        url = urlsplit(self.path)
        self.server.record(
            Hit(
                self.command,
                url.path,
                dict(parse_qsl(url.query) + parse_qsl(body)),
                {name.lower(): value for name, value in self.headers.items()},
            )
        )
        self.send_response(204)
        self.end_headers()

    do_GET = do_POST = do_OPTIONS = _record

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test reads the hits, not a log


class FakeMatomo:
    #: The live evim's policy before tracking was turned on.
    policy_off = ""

    def __init__(self) -> None:
        self.server = _MatomoServer()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self) -> list[Hit]:
        with self.server.arrived:
            return list(self.server.hits)

    def wait_for_hits(self, count: int, timeout: float = 15) -> list[Hit]:
        with self.server.arrived:
            arrived = self.server.arrived.wait_for(lambda: len(self.server.hits) >= count, timeout)
            assert arrived, f"{count} page views expected, {len(self.server.hits)} received"
            return list(self.server.hits)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def change_settings(live_evim: LiveEvim, values: dict[str, Any]) -> None:
    """What an administrator saves on the settings page, from another process (the live
    evim sees it once its 5 s cache expires)."""
    live_evim.evim(
        "shell",
        "-c",
        "from evim.service.actions import do_change_service_settings as d\n"
        f"d(acting_user=None, values={values!r})",
    )


def login_page(live_evim: LiveEvim) -> tuple[str, str]:
    """The login page's policy and HTML, asked over HTTP (not in the browser: no page view)."""
    with urllib.request.urlopen(f"{live_evim.url}/login/", timeout=5) as response:
        policy: str = response.headers["Content-Security-Policy"]
        return policy, response.read().decode()


def wait_for_tracker(live_evim: LiveEvim, *, present: bool) -> None:
    """Until the live evim's pages carry the tracker, or no longer do."""
    deadline = time.monotonic() + 20
    while ('id="evim-tracker"' in login_page(live_evim)[1]) != present:
        assert time.monotonic() < deadline, f"tracking never turned {'on' if present else 'off'}"
        time.sleep(0.1)  # polling interval of the condition above, not a wait for an outcome


@pytest.fixture
def matomo(live_evim: LiveEvim) -> Iterator[FakeMatomo]:
    """A fake Matomo, and tracking on towards it for this test only: the live evim is the
    whole session's, the next test must find tracking off."""
    fake = FakeMatomo()
    fake.policy_off = login_page(live_evim)[0]
    change_settings(
        live_evim,
        {"track_visits": True, "tracker_url": f"{fake.origin}/", "tracker_site_id": SITE_ID},
    )
    try:
        wait_for_tracker(live_evim, present=True)
        yield fake
    finally:
        change_settings(
            live_evim, {"track_visits": False, "tracker_url": "", "tracker_site_id": None}
        )
        wait_for_tracker(live_evim, present=False)
        fake.close()
    assert login_page(live_evim)[0] == fake.policy_off, "off again, the policy is today's"


@dataclass
class Watched:
    requests: list[Request]
    console: list[str]
    errors: list[str]


def watch(page: Page) -> Watched:
    watched = Watched([], [], [])
    page.on("request", lambda request: watched.requests.append(request))
    page.on("console", lambda message: watched.console.append(_text(message)))
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    return watched


def _text(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"


def test_each_page_load_sends_one_page_view_and_nothing_else_leaves(
    page: Page, live_evim: LiveEvim, matomo: FakeMatomo
) -> None:
    watched = watch(page)
    endpoint = f"{matomo.origin}/matomo.php"

    log_in(page, live_evim, "camille")  # the login page, then the home page
    hits = matomo.wait_for_hits(2)
    assert sorted(hit.params["url"] for hit in hits) == [
        f"{live_evim.url}/",
        f"{live_evim.url}/login/",
    ]
    response = page.goto(f"{live_evim.url}/settings/users/")
    assert matomo.wait_for_hits(3)[2].params["url"] == f"{live_evim.url}/settings/users/"
    # The policy allows connections to the tracker's origin, and nothing else more.
    assert response is not None
    assert response.headers["content-security-policy"] == matomo.policy_off.replace(
        "connect-src 'self'", f"connect-src 'self' {matomo.origin}"
    )
    # What follows the path may hold what someone typed: never sent.
    page.goto(f"{live_evim.url}/profile/?from=menu#password")
    assert matomo.wait_for_hits(4)[3].params["url"] == f"{live_evim.url}/profile/"

    hits = matomo.hits
    assert len(hits) == 4, "one page view per page load"
    names = {
        "camille",
        "Camille",
        "Martin",
        "jeanne",
        "Jeanne",
        "Durand",
        "oliver",
        "Oliver",
        "Bennett",
    }
    for hit in hits:
        assert (hit.method, hit.path) == ("POST", "/matomo.php")
        assert hit.params["idsite"] == str(SITE_ID)
        assert hit.params["rec"] == "1"
        assert hit.params["action_name"].startswith("backoffice / ")
        # Neither names nor the session: no cookie, no referrer.
        assert not [name for name in names if name in str(hit.params)], hit.params
        assert "cookie" not in hit.headers
        assert "referer" not in hit.headers
    assert {hit.params["action_name"] for hit in hits} == {
        "backoffice / login",
        "backoffice / home",
        "backoffice / user_list",
        "backoffice / profile",
    }

    # The browser asked evim and the tracker's endpoint, nothing else; the policy refused
    # nothing, no script failed.
    outside = [r.url for r in watched.requests if not r.url.startswith(f"{live_evim.url}/")]
    assert outside == [endpoint] * 4
    assert [text for text in watched.console if "Content Security Policy" in text] == []
    assert watched.errors == []


def test_a_browser_that_asks_not_to_be_tracked_is_not(
    browser: Browser, live_evim: LiveEvim, matomo: FakeMatomo
) -> None:
    context = browser.new_context(locale="fr-FR", extra_http_headers={"DNT": "1"})
    page = context.new_page()
    watched = watch(page)
    log_in(page, live_evim, "jeanne")
    page.goto(f"{live_evim.url}/profile/")
    assert page.locator("#evim-tracker").count() == 0
    assert [r.url for r in watched.requests if not r.url.startswith(f"{live_evim.url}/")] == []
    context.close()

    # The same pages without DNT: tracked (so the above was DNT's doing, not an idle tracker).
    page = browser.new_page(locale="fr-FR")
    page.goto(f"{live_evim.url}/login/")
    assert page.locator("#evim-tracker").count() == 1
    assert matomo.wait_for_hits(1)[0].params["url"] == f"{live_evim.url}/login/"
    page.close()


def test_off_again_pages_carry_no_tracker(page: Page, live_evim: LiveEvim) -> None:
    """Runs after the tests above turned tracking off: nothing of it is left."""
    watched = watch(page)
    log_in(page, live_evim, "camille")
    assert page.locator("#evim-tracker").count() == 0
    response = page.goto(f"{live_evim.url}/settings/users/")
    assert response is not None
    assert "127.0.0.1" not in response.headers["content-security-policy"]
    assert [r.url for r in watched.requests if not r.url.startswith(f"{live_evim.url}/")] == []
