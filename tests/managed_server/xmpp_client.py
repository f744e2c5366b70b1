"""A small slixmpp client for the provisioning tests: log in, fetch vCards, PEP items.

``async with logged_in(layout, jid, password) as client`` logs in over STARTTLS, trusting
only the managed server's own certificate, and raises :class:`LoginRefused` when the
server refuses the credentials.  ``await can_log_in(…)`` answers True or False.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import slixmpp

from evim.managed_server.layout import ServerLayout

TIMEOUT = 20


class LoginRefused(Exception):
    pass


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str, layout: ServerLayout) -> None:
        super().__init__(jid, password)
        self.enable_direct_tls = False  # STARTTLS on the client port
        self.ca_certs = layout.certificate_path
        loop = asyncio.get_running_loop()
        #: True once the session started, False when the credentials were refused.
        self.outcome: asyncio.Future[bool] = loop.create_future()
        #: Set when the connection ends, whoever ends it.
        self.ended = asyncio.Event()
        for plugin in ("xep_0030", "xep_0054", "xep_0060"):
            self.register_plugin(plugin)
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_all_auth", self._on_refused)
        self.add_event_handler("disconnected", self._on_disconnected)

    def _on_session_start(self, _event: object) -> None:
        if not self.outcome.done():
            self.outcome.set_result(True)

    def _on_refused(self, _event: object) -> None:
        if not self.outcome.done():
            self.outcome.set_result(False)

    def _on_disconnected(self, _event: object) -> None:
        self.ended.set()
        if not self.outcome.done():
            self.outcome.set_exception(AssertionError("disconnected before logging in"))

    async def stop(self) -> None:
        if not self.ended.is_set():
            await asyncio.wait_for(self.disconnect(wait=1.0), TIMEOUT)


@asynccontextmanager
async def logged_in(layout: ServerLayout, jid: str, password: str) -> AsyncIterator[Client]:
    client = Client(jid, password, layout)
    client.connect(layout.c2s_host, layout.c2s_port)
    try:
        if not await asyncio.wait_for(client.outcome, TIMEOUT):
            raise LoginRefused(jid)
        yield client
    finally:
        await client.stop()


async def can_log_in(layout: ServerLayout, jid: str, password: str) -> bool:
    try:
        async with logged_in(layout, jid, password):
            return True
    except LoginRefused:
        return False
