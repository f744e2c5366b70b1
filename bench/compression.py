"""Bytes a back-office page load transfers on a cold cache, compressed or not: the Compression
option (Advanced) at work.  A throw-away ``evim run`` (messaging off: the chat's files are
collected and served all the same), camille logged in.

    .venv/bin/python bench/compression.py

Fetched like a browser with an empty cache: the home page, the files it links (style
sheet, script, icon), and the chat's files a page with the chat loads (Converse's script,
style sheet, emoji list, French translations).  Three ways: as today's browsers ask
(``gzip, deflate, br, zstd``: Brotli for the files), gzip only, and uncompressed (what any
browser gets with the option off).  Bodies only (headers are the same few hundred bytes).
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.live_evim import LiveEvim, running_evim

# The chat's files: the page names the first two by their hashed names ({% static %});
# Converse asks for the others by their own names (its assets path, its chunks).
CHAT_HASHED = ("converse/converse.min.js", "converse/converse.min.css")
CHAT_BY_NAME = ("converse/emoji.json", "converse/chunkjs/locales/fr-LC_MESSAGES-converse-po.js")
WAYS = {"browser (br)": "gzip, deflate, br, zstd", "gzip": "gzip", "uncompressed": "identity"}


def logged_in(live: LiveEvim) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(f"{live.url}/login/") as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    fields = {"username": "camille", "password": live.password, "csrfmiddlewaretoken": token[1]}
    request = urllib.request.Request(
        f"{live.url}/login/",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Referer": f"{live.url}/login/"},
    )
    with opener.open(request) as response:
        assert response.url.rstrip("/") == live.url, "login failed"
    return opener


def fetch(opener: urllib.request.OpenerDirector, url: str, accept: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": accept})
    with opener.open(request) as response:
        return len(response.read()), response.headers.get("Content-Encoding", "-")


def page_load(live: LiveEvim, opener: urllib.request.OpenerDirector) -> list[str]:
    """The home page and every file it and the chat load, as URLs."""
    with opener.open(f"{live.url}/") as response:
        page = response.read().decode()
    linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    manifest = json.loads((live.data_dir / "static" / "staticfiles.json").read_text())["paths"]
    chat = [f"/static/{manifest[name]}" for name in CHAT_HASHED]
    chat += [f"/static/{name}" for name in CHAT_BY_NAME]
    return [f"{live.url}/", *(f"{live.url}{path}" for path in dict.fromkeys(linked + chat))]


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as data_dir,
        running_evim(Path(data_dir), messaging=False) as live,
    ):
        opener = logged_in(live)
        urls = page_load(live, opener)
        totals = dict.fromkeys(WAYS, 0)
        print(f"{'resource':58} " + " ".join(f"{way:>20}" for way in WAYS))
        for url in urls:
            cells = []
            for way, accept in WAYS.items():
                size, coding = fetch(opener, url, accept)
                totals[way] += size
                cells.append(f"{size:>13,} {coding:>6}")
            shown = url.removeprefix(live.url).removeprefix("/static/")
            print(f"{shown[-58:]:58} " + " ".join(cells))
        print(f"{'total':58} " + " ".join(f"{totals[way]:>20,}" for way in WAYS))
        plain = totals["uncompressed"]
        for way in ("browser (br)", "gzip"):
            print(f"{way}: {totals[way] / plain:.1%} of the uncompressed bytes")


if __name__ == "__main__":
    main()
