"""A small slixmpp client for the provisioning tests: log in, fetch vCards, PEP items.

``async with logged_in(layout, jid, password) as client`` logs in over STARTTLS, trusting
only the managed server's own certificate, and raises :class:`LoginRefused` when the
server refuses the credentials.  ``await can_log_in(…)`` answers True or False.
"""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError

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
        # slixmpp cancels its output task but does not wait for it: wait here, or the
        # task is destroyed while pending when the client is garbage-collected.
        filters = self._run_out_filters
        if filters is not None:
            filters.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await filters


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


# --- what other users' clients read -----------------------------------------------------------

VCARD_TEMP_NS = "vcard-temp"
VCARD4_NS = "urn:ietf:params:xml:ns:vcard-4.0"
NICK_NS = "http://jabber.org/protocol/nick"


async def fetch_vcard_temp(client: Client, jid: str) -> ET.Element:
    """``jid``'s vcard-temp (XEP-0054), as Converse.js and Gajim fetch it."""
    plugin: Any = client.plugin["xep_0054"]
    reply: Any = await plugin.get_vcard(JID(jid), timeout=TIMEOUT)
    vcard = reply.xml.find(f"{{{VCARD_TEMP_NS}}}vCard")
    assert isinstance(vcard, ET.Element)
    return vcard


async def fetch_vcard4(client: Client, jid: str) -> ET.Element:
    """``jid``'s vCard 4 (XEP-0292)."""
    query: Any = client.make_iq_get(ito=jid)
    query.xml.append(ET.Element(f"{{{VCARD4_NS}}}vcard"))
    reply: Any = await query.send(timeout=TIMEOUT)
    vcard = reply.xml.find(f"{{{VCARD4_NS}}}vcard")
    assert isinstance(vcard, ET.Element)
    return vcard


async def fetch_nickname(client: Client, jid: str) -> str | None:
    """``jid``'s User Nickname (XEP-0172) from its PEP node."""
    plugin: Any = client.plugin["xep_0060"]
    try:
        reply: Any = await plugin.get_items(JID(jid), NICK_NS, timeout=TIMEOUT)
    except IqError as error:
        # No such node, or not readable: Prosody answers "forbidden" for a PEP node that
        # does not exist, so as not to tell strangers whether it does.
        if error.condition in ("item-not-found", "forbidden"):
            return None
        raise
    text = reply.xml.findtext(f".//{{{NICK_NS}}}nick")
    return None if text is None else str(text)


async def publish_own_vcard_temp(client: Client, *, full_name: str, email: str) -> None:
    """Edit one's own vCard as a client would (vcard-temp set)."""
    plugin: Any = client.plugin["xep_0054"]
    vcard: Any = plugin.stanza.VCardTemp()
    vcard["FN"] = full_name
    vcard["EMAIL"]["USERID"] = email
    await plugin.publish_vcard(vcard, timeout=TIMEOUT)


def text_of(element: ET.Element, path: str, namespace: str = VCARD_TEMP_NS) -> str:
    """The text at ``path`` (names separated by "/", all in ``namespace``), or ""."""
    qualified = "/".join(f"{{{namespace}}}{name}" for name in path.split("/"))
    return element.findtext(qualified) or ""
