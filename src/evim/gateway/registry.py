"""The gateway streams open in this process, per back-office user.

Used to cap the streams of one user, to end a user's streams at once when they log out, and
by the periodic sweep (``permissions.py``) that covers other processes and lost accounts.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from evim.gateway.relay import StreamOwner


@dataclass(eq=False)
class OpenStream:
    user_id: int
    session_key: str
    jid: str
    loop: asyncio.AbstractEventLoop
    end: Callable[[str], None]  # called on the stream's loop with the reason
    ended: bool = field(default=False)
    #: A guest's stream (user_id 0): its guest link.
    guest_link: int | None = None

    @property
    def owner(self) -> StreamOwner:
        return StreamOwner(self.user_id, self.session_key, self.jid, guest_link=self.guest_link)


_streams: dict[int, set[OpenStream]] = defaultdict(set)


def count(user_id: int) -> int:
    return len(_streams.get(user_id, ()))


def add(stream: OpenStream) -> None:
    _streams[stream.user_id].add(stream)


def remove(stream: OpenStream) -> None:
    streams = _streams.get(stream.user_id)
    if streams is not None:
        streams.discard(stream)
        if not streams:
            del _streams[stream.user_id]


def streams() -> list[OpenStream]:
    """Every open stream of this process."""
    return [stream for streams in _streams.values() for stream in streams]


def end_streams(*, user_id: int, session_key: str | None = None, reason: str) -> int:
    """End the user's streams (of one back-office session, if given); callable from any
    thread.  Returns how many were asked to end."""
    targets = [
        stream
        for stream in list(_streams.get(user_id, ()))
        if session_key is None or stream.session_key == session_key
    ]
    for stream in targets:
        stream.loop.call_soon_threadsafe(stream.end, reason)
    return len(targets)


def count_guest_streams(session_key: str) -> int:
    """Guest streams (user 0) of this browser session."""
    return sum(1 for stream in _streams.get(0, ()) if stream.session_key == session_key)


def end_guest_streams(*, link_id: int, reason: str) -> int:
    """End the streams of the guests of this link (it was revoked); callable from any
    thread.  Returns how many were asked to end."""
    targets = [stream for stream in list(_streams.get(0, ())) if stream.guest_link == link_id]
    for stream in targets:
        stream.loop.call_soon_threadsafe(stream.end, reason)
    return len(targets)
