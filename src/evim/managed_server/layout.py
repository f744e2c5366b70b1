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
from typing import Any

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "directory", Path(self.directory).absolute())
        for name in ("domain", "muc_host", "c2s_host", "http_host"):
            value = getattr(self, name)
            if not value or any(char.isspace() or char in "/@\\\"'" for char in value):
                raise ValueError(f"ServerLayout.{name}: not a valid host name: {value!r}")
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
