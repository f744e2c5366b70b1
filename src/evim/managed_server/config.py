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
  may be created by local users only and are not locked on creation;
- with the service's anonymous mode, serves the anonymous host for guests
  (:func:`anonymous_host_options`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
        # evim's own modules (the directory, reserved names) first, then Prosody's.
        ("plugin_paths", [str(PROSODY_MODULES_DIR)]),
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


#: evim's Prosody modules (``mod_evim_*.lua``), shipped inside the package.
PROSODY_MODULES_DIR = Path(__file__).resolve().parent / "prosody_modules"

#: Default STUN port (RFC 8489).
STUN_PORT = 3478

#: In-band registration's abuse limits (``mod_register_limits``), per IP address: at most
#: REGISTRATION_THROTTLE_MAX accounts per REGISTRATION_THROTTLE_PERIOD seconds (a token
#: bucket: the first ones at once, then one every period / max); loopback is not exempt.
REGISTRATION_THROTTLE_MAX = 3
REGISTRATION_THROTTLE_PERIOD = 3600
#: User names nobody may register for themselves (``mod_evim_reserved_names``).
RESERVED_USERNAMES: tuple[str, ...] = (
    "admin",
    "administrator",
    "root",
    "postmaster",
    "hostmaster",
    "webmaster",
    "abuse",
    "security",
    "support",
    "noreply",
    "no-reply",
    "xmpp",
    "prosody",
    "evim",
)

#: Modules whose options follow the service settings on the main host, in the order
#: :mod:`~evim.managed_server.reconfigure` (re)loads or unloads them without a restart:
#: the registration modules first (mod_register loads mod_register_ibr, which loads
#: mod_register_limits, again when registration is on).
MAIN_HOST_LIVE_MODULES: tuple[str, ...] = (
    "evim_reserved_names",
    "register_limits",
    "register_ibr",
    "register",
    "external_services",
)


def _stun_service(server: str) -> LuaValue:
    host, _colon, port = server.rpartition(":")
    return {"type": "stun", "transport": "udp", "host": host.strip("[]"), "port": int(port)}


def main_host_options(layout: ServerLayout) -> list[tuple[str, LuaValue]]:
    """What the main host adds to :func:`virtual_host_options`, from the service settings:
    STUN servers published with XEP-0215, and in-band registration with its limits.  (The
    components, sub-domains of the domain, are listed in its service discovery by Prosody
    itself.)"""
    modules: list[LuaValue] = []
    options: list[tuple[str, LuaValue]] = []
    if layout.stun_servers:
        modules.append("external_services")
        options.append(("external_services", [_stun_service(s) for s in layout.stun_servers]))
    if layout.registration_allowed:
        modules.append("evim_reserved_names")
        options += [
            ("allow_registration", True),
            ("registration_throttle_max", REGISTRATION_THROTTLE_MAX),
            ("registration_throttle_period", REGISTRATION_THROTTLE_PERIOD),
            ("registration_allowlist", []),
            ("evim_reserved_usernames", list(RESERVED_USERNAMES)),
        ]
    return ([("modules_enabled", modules)] if modules else []) + options


def pubsub_options(layout: ServerLayout) -> list[tuple[str, LuaValue]]:
    return [("name", f"Publish-subscribe of {layout.domain}")]


def directory_options(layout: ServerLayout) -> list[tuple[str, LuaValue]]:
    return [
        ("name", f"Directory of {layout.domain}"),
        ("evim_directory_host", layout.domain),
    ]


#: What the anonymous host (guests) leaves out: storage for accounts that last one session
#: (offline messages, archive, bookmarks, private and PEP data, vCards), in-band
#: registration, blocking lists, carbons, and stream-management hibernation (a guest who
#: leaves is gone at once; resumption would need the same anonymous account anyway).
ANONYMOUS_MODULES_DISABLED: tuple[str, ...] = (
    "offline",
    "mam",
    "bookmarks",
    "private",
    "pep",
    "vcard4",
    "vcard_legacy",
    "register",
    "blocklist",
    "carbons",
    "smacks",
)


def anonymous_host_options(layout: ServerLayout) -> list[tuple[str, LuaValue]]:
    """The guests' host: SASL ANONYMOUS only (a fresh random address per session), never
    server-to-server, never stored (``allow_anonymous_storage`` off: Prosody refuses every
    write of the host's data), no registration.  Rooms: guests cannot create any (the MUC
    component's ``restrict_room_creation = "local"`` admits the main domain's users only).
    Rate limits are the gateway's (Prosody's ``mod_limits`` is global, not per host)."""
    return [
        *virtual_host_options(layout),
        ("authentication", "anonymous"),
        # Through evim's gateway only, never on the client-to-server port.
        ("modules_enabled", ["evim_gateway_only"]),
        ("allow_anonymous_s2s", False),
        ("allow_anonymous_storage", False),
        ("allow_registration", False),
        ("modules_disabled", list(ANONYMOUS_MODULES_DISABLED)),
    ]


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
    lines += _assignments(virtual_host_options(layout) + main_host_options(layout), indent="    ")
    if layout.anonymous_host is not None:
        lines += ["", f"VirtualHost {lua_string(layout.anonymous_host)}"]
        lines += _assignments(anonymous_host_options(layout), indent="    ")
    lines += ["", f"Component {lua_string(layout.muc_host)} {lua_string('muc')}"]
    lines += _assignments(muc_options(layout), indent="    ")
    if layout.pubsub_host is not None:
        lines += ["", f"Component {lua_string(layout.pubsub_host)} {lua_string('pubsub')}"]
        lines += _assignments(pubsub_options(layout), indent="    ")
    if layout.directory_host is not None:
        lines += [
            "",
            f"Component {lua_string(layout.directory_host)} {lua_string('evim_directory')}",
        ]
        lines += _assignments(directory_options(layout), indent="    ")
    return "\n".join(lines) + "\n"


def write_config(layout: ServerLayout) -> bool:
    """Write the configuration into ``layout.config_path``; True if the file changed."""
    layout.prepare_directories()
    return write_if_changed(layout.config_path, render_config(layout).encode("utf-8"))
