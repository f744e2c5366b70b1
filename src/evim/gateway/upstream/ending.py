"""How an upstream stream ends, the same over both transports (WebSocket, TCP).

Why it ended is kept once (the first cause wins) and every later send or receive raises
UpstreamClosed with it.  :meth:`close` ends the XMPP stream — our end of stream is sent once
— and waits for the server to close the connection, which it does once the session is
over; past ``close_timeout`` it aborts.  :meth:`abort` drops the connection without ending
the stream, so that the server keeps the session for resumption.  Each transport says how
to send its end of stream, wait for the connection's loss, and drop it.
"""

from __future__ import annotations

import asyncio

from evim.gateway.upstream import UpstreamClosed

#: The condition of UpstreamClosed when the stream ended without an error (the relay then
#: closes the browser's stream cleanly).
CLEAN_CLOSE = "closed"
#: The condition when the connection is lost without the stream having ended.
CONNECTION_FAILED = "remote-connection-failed"


class StreamEnding:
    def __init__(self, *, close_timeout: float) -> None:
        self._close_timeout = close_timeout
        # Why the stream ended, once it did: (condition, detail).
        self._ended: tuple[str, str] | None = None
        self._close_sent = False

    async def close(self) -> None:
        self._end(CLEAN_CLOSE, "the gateway closed the stream")
        await self._send_end_of_stream()
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._connection_lost()
        except TimeoutError:
            await self.abort()

    async def abort(self) -> None:
        self._end(CLEAN_CLOSE, "the gateway dropped the connection")
        await self._drop()

    # --- for the transports -----------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._ended is not None:
            raise UpstreamClosed(*self._ended)

    def _end(self, condition: str, detail: str) -> UpstreamClosed:
        """Record why the stream ended (unless it already had); the error to raise."""
        if self._ended is None:
            self._ended = (condition, detail)
        return UpstreamClosed(*self._ended)

    def _closed_error(self) -> UpstreamClosed:
        return self._end(CONNECTION_FAILED, "the server closed the connection")

    def _first_end_of_stream(self) -> bool:
        """True once: our end of stream is to be sent now (never twice)."""
        if self._close_sent:
            return False
        self._close_sent = True
        return True

    async def _send_end_of_stream(self) -> None:
        """Send our end of stream (if not yet sent) and keep reading until the server
        closes the connection."""
        raise NotImplementedError

    async def _connection_lost(self) -> None:
        raise NotImplementedError

    async def _drop(self) -> None:
        """Close the connection at once, without ending the stream."""
        raise NotImplementedError
