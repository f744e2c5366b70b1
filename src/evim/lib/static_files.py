"""Serve collected static files from evim's own ASGI app.

Files come from STATIC_ROOT, filled by ``collectstatic`` with hashed names
(ManifestStaticFilesStorage), so they can be cached for a year.  Files under their plain
names (the chat's translations and emoji list, which Converse.js loads by name) are
revalidated instead: each response carries an ETag (size and modification time), and a
request whose ``If-None-Match`` matches gets ``304 Not Modified`` without the body.  Only
GET and HEAD; the path is resolved and must stay inside the root.

Compression: ``collectstatic`` also writes ``NAME.br`` and ``NAME.gz`` beside the text files
(:mod:`evim.lib.static_storage`).  While ``compress()`` says so, a request that accepts one
of them gets it (Brotli first) with ``Content-Encoding``, its own length and its own ETag;
any answer about such a file says ``Vary: Accept-Encoding``.  A compressed file is used only
if it was made from this very version of the file (same modification time, see
:func:`variant_is_current`): a file collected again without them is sent as it is.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
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

#: Content codings of the precompressed files, the server's preference first (Brotli makes
#: the smaller files), each with the suffix of its file and of its ETag.
ENCODINGS: tuple[tuple[str, str], ...] = (("br", ".br"), ("gzip", ".gz"))


def _is_hashed(path: Path) -> bool:
    parts = path.name.split(".")
    return len(parts) >= 3 and len(parts[-2]) == _HASHED_SUFFIX_LENGTH and parts[-2].isalnum()


def variant_is_current(variant: os.stat_result, original: os.stat_result) -> bool:
    """Whether a compressed file was made from this version of its original: the storage
    gives it the original's modification time, which changes whenever the file is written
    again."""
    return variant.st_mtime_ns == original.st_mtime_ns


def _never() -> bool:
    return False


class StaticFiles:
    def __init__(self, *, root: Path, prefix: str, compress: Callable[[], bool] = _never) -> None:
        """``compress`` is asked on every request (it must answer at once, without I/O):
        whether precompressed files may be sent."""
        self.root = root.resolve()
        self.prefix = prefix
        self.compress = compress

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
        body_path, length, headers = path, stat.st_size, []
        if self.compress():
            variants = _variants(path, stat)
            if variants:
                headers.append((b"vary", b"Accept-Encoding"))
            for coding in acceptable_codings(_header(scope, b"accept-encoding")):
                if coding in variants:
                    body_path, length = variants[coding]
                    # The same scheme, one tag per coding: a cached copy is revalidated
                    # only against the same representation (RFC 9110 §8.8.3).
                    etag = f'{etag[:-1]}-{coding}"'
                    headers.append((b"content-encoding", coding.encode()))
                    break
        headers += [
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
                    (b"content-length", str(length).encode()),
                    *headers,
                ],
            }
        )
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        with body_path.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _variants(path: Path, original: os.stat_result) -> dict[str, tuple[Path, int]]:
    """The current compressed files of ``path``, by coding: their path and size."""
    found = {}
    for coding, suffix in ENCODINGS:
        variant = path.with_name(path.name + suffix)
        try:
            stat = variant.stat()
        except OSError:
            continue
        if variant_is_current(stat, original):
            found[coding] = (variant, stat.st_size)
    return found


def acceptable_codings(accept_encoding: str) -> list[str]:
    """The codings of :data:`ENCODINGS` that ``accept_encoding`` allows, best first: the
    client's weights (RFC 9110 §12.5.3: ``q=0`` refuses, ``*`` stands for the unnamed
    codings), the server's preference between equals."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, parameters = item.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        if name == "x-gzip":  # the old name, to be taken as gzip (RFC 9110 §8.4.1.3)
            name = "gzip"
        weight = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        weights[name] = weight
    default = weights.get("*", 0.0)
    ranked = [
        (weights.get(coding, default), -rank, coding) for rank, (coding, _) in enumerate(ENCODINGS)
    ]
    return [coding for weight, _, coding in sorted(ranked, reverse=True) if weight > 0]


def _header(scope: Scope, name: bytes) -> str:
    """A header's value; a list header sent on several lines, joined into one."""
    values = [
        bytes(value).decode("latin-1")
        for key, value in scope.get("headers", ())
        if key.lower() == name
    ]
    return ", ".join(values)


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
