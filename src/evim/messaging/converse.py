"""Converse.js, the chat's browser client: its prebuilt files served as static files.

``npm ci`` (``scripts/setup-lib.sh``) installs the version pinned in package-lock.json into
``node_modules/converse.js``; :class:`ConverseFinder` hands ``collectstatic`` the part of its
``dist/`` folder the chat uses, under ``static/converse/``.  Left out: the unminified build,
the project's own website styles.  The OMEMO library (``libomemo.esm.min.js``, GPL-3.0) and
its WebAssembly are collected, but requested only by Converse's OMEMO plugin, which the
chat loads only while the service's "encryption" is on.

The module script and its ``chunkjs/`` (translations, loaded on demand relative to the
script) stay side by side; ``emoji.json``, the sounds and images are found through
Converse's ``assets_path`` (:data:`ASSETS_PATH`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Literal, overload

from django.conf import settings
from django.contrib.staticfiles import utils
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage
from django.core.files.storage import FileSystemStorage

#: Where the files go under STATIC_URL.
PREFIX = "converse"
#: The module script, its stylesheet (relative to STATIC_URL, for ``{% static %}``).
SCRIPT = f"{PREFIX}/converse.min.js"
STYLESHEET = f"{PREFIX}/converse.min.css"

#: OMEMO (service option "encryption"): Converse imports the library by its plain name,
#: beside its own module; the library fetches its WebAssembly (chat.js says from where).
OMEMO_LIBRARY = "libomemo.esm.min.js"
OMEMO_WASM = "curve25519_compiled.wasm"
OMEMO_WASM_PATH = f"{PREFIX}/{OMEMO_WASM}"

# What the chat uses from dist/.  The source maps are there because the script and the
# chunks name them (ManifestStaticFilesStorage rewrites that line with their hashed names).
_FILES = frozenset(
    {
        "converse.min.js",
        "converse.min.js.map",
        "converse.min.css",
        "emoji.json",
        OMEMO_LIBRARY,
        OMEMO_WASM,
    }
)
_FOLDERS = ("chunkjs", "images", "sounds", "webfonts")


def assets_path() -> str:
    """Converse's ``assets_path``: where it finds emoji.json, sounds and images."""
    return f"{settings.STATIC_URL.rstrip('/')}/{PREFIX}"


def served(relative: str) -> bool:
    """Whether ``relative`` (a path inside dist/, with slashes) is one the chat uses."""
    parts = PurePosixPath(relative).parts
    if not parts or ".." in parts or relative.startswith("/"):
        return False
    return relative in _FILES or (len(parts) > 1 and parts[0] in _FOLDERS)


class _PrefixedStorage(FileSystemStorage):
    """The files' storage; collectstatic places them under its ``prefix``."""

    prefix = PREFIX


class ConverseFinder(BaseFinder):
    """The chat's files from ``settings.EVIM_CONVERSE_DIR``, under ``converse/``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.root = Path(settings.EVIM_CONVERSE_DIR)
        self.storage = _PrefixedStorage(location=self.root)

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        return []  # messaging.E002 (checks.py): the files matter only when messaging is on

    @overload
    def find(self, path: str, find_all: Literal[False] = False) -> str | None: ...
    @overload
    def find(self, path: str, find_all: Literal[True]) -> list[str]: ...
    def find(self, path: str, find_all: bool = False) -> str | list[str] | None:
        relative = path.removeprefix(f"{PREFIX}/") if path.startswith(f"{PREFIX}/") else None
        found = None
        if relative is not None and served(relative) and (self.root / relative).is_file():
            found = str(self.root / relative)
        if find_all:
            return [found] if found else []
        return found

    def list(
        self, ignore_patterns: Iterable[str] | None
    ) -> Iterator[tuple[str, FileSystemStorage]]:
        if not self.root.is_dir():
            return
        for relative in utils.get_files(self.storage, list(ignore_patterns or ())):
            if served(relative.replace("\\", "/")):
                yield relative, self.storage


def installed() -> bool:
    return (Path(settings.EVIM_CONVERSE_DIR) / "converse.min.js").is_file()
