"""Django system checks for the managed XMPP server (``evim check``).

- ``managed_server.E001``: the Prosody program is not found (managed mode only; reported
  through :func:`check_prosody_installed`, which the messaging app calls when messaging is
  enabled: without messaging, evim needs no XMPP server and must start without Prosody).
- ``managed_server.E002``: the client (c2s) and HTTP ports are the same.
- ``managed_server.W001``: the data directory cannot be written.
- ``managed_server.W002``: ``prosodyctl`` is not found (accounts cannot be created).
- ``managed_server.W003``: the admin socket path is too long for a Unix socket.
- ``managed_server.E003``: the XMPP domain, MUC host or address is not a valid host name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from evim.managed_server.layout import ServerLayout
from evim.managed_server.programs import find_program

INSTALL_HINT = (
    'Install Prosody ("sudo apt-get install prosody" on Debian/Ubuntu), set {setting} to '
    "the program's path, or use EVIM_XMPP_SERVER=external."
)
#: sockaddr_un.sun_path is 108 bytes on Linux, the final NUL included.
UNIX_SOCKET_PATH_MAX = 107


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_prosody_installed() -> list[CheckMessage]:
    """E001 when the managed server's Prosody is missing (W002: prosodyctl missing)."""
    if settings.EVIM_XMPP_SERVER != "managed":
        return []
    messages: list[CheckMessage] = []
    if find_program(settings.EVIM_PROSODY_BIN) is None:
        messages.append(
            Error(
                f"The Prosody program {settings.EVIM_PROSODY_BIN!r} was not found.",
                hint=INSTALL_HINT.format(setting="EVIM_PROSODY_BIN"),
                id="managed_server.E001",
            )
        )
    elif find_program(settings.EVIM_PROSODYCTL_BIN) is None:
        messages.append(
            Warning(
                f"The prosodyctl program {settings.EVIM_PROSODYCTL_BIN!r} was not found: "
                "evim cannot create accounts on the managed server.",
                hint="Set EVIM_PROSODYCTL_BIN to its path (it comes with Prosody).",
                id="managed_server.W002",
            )
        )
    return messages


def check_managed_server(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    if settings.EVIM_XMPP_SERVER != "managed":
        return []
    messages: list[CheckMessage] = []
    if settings.EVIM_XMPP_C2S_PORT == settings.EVIM_XMPP_HTTP_PORT:
        messages.append(
            Error(
                f"EVIM_XMPP_C2S_PORT and EVIM_XMPP_HTTP_PORT are both "
                f"{settings.EVIM_XMPP_C2S_PORT}.",
                hint="Give the managed Prosody two different ports (defaults: 5222 and 5280).",
                id="managed_server.E002",
            )
        )
    data_dir = Path(settings.EVIM_DATA_DIR)
    existing = _nearest_existing(data_dir)
    if not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
        messages.append(
            Warning(
                f"The data directory {data_dir} cannot be written by this user: the managed "
                "Prosody cannot keep its configuration and data there.",
                hint="Fix its permissions, or set EVIM_DATA_DIR to a writable directory.",
                id="managed_server.W001",
            )
        )
    try:
        layout = ServerLayout.from_settings()
    except ValueError as error:
        messages.append(Error(str(error), id="managed_server.E003"))
    else:
        if len(os.fsencode(layout.admin_socket)) > UNIX_SOCKET_PATH_MAX:
            messages.append(
                Warning(
                    f"The managed Prosody's admin socket path {layout.admin_socket} is longer "
                    f"than {UNIX_SOCKET_PATH_MAX} bytes: Prosody cannot create it, and evim "
                    "cannot manage rooms and accounts in bulk.",
                    hint="Set EVIM_DATA_DIR to a shorter path.",
                    id="managed_server.W003",
                )
            )
    return messages
