"""The chat in a real browser: page load → logged in and the room joined, and page
navigation → chat usable again, through evim's gateway (a back-office page) versus
Converse.js connected straight to Prosody's WebSocket with the password in the page; plus
the bytes a back-office page load transfers with a warm cache.  Same run, same Chromium
(Debian's, through Playwright), same throw-away evim.

    .venv/bin/python bench/chat_pageload.py [--loads 20] [--warm-up 3]

Gateway leg: camille, logged in to the back office, opens ``/`` (the chat bar: chat.js,
``/im/credentials``, ``/im/ws``). Direct leg: the same back-office pages, rendered by the
same evim for the same session, through a bench-only proxy that swaps chat.js for an inline
script starting the same Converse files with the same settings as chat.js, but ``jid`` +
``password`` in the page and ``websocket_url`` Prosody's own
``ws://127.0.0.1:<port>/xmpp-websocket`` (what Jappix did). Both legs thus pay the same
back-office page; they differ by the way the chat connects. The proxy's own cost per page
is measured in the same run and printed.

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
import http.client
import http.server
import json
import os
import re
import sys
import threading
import time
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
from tests.fixtures.http_session import BackOfficeSession

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

# What the proxy puts in place of chat.js's script tag: chat.js's settings, minus the
# gateway, plus the password.
CHAT_SCRIPT = re.compile(r'<script type="module" src="[^"]*/messaging/chat\.[^"]*js"></script>')
DIRECT_SCRIPT = """<script type="module">
const {{ default: converse }} = await import({script});
converse.initialize({settings});
</script>"""


def direct_settings(bench: BenchEvim, chat: dict[str, Any]) -> dict[str, Any]:
    return {
        "view_mode": "overlayed",
        "i18n": "fr",
        "assets_path": chat["assets_path"],
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


class DirectProxy(http.server.BaseHTTPRequestHandler):
    """The direct leg's pages: evim's own, each fetched from evim for the browser's session
    (one kept-alive connection per thread), chat.js swapped for the direct script; every
    other request passed through unchanged.  evim's Content-Security-Policy is dropped: it
    forbids the inline script and the connection to Prosody's port, which is the point."""

    protocol_version = "HTTP/1.1"  # keep-alive, as between the browser and evim
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
    # browser's delayed ACK hold the body back 40 ms.
    disable_nagle_algorithm = True
    upstream: tuple[str, int]
    direct_script: str
    _local = threading.local()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(*self.upstream, timeout=TIMEOUT_MS / 1000)
            self._local.connection = connection
        return connection

    def _fetch(self, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("GET", self.path, headers=headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                # evim ended the idle kept-alive connection (uvicorn: after 5 s): reopen.
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def do_GET(self) -> None:
        passed = ("cookie", "if-none-match", "if-modified-since", "accept", "accept-language")
        headers = {name: value for name, value in self.headers.items() if name.lower() in passed}
        # Uncompressed from evim (the HTML is rewritten): evim then saves the gzip work the
        # gateway leg's pages cost, which favours the direct leg.
        headers["Host"] = "{}:{}".format(*self.upstream)
        status, upstream_headers, body = self._fetch(headers)
        content_type = dict((k.lower(), v) for k, v in upstream_headers).get("content-type", "")
        if content_type.startswith("text/html"):
            html, swapped = CHAT_SCRIPT.subn(self.direct_script, body.decode("utf-8"))
            assert swapped == 1, f"no chat.js script in {self.path}: is camille's chat on?"
            body = html.encode("utf-8")
        self.send_response(status)
        dropped = {"content-length", "content-security-policy", "connection", "keep-alive"}
        for name, value in upstream_headers:
            if name.lower() not in dropped:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def direct_site(bench: BenchEvim) -> Iterator[str]:
    """The direct leg's proxy in front of evim, on a throw-away local port."""
    evim_url = bench.instance.url
    host, _, port = evim_url.removeprefix("http://").partition(":")
    chat = chat_config(bench)
    handler = type(
        "BenchDirectProxy",
        (DirectProxy,),
        {
            "upstream": (host, int(port)),
            "direct_script": DIRECT_SCRIPT.format(
                script=json.dumps(chat["script"]),
                settings=json.dumps(direct_settings(bench, chat)),
            ),
        },
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def chat_config(bench: BenchEvim) -> dict[str, Any]:
    """The chat settings of camille's pages: Converse's files as evim serves them."""
    session = BackOfficeSession(bench.instance.url)
    session.log_in("camille", bench.instance.password)
    _status, page, _headers = session.get("/")
    match = re.search(r'<script id="evim-chat-config" type="application/json">(.*?)</script>', page)
    assert match, "no chat settings in camille's page"
    chat: dict[str, Any] = json.loads(match.group(1))
    return chat


def proxy_cost_ms(page_url: str, proxied_url: str, cookie: str, samples: int = 40) -> float:
    """Median of (page through the proxy − page straight from evim), over ``samples`` GETs
    of each, alternated, each over a kept-alive connection: what the proxy adds per page."""

    def timer(url: str) -> Callable[[], float]:
        host, _, rest = url.removeprefix("http://").partition(":")
        port, _, path = rest.partition("/")
        connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_MS / 1000)

        def get() -> float:
            start = time.perf_counter()
            connection.request("GET", "/" + path, headers={"Cookie": cookie})
            response = connection.getresponse()
            response.read()
            assert response.status == 200, (url, response.status)
            return (time.perf_counter() - start) * 1000

        return get

    straight, proxied = timer(page_url), timer(proxied_url)
    differences = [proxied() - straight() for _ in range(samples)]
    return median(differences)


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
        # Its own back-office session (cookies are per host, not per port: evim's session
        # cookie goes to the proxy too).
        login_tab = direct_context.new_page()
        log_in(login_tab, bench.instance, "camille")
        login_tab.close()
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in direct_context.cookies(url))
        proxy_ms = proxy_cost_ms(f"{url}/", f"{direct_url}/", cookie)
        gateway = Leg("gateway", gateway_context, [f"{url}/", f"{url}/profile/"])
        direct = Leg("direct", direct_context, [f"{direct_url}/", f"{direct_url}/profile/"])

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
    print(
        f"  both legs load the same back-office pages from evim; the direct leg's proxy adds "
        f"{proxy_ms:.1f} ms per page (median, measured in this run), which favours the gateway"
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
