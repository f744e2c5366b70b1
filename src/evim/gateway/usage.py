"""The gateway's daily usage figures, counted in memory: :data:`USAGE`.

What the service's Statistics option records, per local day: streams opened (by transport),
messages relayed from browsers, messages delivered to browsers, and who had a stream (kept
as user ids until saved, so that the day's distinct users can be counted).  Never a
stanza's content, never an address: a message is only counted.

Counting happens on the event loop's thread, with plain integers and sets, behind a switch
read without waiting (:class:`evim.service.watched.WatchedSwitch`): nothing is counted while
the option is off.  :meth:`UsageRecorder.take` hands what was counted to the code that saves
it (:func:`evim.gateway.daily_usage.flush_usage`, every minute and at shutdown) and starts
afresh.  Like ``relay.py``, this module knows nothing of Django.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from xml.parsers.expat import XML_PARAM_ENTITY_PARSING_NEVER, ExpatError, ParserCreate

CLIENT_MESSAGE = "jabber:client message"
CLIENT_BODY = "jabber:client body"


@dataclass
class DayUsage:
    """What one local day saw, since the last :meth:`UsageRecorder.take`."""

    #: By transport: "websocket", "bosh".
    streams: Counter[str] = field(default_factory=Counter)
    messages_from_browsers: int = 0
    messages_to_browsers: int = 0
    #: Who had a stream that day (back-office user ids), to count them once per day.
    users: set[int] = field(default_factory=set)


def _off() -> bool:
    return False


class UsageRecorder:
    """Counts on the event loop's thread; ``enabled`` is read on every count (the
    Statistics option, kept in memory), ``today`` gives the local date."""

    def __init__(
        self,
        *,
        enabled: Callable[[], bool] = _off,
        today: Callable[[], datetime.date] = datetime.date.today,
    ) -> None:
        self.enabled = enabled
        self.today = today
        self._days: dict[datetime.date, DayUsage] = {}

    def _day(self) -> DayUsage:
        day = self.today()
        usage = self._days.get(day)
        if usage is None:
            usage = self._days[day] = DayUsage()
        return usage

    def stream_opened(self, *, user_id: int | None, transport: str) -> None:
        """A browser stream authenticated (the user's chat is connected); ``user_id`` None
        for a guest (anonymous mode: a stream, not a user)."""
        if self.enabled():
            usage = self._day()
            usage.streams[transport] += 1
            if user_id is not None:
                usage.users.add(user_id)

    def users_active(self, user_ids: Iterable[int]) -> None:
        """These users have a stream open now (one open since yesterday counts today too)."""
        if self.enabled():
            self._day().users.update(user_ids)

    def from_browser(self, name: str, text: str) -> None:
        """A checked browser element was relayed: counted when it is a message with a body."""
        if name == "message" and "body" in text and self.enabled() and message_has_body(text):
            self._day().messages_from_browsers += 1

    def to_browser(self, frame: str) -> None:
        """A server frame was delivered to a browser: counted when it is a message with a
        body of its own (not a copy from another device, not a message from the archive,
        which come wrapped in another message)."""
        if frame.startswith("<message") and self.enabled() and message_has_body(frame):
            self._day().messages_to_browsers += 1

    def take(self) -> dict[datetime.date, DayUsage]:
        """What was counted since the last call, by day; counting starts afresh."""
        taken, self._days = self._days, {}
        return taken


class _Found(Exception):
    pass


class _NotCounted(Exception):
    pass


def message_has_body(frame: str) -> bool:
    """Whether ``frame`` is a ``jabber:client`` message, not an error, with a ``<body>``
    child (an empty body counts: some clients send one).  Only the tags are looked at;
    the body's text is never read."""
    if "<body" not in frame and ":body" not in frame:
        return False
    parser = ParserCreate(None, " ")
    parser.SetParamEntityParsing(XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth == 1:
            if name != CLIENT_MESSAGE or attributes.get("type") == "error":
                raise _NotCounted
        elif depth == 2 and name == CLIENT_BODY:
            raise _Found

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    def refuse(*_arguments: object) -> None:
        raise _NotCounted

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(frame, True)
    except _Found:
        return True
    except (_NotCounted, ExpatError, UnicodeError):
        return False
    return False


#: The figures of this process (wired to the Statistics option by ``evim.asgi``).
USAGE = UsageRecorder()
