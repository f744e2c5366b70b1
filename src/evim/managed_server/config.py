"""Prosody's configuration for the managed server: ``prosody.cfg.lua`` in the layout's directory.

:func:`render_config` returns the text (a pure function of the :class:`ServerLayout`: the
same layout always gives the same bytes) and :func:`write_config` writes it atomically,
returning whether it changed — a running Prosody needs a restart only then.

What the configuration does:

- listens on loopback only (client-to-server on ``c2s_host``, HTTP on ``http_host``); no
  server-to-server, no HTTPS port, no direct-TLS port;
- keeps every file (pid file, data, admin socket, log, certificates) inside the directory;
- requires encryption on client connections (STARTTLS with evim's self-signed certificate)
  but treats WebSocket and BOSH as secure, since they are on loopback behind evim's gateway;
- archives messages (MAM, one year, a raised per-archive item limit), hibernates
  stream-management sessions for a few minutes, and runs a MUC component whose rooms
  may be created by local users only and are not locked on creation.
"""

from __future__ import annotations

from collections.abc import Sequence

from evim.managed_server.files import write_if_changed
from evim.managed_server.layout import ServerLayout
from evim.managed_server.lua import LuaValue, lua_string, lua_value

#: Prosody modules loaded on every host.
MODULES_ENABLED: tuple[str, ...] = (
    "roster",
    "saslauth",
    "tls",
    "disco",
    "carbons",
    "pep",
    "private",
    # XEP-0402 bookmarks, served to XEP-0048 clients too (evim publishes the rooms there).
    "bookmarks",
    "blocklist",
    "vcard4",
    "vcard_legacy",
    "version",
    "uptime",
    "time",
    "ping",
    "register",
    "admin_shell",
    "websocket",
    "bosh",
    "mam",
    "offline",
    "smacks",
    "http",
)

#: How long messages stay in the archives (Prosody's duration syntax).
ARCHIVE_EXPIRES_AFTER = "1y"
#: Items per archive (user or room).  Prosody's default (10,000) is a CPU cliff with the
#: internal storage: every new message past it makes Prosody trim the archive.
ARCHIVE_ITEM_LIMIT = 100_000
#: Seconds an interrupted client session (XEP-0198) waits to be resumed: long enough for a
#: page reload, short enough that a closed browser tab goes offline soon.
SMACKS_HIBERNATION_TIME = 120

HEADER = """\
-- Prosody configuration written by evim (managed XMPP server).
-- Do not edit: evim rewrites this file when its settings change.
"""


def _assignments(options: Sequence[tuple[str, LuaValue]], indent: str = "") -> list[str]:
    return [f"{indent}{name} = {lua_value(value)}" for name, value in options]


def global_options(layout: ServerLayout) -> list[tuple[str, LuaValue]]:
    """The global section, in order."""
    ssl: LuaValue = {"certificate": str(layout.certificate_path), "key": str(layout.key_path)}
    log: list[LuaValue] = [
        {
            "levels": {"min": "info"},
            "to": "file",
            "filename": str(layout.log_path),
        },
        {
            "levels": {"min": "error"},
            "to": "file",
            "filename": "/dev/stderr",
            "timestamps": False,
        },
    ]
    return [
        # evim may run as root (containers); Prosody then refuses to start without this.
        ("run_as_root", True),
        ("pidfile", str(layout.pidfile)),
        ("data_path", str(layout.data_path)),
        ("admin_socket", str(layout.admin_socket)),
        ("certificates", str(layout.certs_dir)),
        ("log", log),
        # Network: loopback, client-to-server and HTTP only.
        ("interfaces", [layout.c2s_host]),
        ("c2s_ports", [layout.c2s_port]),
        ("c2s_direct_tls_ports", []),
        ("http_interfaces", [layout.http_host]),
        ("http_ports", [layout.http_port]),
        ("https_ports", []),
        ("s2s_ports", []),
        ("http_default_host", layout.domain),
        ("modules_enabled", list(MODULES_ENABLED)),
        ("modules_disabled", ["s2s"]),
        # Accounts: made by evim, never by clients.
        ("allow_registration", False),
        ("authentication", "internal_hashed"),
        ("storage", "internal"),
        # Encryption: required on TCP; WebSocket and BOSH are loopback behind evim's gateway.
        ("ssl", ssl),
        ("c2s_require_encryption", True),
        ("allow_unencrypted_plain_auth", False),
        ("consider_websocket_secure", True),
        ("consider_bosh_secure", True),
        # History and sessions.
        ("default_archive_policy", True),
        ("archive_expires_after", ARCHIVE_EXPIRES_AFTER),
        ("storage_archive_item_limit", ARCHIVE_ITEM_LIMIT),
        ("smacks_hibernation_time", SMACKS_HIBERNATION_TIME),
        ("hide_os_type", True),
    ]


def virtual_host_options(layout: ServerLayout) -> list[tuple[str, LuaValue]]:
    return [("ssl", {"certificate": str(layout.certificate_path), "key": str(layout.key_path)})]


def muc_options(layout: ServerLayout) -> list[tuple[str, LuaValue]]:
    return [
        ("modules_enabled", ["muc_mam"]),
        ("name", f"Rooms of {layout.domain}"),
        ("muc_room_locking", False),
        ("restrict_room_creation", "local"),
        ("muc_log_by_default", True),
        ("muc_log_expires_after", ARCHIVE_EXPIRES_AFTER),
    ]


def render_config(layout: ServerLayout) -> str:
    """The text of ``prosody.cfg.lua`` for ``layout``; deterministic."""
    lines = [HEADER.rstrip("\n"), ""]
    lines += _assignments(global_options(layout))
    lines += ["", f"VirtualHost {lua_string(layout.domain)}"]
    lines += _assignments(virtual_host_options(layout), indent="    ")
    lines += ["", f"Component {lua_string(layout.muc_host)} {lua_string('muc')}"]
    lines += _assignments(muc_options(layout), indent="    ")
    return "\n".join(lines) + "\n"


def write_config(layout: ServerLayout) -> bool:
    """Write the configuration into ``layout.config_path``; True if the file changed."""
    layout.prepare_directories()
    return write_if_changed(layout.config_path, render_config(layout).encode("utf-8"))
