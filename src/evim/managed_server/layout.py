"""Where and how a managed Prosody instance lives: :class:`ServerLayout`.

A layout is a frozen value: the directory (``EVIM_DATA_DIR/prosody`` in production), the
XMPP domain and MUC host, the addresses Prosody listens on and the programs to run.  Every
path the other modules use (configuration, certificate, data, logs, pid and state files)
is derived from it here, so that tests build a layout for a temporary directory and free
ports without touching Django settings::

    layout = ServerLayout.from_settings()              # what ``evim`` uses
    layout = ServerLayout(directory=tmp, domain="evim.test", muc_host="rooms.evim.test",
                          c2s_port=free_port(), http_port=free_port())   # tests
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evim.service.current import ServiceSettings

#: Prosody's HTTP listener (WebSocket, BOSH) is for evim's gateway only: always loopback.
HTTP_LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ServerLayout:
    """One managed Prosody instance: its directory, names, ports and programs."""

    directory: Path
    domain: str
    muc_host: str
    c2s_host: str = "127.0.0.1"
    c2s_port: int = 5222
    http_port: int = 5280
    prosody_bin: str = "prosody"
    prosodyctl_bin: str = "prosodyctl"
    start_timeout: float = 20.0
    http_host: str = HTTP_LOOPBACK
    #: The anonymous host (SASL ANONYMOUS, for guests: the service's anonymous mode), or
    #: None when anonymous mode is off: then the server has no such host.
    anonymous_host: str | None = None
    # What follows the service settings (see SERVICE_FIELDS); the defaults are "none".
    #: The publish-subscribe component (XEP-0060), or None: no such component.
    pubsub_host: str | None = None
    #: The user directory component (XEP-0055 search by name), or None: no directory.
    directory_host: str | None = None
    #: STUN servers published to clients (XEP-0215), as ``host:port``.
    stun_servers: tuple[str, ...] = ()
    #: Whether clients may create accounts themselves (XEP-0077 in-band registration).
    registration_allowed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "directory", Path(self.directory).absolute())
        for name in ("domain", "muc_host", "c2s_host", "http_host"):
            value = getattr(self, name)
            if not value or any(char.isspace() or char in "/@\\\"'" for char in value):
                raise ValueError(f"ServerLayout.{name}: not a valid host name: {value!r}")
        if self.anonymous_host is not None:
            value = self.anonymous_host
            if not value or any(char.isspace() or char in "/@\\\"'" for char in value):
                raise ValueError(f"ServerLayout.anonymous_host: not a valid host name: {value!r}")
            if value in (self.domain, self.muc_host):
                raise ValueError(
                    f"ServerLayout.anonymous_host: {value!r} is already the domain or MUC host"
                )
        hosts = [self.domain, self.muc_host, self.anonymous_host]
        for name in ("pubsub_host", "directory_host"):
            value = getattr(self, name)
            if value is None:
                continue
            if not value or any(char.isspace() or char in "/@\\\"'" for char in value):
                raise ValueError(f"ServerLayout.{name}: not a valid host name: {value!r}")
            if value in hosts:
                raise ValueError(f"ServerLayout.{name}: {value!r} is already another host")
            hosts.append(value)
        object.__setattr__(self, "stun_servers", tuple(self.stun_servers))
        for server in self.stun_servers:
            host, _colon, port = server.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"ServerLayout.stun_servers: not host:port: {server!r}")
        for name in ("c2s_port", "http_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise ValueError(f"ServerLayout.{name}: expected 1..65535, found {port}")
        if self.start_timeout <= 0:
            raise ValueError("ServerLayout.start_timeout must be positive")

    @classmethod
    def from_settings(cls) -> ServerLayout:
        """The layout of this installation, from ``django.conf.settings``."""
        from django.conf import settings

        return cls(
            directory=Path(settings.EVIM_DATA_DIR) / "prosody",
            domain=settings.EVIM_XMPP_DOMAIN,
            muc_host=settings.EVIM_XMPP_MUC_HOST,
            c2s_host=settings.EVIM_XMPP_HOST or "127.0.0.1",
            c2s_port=settings.EVIM_XMPP_C2S_PORT,
            http_port=settings.EVIM_XMPP_HTTP_PORT,
            prosody_bin=settings.EVIM_PROSODY_BIN,
            prosodyctl_bin=settings.EVIM_PROSODYCTL_BIN,
            start_timeout=float(settings.EVIM_XMPP_START_TIMEOUT),
        )

    def with_service_settings(self) -> ServerLayout:
        """This layout with :data:`SERVICE_FIELDS` as the service settings say now (read
        from the database, not from this process's cache)."""
        from evim.service import current

        current.forget()
        return dataclasses.replace(self, **service_layout_values(current.service()))

    def without_service_settings(self) -> ServerLayout:
        """This layout with :data:`SERVICE_FIELDS` at their defaults: what the environment
        alone decides (two evim processes agree on it whatever the page says)."""
        defaults: dict[str, Any] = {
            field.name: field.default for field in _SERVICE_FIELD_DEFINITIONS
        }
        return dataclasses.replace(self, **defaults)

    # --- serialisation (the daemon hands its layout to the supervisor process) -----------

    def to_json(self) -> str:
        data: dict[str, Any] = dataclasses.asdict(self)
        data["directory"] = str(self.directory)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServerLayout:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a ServerLayout in JSON is an object")
        data["directory"] = Path(data["directory"])
        if isinstance(data.get("stun_servers"), list):
            data["stun_servers"] = tuple(data["stun_servers"])
        return cls(**data)

    # --- derived paths ----------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.directory / "prosody.cfg.lua"

    @property
    def data_path(self) -> Path:
        return self.directory / "data"

    @property
    def certs_dir(self) -> Path:
        return self.directory / "certs"

    @property
    def certificate_path(self) -> Path:
        return self.certs_dir / "evim.crt"

    @property
    def key_path(self) -> Path:
        return self.certs_dir / "evim.key"

    @property
    def pidfile(self) -> Path:
        return self.directory / "prosody.pid"

    @property
    def admin_socket(self) -> Path:
        return self.directory / "prosody.sock"

    @property
    def log_path(self) -> Path:
        """Prosody's own log (info and above)."""
        return self.directory / "prosody.log"

    @property
    def supervisor_log_path(self) -> Path:
        """Output of the detached supervisor started by ``evim xmpp start``."""
        return self.directory / "supervisor.log"

    @property
    def state_path(self) -> Path:
        """JSON describing the running supervisor (pids, ports), for ``evim xmpp status``."""
        return self.directory / "supervisor.json"

    @property
    def lock_path(self) -> Path:
        """Locked (``flock``) by whichever process supervises this Prosody."""
        return self.directory / "supervisor.lock"

    @property
    def websocket_url(self) -> str:
        return f"ws://{self.http_host}:{self.http_port}/xmpp-websocket"

    @property
    def bosh_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}/http-bind"

    def prepare_directories(self) -> None:
        """Create the instance directory (private to evim's user) and its sub-directories."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_path.mkdir(mode=0o750, exist_ok=True)
        self.certs_dir.mkdir(mode=0o700, exist_ok=True)


#: The fields of a :class:`ServerLayout` that follow the service settings page (evim.service)
#: rather than the environment: :meth:`ServerLayout.with_service_settings` fills them, when
#: the supervisor starts Prosody and whenever an option changes
#: (:mod:`evim.managed_server.reconfigure`), and the managed server follows them without a
#: restart.  To add one: a field of ServerLayout (its default meaning "none"), its name here,
#: its value in :func:`service_layout_values`, and what it does in :mod:`~.config`.
SERVICE_FIELDS: tuple[str, ...] = (
    "anonymous_host",
    "pubsub_host",
    "directory_host",
    "stun_servers",
    "registration_allowed",
)


#: The service options (evim.service) that :func:`service_layout_values` reads: a change of
#: one of them is applied to the running managed server.
SERVER_OPTIONS: frozenset[str] = frozenset(
    {
        "anonymous_mode",
        "anonymous_host",
        "pubsub_host",
        "directory_host",
        "stun_servers",
        "registration_allowed",
    }
)


def service_layout_values(values: ServiceSettings) -> dict[str, Any]:
    """The :data:`SERVICE_FIELDS` for the service settings ``values``."""
    return {
        # The guests' host (evim.messaging.guests): only while anonymous mode is on.
        "anonymous_host": values.anonymous_host if values.anonymous_mode else None,
        "pubsub_host": values.pubsub_host or None,
        "directory_host": values.directory_host or None,
        "stun_servers": tuple(values.stun_servers),
        "registration_allowed": values.registration_allowed,
    }


_SERVICE_FIELD_DEFINITIONS = [
    field for field in dataclasses.fields(ServerLayout) if field.name in SERVICE_FIELDS
]
