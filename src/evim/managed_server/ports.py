"""Network helpers: is a port free, does it (or a Unix socket) accept connections."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from pathlib import Path


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_is_free(host: str, port: int) -> bool:
    """True if a listening socket could be bound to ``host:port`` right now.

    ``SO_REUSEADDR`` is set like Prosody does, so connections of a previous instance
    lingering in TIME_WAIT do not count as "in use".  Other failures (no permission for a
    port below 1024, an address that is not local) raise :class:`OSError`.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


async def accepts_connections(host: str, port: int, *, timeout: float = 1.0) -> bool:
    """True if a TCP connection to ``host:port`` succeeds (it is closed at once)."""
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout=timeout
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def accepts_unix_connections(path: Path, *, timeout: float = 1.0) -> bool:
    """True if a connection to the Unix socket ``path`` succeeds (it is closed at once)."""
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(path), timeout=timeout
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
