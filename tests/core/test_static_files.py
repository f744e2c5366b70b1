"""evim's ASGI app serves collected static files itself, safely."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import brotli

from evim.lib.static_files import StaticFiles, acceptable_codings
from evim.lib.static_storage import precompress


def call(
    app: StaticFiles, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []
    request_headers = [(key.encode(), value.encode()) for key, value in (headers or {}).items()]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": method, "path": path, "headers": request_headers}
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    response = {key.decode(): value.decode() for key, value in start.get("headers", [])}
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return start["status"], response, body


def make_app(tmp_path: Path) -> StaticFiles:
    root = tmp_path / "static"
    (root / "backoffice").mkdir(parents=True)
    (root / "backoffice" / "evim.3f2a9c1b7d4e.css").write_text("body{}")
    (root / "backoffice" / "evim.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("not for you")
    return StaticFiles(root=root, prefix="/static/")


def test_hashed_file_is_cached_for_a_year(tmp_path: Path) -> None:
    status, headers, body = call(make_app(tmp_path), "/static/backoffice/evim.3f2a9c1b7d4e.css")
    assert (status, body) == (200, b"body{}")
    assert headers["content-type"] == "text/css; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-length"] == "6"


def test_unhashed_file_is_revalidated(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    _, headers, _ = call(app, "/static/backoffice/evim.css")
    assert headers["cache-control"] == "no-cache"
    etag = headers["etag"]
    # The browser asks again with the tag it has: not modified, no body.
    status, again, body = call(app, "/static/backoffice/evim.css", headers={"If-None-Match": etag})
    assert (status, body, again["etag"]) == (304, b"", etag)
    assert (
        call(app, "/static/backoffice/evim.css", headers={"If-None-Match": f"W/{etag}"})[0] == 304
    )
    assert call(app, "/static/backoffice/evim.css", headers={"If-None-Match": '"x", *'})[0] == 304
    # Once the file changes, so does its tag: the new content comes.
    (tmp_path / "static" / "backoffice" / "evim.css").write_text("body{color:red}")
    status, changed, body = call(
        app, "/static/backoffice/evim.css", headers={"If-None-Match": etag}
    )
    assert (status, body) == (200, b"body{color:red}")
    assert changed["etag"] != etag


def test_head_sends_no_body(tmp_path: Path) -> None:
    status, headers, body = call(make_app(tmp_path), "/static/backoffice/evim.css", "HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", "6")


def test_nothing_outside_the_root(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    for path in ("/static/../secret.txt", "/static/backoffice/../../secret.txt", "/static/"):
        status, _, body = call(app, path)
        assert status == 404, path
        assert b"not for you" not in body


def test_missing_file_and_other_methods(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert call(app, "/static/nope.css")[0] == 404
    status, headers, _ = call(app, "/static/backoffice/evim.css", "POST")
    assert (status, headers["allow"]) == (405, "GET, HEAD")


# --- Precompressed copies (the service's Compression option) --------------------------------

CSS = b"body{color:#123456;margin:0}\n" * 100


def make_compressed_app(tmp_path: Path, *, compress: bool = True) -> tuple[StaticFiles, Path]:
    root = tmp_path / "static"
    root.mkdir()
    path = root / "site.css"
    path.write_bytes(CSS)
    assert precompress([(path, False)]) == 2
    return StaticFiles(root=root, prefix="/static/", compress=lambda: compress), path


def test_the_copy_the_browser_accepts_is_sent(tmp_path: Path) -> None:
    app, _ = make_compressed_app(tmp_path)
    status, headers, body = call(app, "/static/site.css", headers={"Accept-Encoding": "gzip, br"})
    assert (status, headers["content-encoding"]) == (200, "br")
    assert brotli.decompress(body) == CSS
    assert headers["content-length"] == str(len(body))
    assert headers["vary"] == "Accept-Encoding"
    assert headers["content-type"] == "text/css; charset=utf-8"
    _, zipped, body = call(app, "/static/site.css", headers={"Accept-Encoding": "gzip"})
    assert (zipped["content-encoding"], gzip.decompress(body)) == ("gzip", CSS)
    _, plain, body = call(app, "/static/site.css")
    assert (body, "content-encoding" in plain, plain["vary"]) == (CSS, False, "Accept-Encoding")
    assert len({headers["etag"], zipped["etag"], plain["etag"]}) == 3


def test_a_stale_copy_is_never_sent(tmp_path: Path) -> None:
    app, path = make_compressed_app(tmp_path)
    path.write_bytes(CSS + b"p{}\n")  # written again without its copies (no collectstatic)
    status, headers, body = call(app, "/static/site.css", headers={"Accept-Encoding": "br, gzip"})
    assert (status, body) == (200, CSS + b"p{}\n")
    assert "content-encoding" not in headers
    assert "vary" not in headers  # no copy of this version: nothing to vary


def test_nothing_compressed_while_compress_says_no(tmp_path: Path) -> None:
    app, _ = make_compressed_app(tmp_path, compress=False)
    _, headers, body = call(app, "/static/site.css", headers={"Accept-Encoding": "br, gzip"})
    assert body == CSS
    assert "content-encoding" not in headers and "vary" not in headers


def test_accept_encoding_weights() -> None:
    assert acceptable_codings("gzip, deflate, br, zstd") == ["br", "gzip"]
    assert acceptable_codings("gzip;q=1.0, br;q=0.5") == ["gzip", "br"]
    assert acceptable_codings("br;q=0, gzip") == ["gzip"]
    assert acceptable_codings("BR ; Q=0.8, x-gzip") == ["gzip", "br"]
    assert acceptable_codings("*") == ["br", "gzip"]
    assert acceptable_codings("*;q=0, gzip") == ["gzip"]
    assert acceptable_codings("identity") == []
    assert acceptable_codings("") == []
    assert acceptable_codings("gzip;q=nonsense, br") == ["br"]
