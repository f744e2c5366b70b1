"""Connections from the gateway to the user's XMPP server, authenticated on their behalf.

Every element crossing the gateway is carried as an RFC 7395 frame: one complete XML element
as text, its namespace declared on it (``<message xmlns='jabber:client' ...>``,
``<features xmlns='http://etherx.jabber.org/streams'>``).  A WebSocket upstream (the
managed Prosody's own WebSocket) carries them unchanged; a TCP upstream translates to and
from an XML stream, a BOSH upstream (``bosh.py``) to and from HTTP ``<body>`` wrappers.
"""

from __future__ import annotations

from typing import Protocol


class UpstreamError(Exception):
    """The upstream could not be reached, authenticated, or went away.

    ``condition`` is the XMPP stream error condition to give the browser (RFC 6120 §4.9.3:
    ``remote-connection-failed``, ``connection-timeout``, ``not-authorized`` for refused
    credentials, ``host-unknown``...); ``detail`` says what happened, for logs (never a secret).
    """

    def __init__(self, condition: str, detail: str) -> None:
        super().__init__(f"{condition}: {detail}")
        self.condition = condition
        self.detail = detail


class UpstreamClosed(UpstreamError):
    """The server ended the stream (``</close>`` or ``</stream:stream>``) or the connection."""


class AuthenticatedUpstream(Protocol):
    """An upstream stream after SASL success and the stream restart that follows it."""

    #: The stream id the server gave after the restart.
    stream_id: str
    #: The server's post-authentication ``<stream:features/>`` (bind, sm, csi...) as a frame.
    features_frame: str

    async def send(self, frame: str) -> None:
        """Send one element (an RFC 7395 frame) to the server."""

    async def receive(self) -> str:
        """The next element from the server, as a frame; raises UpstreamClosed at the end."""

    async def close(self) -> None:
        """End the stream cleanly (the user closed their chat): the server ends the session."""

    async def abort(self) -> None:
        """Drop the connection without ending the stream, so that the server keeps the
        session for stream-management resumption (a page navigation)."""
