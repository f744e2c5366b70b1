"""The chat in a real browser: page load → logged in and the room joined, and page
navigation → chat usable again, through evim's gateway (a back-office page) versus
Converse.js connected straight to Prosody's WebSocket with the password in the page; plus
the bytes a back-office page load transfers with a warm cache.  Same run, same Chromium
(Debian's, through Playwright), same throw-away evim.

    .venv/bin/python bench/chat_pageload.py [--loads 20] [--warm-up 3]

Gateway leg: camille, logged in to the back office, opens ``/`` (the chat bar: chat.js,
``/im/credentials``, ``/im/ws``). Direct leg: a bench-only page served by a local HTTP
server, loading the same Converse files (``node_modules/converse.js/dist``) with the same
settings as chat.js, but ``jid`` + ``password`` in the page and ``websocket_url`` Prosody's
own ``ws://127.0.0.1:<port>/xmpp-websocket``.

Ready, for both legs alike: the structure's room is in the page with its message box shown
and camille among its occupants (Converse builds its views only once connected: after the
room was joined on a first load, after the XEP-0198 resumption on a navigation). Measured
in the page, from the navigation's start (``performance.timeOrigin``) to the first check
that finds it so (checked every 10 ms). "Page load": a new tab of the same browser profile
(warm cache, no session to resume): a new login and a room join. "Navigation": the next
page in the same tab (the session resumes). The legs take turns, sample by sample.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evim.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_common import UNTHROTTLED, UNTHROTTLED_NOTE, BenchEvim, bench_evim, median, verdict
from playwright.sync_api import BrowserContext, Page, ViewportSize, sync_playwright
from tests.browser.test_backoffice_pages import log_in
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
CONVERSE_DIST = ROOT / "node_modules" / "converse.js" / "dist"
ROOM = "lilas@conference.localhost"
NICKNAME = "Camille Martin"
TIMEOUT_MS = 60_000

# The same condition in both pages: the room's view, its message box shown, camille in it.
READY = f"""() => {{
  const room = document.querySelector("converse-muc[jid='{ROOM}']");
  if (!room) return false;
  const box = room.querySelector("textarea.chat-textarea");
  if (!box || !box.offsetParent) return false;
  const nicks = [...room.querySelectorAll(".occupant-nick")].map((e) => e.textContent.trim());
  return nicks.includes({json.dumps(NICKNAME)}) ? performance.now() : false;
}}"""

# The direct leg's page: chat.js's settings, minus the gateway, plus the password.
DIRECT_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>direct</title>
<link rel="stylesheet" href="/converse/converse.min.css">
<link rel="modulepreload" href="/converse/converse.min.js">
<script type="module">
const { default: converse } = await import("/converse/converse.min.js");
converse.initialize(%(settings)s);
</script></head>
<body><main><h1>Converse straight to Prosody</h1></main></body></html>
"""


def direct_settings(bench: BenchEvim) -> dict[str, Any]:
    return {
        "view_mode": "overlayed",
        "i18n": "fr",
        "assets_path": "/converse/",
        "authentication": "login",
        "auto_login": True,
        "jid": "camille@localhost",
        "password": bench.passwords["camille@localhost"],
        "websocket_url": bench.prosody_url,
        "discover_connection_methods": False,
        "allow_logout": False,
        "allow_registration": False,
        "nickname": NICKNAME,
        "auto_join_rooms": [ROOM],
        "auto_register_muc_nickname": False,
        "muc_respect_autojoin": False,
        "autocomplete_providers_url": "",
        "xmpp_providers_url": "",
        "embed_3rd_party_media_players": False,
        "render_media": False,
        "fetch_url_headers": False,
        "blacklisted_plugins": [
            "converse-omemo",
            "converse-omemo-views",
            "converse-register",
            "converse-push",
        ],
        "show_desktop_notifications": False,
        "play_sounds": False,
        "auto_reconnect": True,
        "mam_request_all_pages": True,
        "clear_messages_on_reconnection": False,
        "show_controlbox_by_default": False,
        "loglevel": "warn",
    }


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def direct_site(bench: BenchEvim) -> Iterator[str]:
    """The bench-only page and Converse's files on a throw-away local HTTP server."""
    with tempfile.TemporaryDirectory(prefix="evim-bench-direct-") as directory:
        site = Path(directory)
        (site / "converse").symlink_to(CONVERSE_DIST)
        page = DIRECT_PAGE % {"settings": json.dumps(direct_settings(bench))}
        (site / "index.html").write_text(page)
        handler = functools.partial(QuietHandler, directory=str(site))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def ready_ms(page: Page) -> float:
    """Milliseconds from the page's navigation start to the chat ready (READY)."""
    return float(page.wait_for_function(READY, polling=10, timeout=TIMEOUT_MS).json_value())


def page_ms(page: Page) -> float:
    """Milliseconds from the navigation's start to the page's HTML received (responseEnd)."""
    return float(page.evaluate("performance.getEntriesByType('navigation')[0].responseEnd"))


class Traffic:
    """Bytes a tab transfers over HTTP (Chrome's encodedDataLength: 0 for a cache hit)."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.bytes = 0
        self.requests = 0
        self.from_cache = 0
        self.urls: dict[str, str] = {}
        self.transferred: list[str] = []
        session = context.new_cdp_session(page)
        session.send("Network.enable")
        session.on("Network.requestWillBeSent", self._request)
        session.on("Network.requestServedFromCache", lambda _event: self._cached())
        session.on("Network.loadingFinished", self._finished)

    def _request(self, event: dict[str, Any]) -> None:
        self.requests += 1
        self.urls[event["requestId"]] = event["request"]["url"]

    def _cached(self) -> None:
        self.from_cache += 1

    def _finished(self, event: dict[str, Any]) -> None:
        size = int(event.get("encodedDataLength", 0))
        self.bytes += size
        if size:
            url = self.urls.get(event["requestId"], "?").split("/", 3)[-1]
            self.transferred.append(f"/{url} {size} B")

    def reset(self) -> None:
        self.bytes = self.requests = self.from_cache = 0
        self.transferred = []


class Leg:
    """One way of having the chat: its browser profile, its pages, its samples."""

    def __init__(self, name: str, context: BrowserContext, pages: list[str]) -> None:
        self.name = name
        self.context = context
        self.pages = pages
        self.loads: list[float] = []
        self.navigations: list[float] = []
        self.html: list[float] = []  # of the navigations: the page's HTML received
        self.tab: Page | None = None
        self.turn = 0

    def load(self, record: bool) -> None:
        """A new tab: a first page load (new login, room joined)."""
        if self.tab is not None:
            self.tab.close()
        self.tab = self.context.new_page()
        self.tab.goto(self.pages[0])
        elapsed = ready_ms(self.tab)
        if record:
            self.loads.append(elapsed)

    def navigate(self, record: bool, on_page: Callable[[Page], None] | None = None) -> float:
        """The next page in the same tab (the session resumes)."""
        assert self.tab is not None
        self.turn += 1
        self.tab.goto(self.pages[self.turn % len(self.pages)])
        elapsed = ready_ms(self.tab)
        if record:
            self.navigations.append(elapsed)
            self.html.append(page_ms(self.tab))
        return elapsed


def measure(bench: BenchEvim, loads: int, warm_up: int) -> None:
    url = bench.instance.url
    with direct_site(bench) as direct_url, sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        viewport: ViewportSize = {"width": 1280, "height": 900}
        gateway_context = browser.new_context(locale="fr-FR", viewport=viewport)
        login_tab = gateway_context.new_page()
        log_in(login_tab, bench.instance, "camille")
        ready_ms(login_tab)
        login_tab.close()
        direct_context = browser.new_context(locale="fr-FR", viewport=viewport)
        gateway = Leg("gateway", gateway_context, [f"{url}/", f"{url}/profile/"])
        direct = Leg("direct", direct_context, [f"{direct_url}/?a", f"{direct_url}/?b"])

        for index in range(warm_up + loads):
            record = index >= warm_up
            legs = (gateway, direct) if index % 2 == 0 else (direct, gateway)
            for leg in legs:
                leg.load(record)
            for leg in legs:
                leg.navigate(record)

        # Bytes of a back-office page load with a warm cache (navigations, as users move).
        assert gateway.tab is not None
        traffic = Traffic(gateway_context, gateway.tab)
        sizes: list[int] = []
        counts: list[tuple[int, int]] = []
        transferred: list[str] = []
        for _ in range(10):
            traffic.reset()
            gateway.navigate(record=False)
            sizes.append(traffic.bytes)
            counts.append((traffic.requests, traffic.from_cache))
            transferred = list(traffic.transferred)
        browser.close()

    print(
        f"Chromium (Debian's), {loads} samples per leg after {warm_up} warm-up; {UNTHROTTLED_NOTE}"
    )
    for label, gateway_values, direct_values in (
        ("page load → logged in, room joined", gateway.loads, direct.loads),
        ("navigation → chat usable again   ", gateway.navigations, direct.navigations),
    ):
        print(
            f"{label}: gateway median {median(gateway_values):.0f} ms "
            f"(min {min(gateway_values):.0f}, max {max(gateway_values):.0f}), "
            f"direct median {median(direct_values):.0f} ms "
            f"(min {min(direct_values):.0f}, max {max(direct_values):.0f}); ratio "
            + verdict(median(gateway_values) / median(direct_values), 1.2, at_most=True)
        )
    after_html = {
        leg.name: median([r - h for r, h in zip(leg.navigations, leg.html, strict=True)])
        for leg in (gateway, direct)
    }
    print(
        f"  of which the page's HTML (responseEnd): gateway median {median(gateway.html):.0f} ms, "
        f"direct median {median(direct.html):.0f} ms; after it, gateway "
        f"{after_html['gateway']:.0f} ms, direct {after_html['direct']:.0f} ms (ratio "
        f"{after_html['gateway'] / after_html['direct']:.2f})"
    )
    requests, cached = counts[-1]
    print(
        f"bytes over HTTP per back-office page load, warm cache: median {median(sizes):.0f} B "
        f"(min {min(sizes)}, max {max(sizes)}); {requests} requests, {cached} from the cache"
    )
    print("  transferred on the last one: " + ", ".join(transferred))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=20, help="measured samples per leg")
    parser.add_argument("--warm-up", type=int, default=3, help="per leg, not measured")
    options = parser.parse_args()
    with bench_evim(UNTHROTTLED) as bench:
        measure(bench, options.loads, options.warm_up)


if __name__ == "__main__":
    main()
