"""evim's ASGI application: static files, the XMPP gateway (WebSocket, BOSH), then Django."""

from __future__ import annotations

import asyncio
import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evim.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

from evim.lib.static_files import ASGIApp, Receive, Scope, Send, StaticFiles

GATEWAY_WEBSOCKET_PATH = "/im/ws"
GATEWAY_BOSH_PATH = "/http-bind"


def build_application() -> ASGIApp:
    django_app = get_asgi_application()  # sets Django up: the gateway's imports need it
    from evim.gateway.bosh import bosh_application
    from evim.gateway.daily_usage import flush_periodically, flush_usage, local_today
    from evim.gateway.guests import GUEST_WEBSOCKET_PATH, guest_websocket_application
    from evim.gateway.hooks import PERMISSIONS
    from evim.gateway.prepared import PREPARED
    from evim.gateway.usage import USAGE
    from evim.gateway.websocket import websocket_application
    from evim.service.https import https_forced_on_loop
    from evim.service.watched import WatchedSwitch

    # The service's Compression option, asked by every static file request on the loop:
    # kept in memory, read again in the background (see evim.service.watched).
    compression = WatchedSwitch("compression")
    static = StaticFiles(
        root=settings.STATIC_ROOT, prefix=settings.STATIC_URL, compress=compression
    )
    # The Statistics option, asked by the gateway's counts the same way (from the start of
    # serving: importing this module changes nothing).
    statistics = WatchedSwitch("statistics")

    async def lifespan(receive: Receive, send: Send) -> None:
        """The server's start and stop: upstream logins are prepared, and open streams
        re-checked, only while serving."""
        sweep: asyncio.Task[None] | None = None
        saving: asyncio.Task[None] | None = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # The first requests already know them.
                await compression.refresh()
                await https_forced_on_loop.refresh()
                await statistics.refresh()
                USAGE.enabled, USAGE.today = statistics, local_today
                PREPARED.serve_on(asyncio.get_running_loop())
                sweep = asyncio.create_task(PERMISSIONS.run(), name="gateway-permission-sweep")
                saving = asyncio.create_task(flush_periodically(), name="gateway-usage-saving")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if sweep is not None:
                    sweep.cancel()
                await PREPARED.close_all()
                if saving is not None:
                    saving.cancel()
                await _save_usage_at_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _save_usage_at_shutdown() -> None:
        try:
            await flush_usage()
        except Exception:
            logging.getLogger("evim.gateway").exception("Could not save the usage figures")

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        elif scope["type"] == "websocket":
            if scope["path"] == GATEWAY_WEBSOCKET_PATH:
                await websocket_application(scope, receive, send)
            elif scope["path"] == GUEST_WEBSOCKET_PATH:
                await guest_websocket_application(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 4404})
        elif scope["type"] == "http" and scope["path"] == GATEWAY_BOSH_PATH:
            await bosh_application(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith(settings.STATIC_URL):
            await static(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    return application


application = build_application()
