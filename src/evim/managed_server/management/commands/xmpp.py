"""``evim xmpp start|stop|status``: the managed Prosody as a background service.

- ``start``: start a detached supervisor running Prosody and wait until it accepts
  connections (exit 0); already running: say so (exit 0); failure: ``evim: error: …``
  (exit 2).
- ``stop``: stop it cleanly and wait (exit 0), or say it was not running (exit 0).
- ``status``: running (exit 0) or stopped (exit 3, like LSB init scripts), with pids,
  ports and domain.
- With ``EVIM_XMPP_SERVER=external`` all three say that the server is external and start
  nothing (exit 0).

``supervise`` is internal: the detached process that ``start`` spawns.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from evim.managed_server.daemon import (
    OWNER_IN_PROCESS,
    ServerStatus,
    server_status,
    start_daemon,
    stop_daemon,
    supervise_in_foreground,
)
from evim.managed_server.layout import ServerLayout

EXIT_STOPPED = 3


class Command(BaseCommand):
    help = "Start, stop or show the managed XMPP server (Prosody)."
    # The checks of other apps must not prevent stopping or inspecting the XMPP server;
    # ``start`` reports its own problems clearly.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{start,stop,status}")
        start = actions.add_parser("start", help="start the managed XMPP server in the background")
        start.add_argument(
            "--timeout", type=float, default=None, help="seconds to wait until it is ready"
        )
        stop = actions.add_parser("stop", help="stop the managed XMPP server")
        stop.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for it")
        actions.add_parser("status", help="is the managed XMPP server running? (exit 3: no)")
        supervise = actions.add_parser("supervise")
        supervise.add_argument("--layout-json", default=None, help=argparse.SUPPRESS)
        supervise.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if settings.EVIM_XMPP_SERVER != "managed":
            self._external(action)
            return
        if action == "supervise":
            layout = (
                ServerLayout.from_json(options["layout_json"])
                if options["layout_json"]
                else ServerLayout.from_settings()
            )
            code = asyncio.run(
                supervise_in_foreground(layout, ready_fd=options["ready_fd"], follow_settings=True)
            )
            if code:
                raise SystemExit(code)
            return
        layout = ServerLayout.from_settings()
        if action == "start":
            started, status = start_daemon(layout, timeout=options["timeout"])
            if started:
                self.stdout.write("Managed XMPP server started.")
            else:
                self.stdout.write("The managed XMPP server is already running.")
            self._describe(status)
        elif action == "stop":
            if stop_daemon(layout, timeout=options["timeout"]):
                self.stdout.write("Managed XMPP server stopped.")
            else:
                self.stdout.write(f"The managed XMPP server is not running ({layout.directory}).")
        else:
            status = server_status(layout)
            if not status.running:
                self.stdout.write(f"Managed XMPP server: stopped ({layout.directory})")
                self.stdout.flush()
                raise SystemExit(EXIT_STOPPED)
            self._describe(status)

    def _describe(self, status: ServerStatus) -> None:
        layout = status.layout
        state = "running" if status.ready else "running (Prosody starting or restarting)"
        if status.owner == OWNER_IN_PROCESS:
            state += ", inside an 'evim run' process"
        lines = [
            f"Managed XMPP server: {state}",
            f"  supervisor pid: {status.supervisor_pid}",
            f"  prosody pid:    {status.prosody_pid or '-'}",
            f"  restarts:       {status.restart_count}",
            f"  domain:         {layout.domain} (rooms: {layout.muc_host})",
            f"  clients:        {layout.c2s_host}:{layout.c2s_port} (STARTTLS)",
            f"  websocket:      {layout.websocket_url}",
            f"  bosh:           {layout.bosh_url}",
            f"  directory:      {layout.directory}",
        ]
        self.stdout.write("\n".join(lines))

    def _external(self, action: str) -> None:
        host = settings.EVIM_XMPP_HOST or f"{settings.EVIM_XMPP_DOMAIN} (DNS SRV)"
        where = f"{host}:{settings.EVIM_XMPP_C2S_PORT}"
        if action == "status":
            self.stdout.write(
                f"XMPP server: external (EVIM_XMPP_SERVER=external), domain "
                f"{settings.EVIM_XMPP_DOMAIN}, at {where}; evim does not run it."
            )
        else:
            self.stdout.write(
                f"The XMPP server is external (EVIM_XMPP_SERVER=external, at {where}): "
                f"evim starts and stops nothing."
            )
