"""A small XMPP client over WebSocket (RFC 7395) for the gateway tests: it says exactly
what a browser's Converse.js says, frame by frame."""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
TIMEOUT = 15


@dataclass
class WebSocketXmpp:
    connection: ClientConnection
    domain: str

    async def send(self, frame: str) -> None:
        await self.connection.send(frame)

    async def receive(self) -> str:
        frame = await asyncio.wait_for(self.connection.recv(), TIMEOUT)
        assert isinstance(frame, str), "RFC 7395: text frames only"
        return frame

    async def receive_until(self, pattern: str) -> str:
        """Frames until one matches ``pattern`` (others, like presences, are skipped)."""
        while True:
            frame = await self.receive()
            if re.search(pattern, frame):
                return frame

    async def open(self) -> tuple[str, str]:
        await self.send(f"<open xmlns='{FRAMING}' to='{self.domain}' version='1.0'/>")
        return await self.receive(), await self.receive()

    async def authenticate(self, username: str, token: str) -> str:
        opened, features = await self.open()
        assert "<open" in opened and "PLAIN" in features, (opened, features)
        payload = base64.b64encode(f"\0{username}\0{token}".encode()).decode()
        await self.send(
            f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"
        )
        return await self.receive()

    async def start_session(self, username: str, token: str) -> str:
        """Authenticate, restart, bind; returns the full JID."""
        outcome = await self.authenticate(username, token)
        assert "<success" in outcome, outcome
        _opened, features = await self.open()
        assert "urn:ietf:params:xml:ns:xmpp-bind" in features, features
        await self.send(
            "<iq xmlns='jabber:client' type='set' id='bind'>"
            "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
        )
        bound = await self.receive_until(r"""id=['"]bind['"]""")
        match = re.search(r"<jid>([^<]+)</jid>", bound)
        assert match, bound
        await self.send("<presence xmlns='jabber:client'/>")
        return match.group(1)


def open_gateway(url: str, *, cookie: str, origin: str | None, subprotocol: bool = True) -> connect:
    headers = {"Cookie": cookie} if cookie else {}
    ws_url = url.replace("http://", "ws://") + "/im/ws"
    return connect(
        ws_url,
        subprotocols=[Subprotocol("xmpp")] if subprotocol else None,
        origin=Origin(origin) if origin is not None else None,
        additional_headers=headers,
        compression=None,
        open_timeout=TIMEOUT,
    )
