"""The gateway's daily counts in memory (evim.gateway.usage): what counts as a message, and
nothing counted while the Statistics option is off."""

from __future__ import annotations

import datetime

import pytest

from evim.gateway.usage import UsageRecorder, message_has_body

CHAT = (
    "<message xmlns='jabber:client' to='jeanne@localhost' type='chat' id='m1'>"
    "<body>La salle est prête</body><active xmlns='http://jabber.org/protocol/chatstates'/>"
    "</message>"
)
TYPING = (
    "<message xmlns='jabber:client' to='jeanne@localhost' type='chat' id='m2'>"
    "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
)
ERROR = (
    "<message xmlns='jabber:client' from='jeanne@localhost' type='error' id='m3'>"
    "<body>La salle est prête</body><error type='cancel'>"
    "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
)
# A copy of a message sent from another device (XEP-0280): delivered, but not a new message.
CARBON = (
    "<message xmlns='jabber:client' from='camille@localhost' to='camille@localhost/evim-bar-1'>"
    "<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
    "<message xmlns='jabber:client' to='jeanne@localhost' type='chat'><body>Copie</body>"
    "</message></forwarded></sent></message>"
)
# A message read back from the archive (XEP-0313): history, not a message of today.
ARCHIVED = (
    "<message xmlns='jabber:client' to='camille@localhost/evim-bar-1'>"
    "<result xmlns='urn:xmpp:mam:2' queryid='q1' id='a1'><forwarded xmlns='urn:xmpp:forward:0'>"
    "<message xmlns='jabber:client' type='chat'><body>Ancien</body></message>"
    "</forwarded></result></message>"
)
XHTML_ONLY = (
    "<message xmlns='jabber:client' type='chat'><html xmlns='http://jabber.org/protocol/xhtml-im'>"
    "<body xmlns='http://www.w3.org/1999/xhtml'><p>Bonjour</p></body></html></message>"
)
PREFIXED = (
    "<c:message xmlns:c='jabber:client' type='groupchat' to='lilas@conference.localhost'>"
    "<c:body>Bonjour à tous</c:body></c:message>"
)
IQ = "<iq xmlns='jabber:client' type='set' id='i1'><body xmlns='urn:example'/></iq>"


@pytest.mark.parametrize(
    ("frame", "counted"),
    [
        (CHAT, True),
        (PREFIXED, True),
        ("<message xmlns='jabber:client' type='chat'><body/></message>", True),
        (TYPING, False),
        (ERROR, False),
        (CARBON, False),
        (ARCHIVED, False),
        (XHTML_ONLY, False),
        (IQ, False),
        ("<message xmlns='urn:example'><body>x</body></message>", False),
        # Frames are checked before they get here; one that breaks before its body is not a
        # message to count.
        ("<message xmlns='jabber:client'><x></y><body>x</body></message>", False),
        (
            "<!DOCTYPE m [<!ENTITY e 'x'>]><message xmlns='jabber:client'><body>&e;</body>"
            "</message>",
            False,
        ),
    ],
    ids=[
        "chat",
        "prefixed",
        "empty-body",
        "typing",
        "error",
        "carbon",
        "archived",
        "xhtml-only",
        "iq",
        "other-namespace",
        "broken",
        "doctype",
    ],
)
def test_what_counts_as_a_message(frame: str, counted: bool) -> None:
    assert message_has_body(frame) is counted


class Clock:
    def __init__(self) -> None:
        self.day = datetime.date(2026, 3, 28)

    def __call__(self) -> datetime.date:
        return self.day


def test_counts_by_day_then_start_afresh() -> None:
    clock = Clock()
    recorder = UsageRecorder(enabled=lambda: True, today=clock)
    recorder.stream_opened(user_id=1, transport="websocket")
    recorder.stream_opened(user_id=1, transport="websocket")
    recorder.stream_opened(user_id=2, transport="bosh")
    recorder.stream_opened(user_id=None, transport="websocket")  # a guest: no user
    recorder.from_browser("message", CHAT)
    recorder.from_browser("message", TYPING)
    recorder.from_browser("iq", IQ)
    recorder.to_browser(CHAT)
    recorder.to_browser(CARBON)
    recorder.to_browser("<presence xmlns='jabber:client'/>")
    clock.day = datetime.date(2026, 3, 29)  # midnight passed
    recorder.users_active([2])
    recorder.to_browser(CHAT)

    taken = recorder.take()
    first, second = taken[datetime.date(2026, 3, 28)], taken[datetime.date(2026, 3, 29)]
    assert dict(first.streams) == {"websocket": 3, "bosh": 1}
    assert (first.messages_from_browsers, first.messages_to_browsers) == (1, 1)
    assert first.users == {1, 2}
    assert (dict(second.streams), second.messages_to_browsers, second.users) == ({}, 1, {2})
    assert recorder.take() == {}


def test_nothing_is_counted_while_the_option_is_off() -> None:
    on = False
    recorder = UsageRecorder(enabled=lambda: on, today=Clock())
    recorder.stream_opened(user_id=1, transport="websocket")
    recorder.from_browser("message", CHAT)
    recorder.to_browser(CHAT)
    recorder.users_active([1])
    assert recorder.take() == {}
    on = True
    recorder.from_browser("message", CHAT)
    assert recorder.take()[Clock()()].messages_from_browsers == 1


def test_the_body_is_never_kept() -> None:
    recorder = UsageRecorder(enabled=lambda: True, today=Clock())
    recorder.from_browser("message", CHAT)
    recorder.to_browser(CHAT)
    assert "prête" not in repr(recorder.take())
