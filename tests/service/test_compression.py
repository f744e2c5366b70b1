"""The Compression option (Advanced): pages gzip-compressed by Django, static files sent
precompressed (Brotli, gzip) by evim's own server, both according to Accept-Encoding, and
neither once an administrator turns the option off."""

from __future__ import annotations

import gzip
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import brotli
import pytest
from django.http import HttpResponse, StreamingHttpResponse
from django.test import Client, RequestFactory

from evim.backoffice.models import User
from evim.service.actions import do_change_service_settings
from evim.service.current import service
from evim.service.middleware import CompressionMiddleware
from tests.fixtures.live_evim import LiveEvim, running_evim
from tests.fixtures.users import client_for

# Every browser sends one of these.
BROWSER = "gzip, deflate, br, zstd"

_CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')


def same_page(body: bytes) -> bytes:
    """The page without its CSRF token, masked anew on every page (BREACH)."""
    return _CSRF.sub(b'name="csrfmiddlewaretoken" value="-"', body)


def test_pages_are_gzipped_while_the_option_is_on(camille: User) -> None:
    client = client_for(camille)
    assert service().compression  # the default
    plain = client.get("/service/settings/")
    compressed = client.get("/service/settings/", HTTP_ACCEPT_ENCODING=BROWSER)
    assert plain.status_code == compressed.status_code == 200
    assert not plain.has_header("Content-Encoding")
    assert compressed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in compressed["Vary"]
    assert int(compressed["Content-Length"]) == len(compressed.content)
    assert len(compressed.content) < len(plain.content) / 2
    page = gzip.decompress(compressed.content)
    assert b'data-section="advanced"' in page
    assert same_page(page) == same_page(plain.content)


def test_no_compression_when_the_option_is_off(camille: User) -> None:
    changed = do_change_service_settings(acting_user=camille, values={"compression": False})
    assert changed == ["compression"]
    response = Client().get("/login/", HTTP_ACCEPT_ENCODING=BROWSER)
    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")
    assert response.content.lstrip().lower().startswith(b"<!doctype html>")


def test_a_streamed_page_is_never_held_back(db: None) -> None:
    """A long operation's progress page streams: each chunk must leave at once."""
    middleware = CompressionMiddleware(lambda request: HttpResponse())
    request = RequestFactory().get("/", HTTP_ACCEPT_ENCODING="gzip")
    chunks = [b"<p>1/3</p>" * 40, b"<p>2/3</p>" * 40]
    response = middleware.process_response(request, StreamingHttpResponse(iter(chunks)))
    assert "Content-Encoding" not in response.headers
    assert isinstance(response, StreamingHttpResponse)
    assert b"".join(response) == b"".join(chunks)  # the very bytes, not gzip


def test_no_compression_for_a_browser_that_does_not_ask_for_it(db: None) -> None:
    response = Client().get("/login/", HTTP_ACCEPT_ENCODING="identity")
    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")
    assert "Accept-Encoding" in response["Vary"]  # another browser would get it compressed


# --- Through the real server (evim run) ---------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def fetch(url: str, method: str = "GET", **headers: str) -> Fetched:
    """urllib sends no Accept-Encoding of its own and decompresses nothing."""
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, found, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:  # 304 comes this way
        status, found, body = error.code, error.headers, error.read()
    return Fetched(status, {key.lower(): value for key, value in found.items()}, body)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    """An evim of its own (its option is turned off and on), without messaging (no XMPP
    server to start); the chat's files are collected all the same."""
    with running_evim(tmp_path_factory.mktemp("compression"), messaging=False) as instance:
        yield instance


def static_root(live: LiveEvim) -> Path:
    return live.data_dir / "static"


def hashed(live: LiveEvim, name: str) -> str:
    manifest = json.loads((static_root(live) / "staticfiles.json").read_text())
    stored: str = manifest["paths"][name]
    return stored


def static_files(live: LiveEvim) -> list[str]:
    """A file under its plain name (revalidated) and one under its hashed name (a year)."""
    return ["converse/emoji.json", hashed(live, "converse/converse.min.css")]


def set_compression(live: LiveEvim, on: bool) -> None:
    live.evim(
        "shell",
        "-c",
        "from evim.service.actions import do_change_service_settings as d; "
        f"d(acting_user=None, values={{'compression': {on}}})",
    )


def await_compression(live: LiveEvim, name: str, on: bool) -> None:
    """Ask until the server follows the change (each process reads the settings again
    within 5 s): a static file and a page, both as a browser asks for them."""
    expected_file, expected_page = ("br", "gzip") if on else (None, None)
    for _ in range(150):
        file = fetch(f"{live.url}/static/{name}", **{"Accept-Encoding": BROWSER})
        page = fetch(f"{live.url}/login/", **{"Accept-Encoding": BROWSER})
        found = (file.header("content-encoding"), page.header("content-encoding"))
        if found == (expected_file, expected_page):
            return
        time.sleep(0.1)  # the interval between two polls, not a wait for the outcome
    pytest.fail(f"compression still {found} 15 s after it was turned {'on' if on else 'off'}")


def test_static_files_are_sent_as_the_browser_accepts(live: LiveEvim) -> None:
    for name in static_files(live):
        url = f"{live.url}/static/{name}"
        original = (static_root(live) / name).read_bytes()
        assert len(original) > 50_000, name

        plain = fetch(url)
        assert plain.status == 200
        assert plain.header("content-encoding") is None
        assert plain.body == original
        assert plain.header("vary") == "Accept-Encoding"  # others get it compressed

        best = fetch(url, **{"Accept-Encoding": BROWSER})
        assert best.header("content-encoding") == "br"
        assert brotli.decompress(best.body) == original
        assert best.header("content-length") == str(len(best.body))
        assert len(best.body) < len(original) / 4
        assert best.header("vary") == "Accept-Encoding"
        assert best.header("content-type") == plain.header("content-type")
        assert best.header("cache-control") == plain.header("cache-control")

        for accept in ("gzip", "gzip, deflate", "br;q=0, gzip"):
            zipped = fetch(url, **{"Accept-Encoding": accept})
            assert zipped.header("content-encoding") == "gzip", accept
            assert gzip.decompress(zipped.body) == original
            assert zipped.header("content-length") == str(len(zipped.body))
        assert len(best.body) < len(zipped.body)

        assert fetch(url, **{"Accept-Encoding": "gzip;q=0"}).body == original
        etags = {plain.header("etag"), best.header("etag"), zipped.header("etag")}
        assert len(etags) == 3, etags  # one per representation

        head = fetch(url, "HEAD", **{"Accept-Encoding": BROWSER})
        assert (head.status, head.body) == (200, b"")
        assert head.header("content-length") == str(len(best.body))


def test_a_compressed_file_is_revalidated_with_its_own_etag(live: LiveEvim) -> None:
    url = f"{live.url}/static/converse/emoji.json"
    best = fetch(url, **{"Accept-Encoding": BROWSER})
    etag = best.header("etag")
    assert etag is not None
    again = fetch(url, **{"Accept-Encoding": BROWSER, "If-None-Match": etag})
    assert (again.status, again.body) == (304, b"")
    assert again.header("etag") == etag
    assert again.header("vary") == "Accept-Encoding"
    # The tag of the Brotli copy is not that of the gzip one: the gzip copy is sent.
    other = fetch(url, **{"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert other.status == 200
    assert other.header("content-encoding") == "gzip"


def test_turning_the_option_off_sends_everything_as_it_is(live: LiveEvim) -> None:
    name = static_files(live)[0]
    url = f"{live.url}/static/{name}"
    original = (static_root(live) / name).read_bytes()
    compressed_etag = fetch(url, **{"Accept-Encoding": BROWSER}).header("etag")
    assert compressed_etag is not None
    set_compression(live, False)
    try:
        await_compression(live, name, on=False)
        for accept in (BROWSER, "gzip"):
            file = fetch(url, **{"Accept-Encoding": accept})
            assert file.header("content-encoding") is None
            assert file.body == original
            assert file.header("content-length") == str(len(original))
            assert file.header("vary") is None  # it varies no more
        # A browser holding the compressed copy gets the file itself.
        revalidated = fetch(url, **{"Accept-Encoding": BROWSER, "If-None-Match": compressed_etag})
        assert revalidated.status == 200
        assert revalidated.body == original
        page = fetch(f"{live.url}/login/", **{"Accept-Encoding": BROWSER})
        assert page.body.lstrip().lower().startswith(b"<!doctype html>")
    finally:
        set_compression(live, True)
    await_compression(live, name, on=True)
    assert brotli.decompress(fetch(url, **{"Accept-Encoding": BROWSER}).body) == original
