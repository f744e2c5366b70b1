"""collectstatic's storage: hashed names (ManifestStaticFilesStorage), plus compressed copies.

After the hashing, every text-like file of :data:`COMPRESSIBLE` of at least
:data:`MIN_SIZE` bytes gets ``NAME.gz`` (gzip, level 9) and ``NAME.br`` (Brotli) beside it,
each kept only when smaller than the file.  :class:`evim.lib.static_files.StaticFiles` sends
them to the browsers that accept them while the service's Compression option is on.

They are always written, whatever the option: it is read when a file is served, so turning
it on takes effect at once, without collecting again.  This lives beside the server that
sends the files, not in the service app: it is part of how evim stores its static files.

``evim run`` collects on every start, so a file is compressed only when it changed: each
compressed copy bears its original's modification time, which the server checks too (a
stale copy is never sent); a hashed name stands for its content, so its copies stay valid
when ManifestStaticFilesStorage writes it again (it rewrites the stylesheets and scripts on
every run).  Files with the same content (a plain name and its hashed copy) are compressed
once; the work is spread over the cores.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage

from evim.lib.static_files import ENCODINGS, variant_is_current

logger = logging.getLogger("evim.static")

#: Files worth compressing: text, and the font and icon formats that are not compressed.
#: Images, sounds and WOFF2 fonts are already compressed.
COMPRESSIBLE = frozenset(
    {".css", ".js", ".mjs", ".json", ".map", ".svg", ".html", ".htm", ".txt", ".xml"}
    | {".ico", ".ttf", ".otf"}
)
#: Source maps are only fetched by the browser's developer tools, and are most of the bytes
#: (Converse's: 17 of 28 MB): gzip only, Brotli's extra saving is not worth its time there.
GZIP_ONLY = frozenset({".map"})
#: Below this, the headers outweigh any saving.
MIN_SIZE = 1024
#: Measured on Converse's files (11 MB of scripts and styles), one core: gzip -9 makes 29 %
#: of the size in about 1 s; Brotli quality 8: 27 % in about 1.5 s; quality 11: 25 % in
#: 30 s.  Quality 11 would add half a minute to the first start after each upgrade (and to
#: every test instance) to save some 25 KB on the chat's script, fetched once per upgrade.
BROTLI_QUALITY = 8
_BROTLI_MODES = {".ttf": brotli.MODE_FONT, ".otf": brotli.MODE_FONT, ".ico": brotli.MODE_GENERIC}


@dataclass(frozen=True)
class _Target:
    """A compressed copy to write: where, and the original's state it must bear."""

    path: Path
    original: os.stat_result


class PrecompressedManifestStaticFilesStorage(ManifestStaticFilesStorage):
    def post_process(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        hashed_names: set[str] = set()
        for name, hashed_name, processed in super().post_process(*args, **kwargs):
            if isinstance(hashed_name, str) and not isinstance(processed, Exception):
                hashed_names.add(hashed_name)
            yield name, hashed_name, processed
        if kwargs.get("dry_run"):
            return
        paths: dict[str, Any] = args[0] if args else kwargs["paths"]
        files = [(Path(self.path(name)), False) for name in paths]
        files += [(Path(self.path(name)), True) for name in hashed_names]
        precompress(files)


def precompress(files: Iterable[tuple[Path, bool]]) -> int:
    """Write the missing or stale compressed copies of ``files`` (path, whether its name
    stands for its content); returns how many contents were compressed (gzip and Brotli
    counted apart, a content shared by several files once)."""
    started = time.monotonic()
    sources: dict[bytes, Path] = {}  # content digest → one file holding it
    work: dict[tuple[bytes, str], list[_Target]] = {}  # (digest, suffix) → copies to write
    for path, named_by_content in files:
        suffix = path.suffix.lower()
        if suffix not in COMPRESSIBLE:
            continue
        original = path.stat()  # before reading: a later change makes the copies stale
        if original.st_size < MIN_SIZE:
            continue
        digest: bytes | None = None
        for _, extension in _encodings(suffix):
            target = path.with_name(path.name + extension)
            if _up_to_date(target, original, named_by_content):
                continue
            if digest is None:
                digest = hashlib.sha256(path.read_bytes()).digest()
                sources.setdefault(digest, path)
            work.setdefault((digest, extension), []).append(_Target(target, original))
    if not work:
        return 0

    def compress(item: tuple[tuple[bytes, str], list[_Target]]) -> None:
        (digest, extension), targets = item
        _compress(sources[digest], extension, targets)

    # zlib and Brotli release the GIL while they compress: one file per core at a time.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(compress, work.items()))
    elapsed = time.monotonic() - started
    logger.info("Static files: %d compressed copies made in %.1f s", len(work), elapsed)
    return len(work)


def _encodings(suffix: str) -> list[tuple[str, str]]:
    return [
        (coding, extension)
        for coding, extension in ENCODINGS
        if coding == "gzip" or suffix not in GZIP_ONLY
    ]


def _up_to_date(target: Path, original: os.stat_result, named_by_content: bool) -> bool:
    try:
        copy = target.stat()
    except FileNotFoundError:
        return False
    if variant_is_current(copy, original):
        return True
    if named_by_content:  # the same name, so the same content: only written again
        _bear(target, original)
        return True
    return False


def _compress(source: Path, extension: str, targets: list[_Target]) -> None:
    data = source.read_bytes()
    if extension == ".gz":
        # mtime=0: the same file gives the same bytes (no date in the header).
        compressed = gzip.compress(data, compresslevel=9, mtime=0)
    else:
        mode = _BROTLI_MODES.get(source.suffix.lower(), brotli.MODE_TEXT)
        compressed = brotli.compress(data, mode=mode, quality=BROTLI_QUALITY)
    for target in targets:
        if len(compressed) < len(data):
            _write(target, compressed)
        else:  # not worth it (any older copy is stale: this content is new)
            target.path.unlink(missing_ok=True)


def _write(target: _Target, content: bytes) -> None:
    """Replace the copy at once (a server reading it never sees half a file)."""
    descriptor, name = tempfile.mkstemp(dir=target.path.parent, prefix=".compressing-")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        # mkstemp makes it private: the copy is for whoever may read the original.
        temporary.chmod(stat.S_IMODE(target.original.st_mode))
        _bear(temporary, target.original)
        temporary.replace(target.path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _bear(path: Path, original: os.stat_result) -> None:
    """Give the copy its original's modification time: the mark of which version it is."""
    os.utime(path, ns=(original.st_atime_ns, original.st_mtime_ns))
