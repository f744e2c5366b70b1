"""Finding the Prosody programs (``prosody``, ``prosodyctl``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from evim.managed_server.errors import ProsodyNotFoundError


def find_program(name: str) -> str | None:
    """The absolute path of ``name`` (a path, or a name looked up in PATH), or None."""
    if os.sep in name:
        path = Path(name).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.absolute())
        return None
    return shutil.which(name)


def require_program(name: str, setting: str) -> str:
    """Like :func:`find_program`, but raise :class:`ProsodyNotFoundError` naming ``setting``."""
    found = find_program(name)
    if found is None:
        raise ProsodyNotFoundError(name, setting)
    return found
