"""Serve collected static files from evim's own ASGI app.

Files come from STATIC_ROOT, filled by ``collectstatic`` with hashed names
(ManifestStaticFilesStorage), so they can be cached for a year.  Files under their plain
names (the chat's translations and emoji list, which Converse.js loads by name) are
revalidated instead: each response carries an ETag (size and modification time), and a
request whose ``If-None-Match`` matches gets ``304 Not Modified`` without the body.  Only
GET and HEAD; the path is resolved and must stay inside the root.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CHUNK_SIZE = 64 * 1024
# Names ManifestStaticFilesStorage made unique with a content hash ("evim.3f2a9c1b7d4e.css").
_HASHED_SUFFIX_LENGTH = 12


def _is_hashed(path: Path) -> bool:
    parts = path.name.split(".")
    return len(parts) >= 3 and len(parts[-2]) == _HASHED_SUFFIX_LENGTH and parts[-2].isalnum()


class StaticFiles:
    def __init__(self, *, root: Path, prefix: str) -> None:
        self.root = root.resolve()
        self.prefix = prefix

    def resolve(self, request_path: str) -> Path | None:
        relative = request_path[len(self.prefix) :]
        if not relative or "\x00" in relative:
            return None
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, b"Method not allowed", [(b"allow", b"GET, HEAD")])
            return
        path = self.resolve(scope["path"])
        if path is None:
            await _respond(send, 404, b"Not found")
            return
        content_type, encoding = mimetypes.guess_type(path.name)
        if content_type is None or encoding is not None:
            content_type = "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript",):
            content_type += "; charset=utf-8"
        cache = "public, max-age=31536000, immutable" if _is_hashed(path) else "no-cache"
        stat = path.stat()
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        headers = [
            (b"cache-control", cache.encode()),
            (b"etag", etag.encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        if _matches(_header(scope, b"if-none-match"), etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(stat.st_size).encode()),
                    *headers,
                ],
            }
        )
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        with path.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: ``*``, or one of the listed tags (weak comparison)."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})
