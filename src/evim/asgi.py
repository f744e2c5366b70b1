"""evim's ASGI application: static files, the XMPP gateway (WebSocket, BOSH), then Django."""

from __future__ import annotations

import asyncio
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
    from evim.gateway.hooks import PERMISSIONS
    from evim.gateway.prepared import PREPARED
    from evim.gateway.websocket import websocket_application
    from evim.service.https import https_forced_on_loop
    from evim.service.watched import WatchedSwitch

    # The service's Compression option, asked by every static file request on the loop:
    # kept in memory, read again in the background (see evim.service.watched).
    compression = WatchedSwitch("compression")
    static = StaticFiles(
        root=settings.STATIC_ROOT, prefix=settings.STATIC_URL, compress=compression
    )

    async def lifespan(receive: Receive, send: Send) -> None:
        """The server's start and stop: upstream logins are prepared, and open streams
        re-checked, only while serving."""
        sweep: asyncio.Task[None] | None = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # The first requests already know them.
                await compression.refresh()
                await https_forced_on_loop.refresh()
                PREPARED.serve_on(asyncio.get_running_loop())
                sweep = asyncio.create_task(PERMISSIONS.run(), name="gateway-permission-sweep")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if sweep is not None:
                    sweep.cancel()
                await PREPARED.close_all()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        elif scope["type"] == "websocket":
            if scope["path"] == GATEWAY_WEBSOCKET_PATH:
                await websocket_application(scope, receive, send)
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
