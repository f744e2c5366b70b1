"""``evim run``: migrate, make sure the managed XMPP server is up, serve evim over ASGI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any

import uvicorn
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from evim.lib.event_loop import run_event_loop
from evim.managed_server.control import managed_server_for_run
from evim.messaging.project_config import get_messaging_config

logger = logging.getLogger("evim.run")


class _Server(uvicorn.Server):
    """uvicorn, minus its own signal handling: ``evim run`` stops it, then Prosody."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Command(BaseCommand):
    help = "Migrate the database, start the managed XMPP server if needed, and serve evim."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.EVIM_HOST, help="address to listen on")
        parser.add_argument("--port", type=int, default=settings.EVIM_PORT, help="port")

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        self.prepare()
        run_event_loop(self.serve(host=host, port=port))

    def prepare(self) -> None:
        """Bring the database and the static files up to date (quick when they are)."""
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)

    async def serve(
        self,
        *,
        host: str,
        port: int,
        on_ready: Callable[[], None] | None = None,
        on_xmpp_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        server = _Server(
            uvicorn.Config(
                "evim.asgi:application",
                host=host,
                port=port,
                lifespan="on",
                ws="websockets-sansio",
                ws_per_message_deflate=False,
                proxy_headers=False,
                server_header=False,
                log_config=None,
                access_log=False,
            )
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._request_exit, server)
        async with self.xmpp_server() as xmpp_running:
            if xmpp_running and on_xmpp_ready is not None:
                await on_xmpp_ready()
            serving = asyncio.create_task(server.serve())
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)  # uvicorn has no "started" event to await
            if server.started:
                self.stdout.write(f"evim is serving on http://{host}:{port}/")
                if on_ready is not None:
                    await sync_to_async(on_ready)()  # it may read the database
            await serving

    @staticmethod
    def _request_exit(server: uvicorn.Server) -> None:
        server.should_exit = True

    @contextlib.asynccontextmanager
    async def xmpp_server(self) -> AsyncIterator[bool]:
        """The managed Prosody for as long as evim serves, when messaging needs it.

        Yields whether messaging is on (its XMPP server, managed or external, in use).
        """
        if not get_messaging_config().enabled:
            logger.info("Messaging is disabled: no XMPP server is started or contacted.")
            yield False
            return
        async with managed_server_for_run(report=self.stdout.write):
            yield True
