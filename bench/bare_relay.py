"""A bare WebSocket relay, the floor of any gateway: each connection is forwarded to an
upstream WebSocket frame by frame, with nothing checked, parsed or authenticated — what
remains is the cost of one more process and one more pair of sockets on the way.

    .venv/bin/python bench/bare_relay.py --port PORT --upstream ws://127.0.0.1:5280/xmpp-websocket

Runs on uvloop, as evim does; prints ``ready`` once it listens.  For benchmarks only
(``gateway_roundtrip.py`` measures it as a third leg): it would relay anyone's stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

XMPP = Subprotocol("xmpp")


async def pump(
    source: ServerConnection | ClientConnection, sink: ServerConnection | ClientConnection
) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for frame in source:
            await sink.send(frame)


async def main(port: int, upstream_url: str) -> None:
    async def relay(browser: ServerConnection) -> None:
        async with connect(
            upstream_url, subprotocols=[XMPP], compression=None, ping_interval=None
        ) as upstream:
            both = [
                asyncio.create_task(pump(browser, upstream)),
                asyncio.create_task(pump(upstream, browser)),
            ]
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
            for task in both:
                task.cancel()

    async with serve(
        relay, "127.0.0.1", port, subprotocols=[XMPP], compression=None, ping_interval=None
    ):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    options = parser.parse_args()
    uvloop.run(main(options.port, options.upstream))
