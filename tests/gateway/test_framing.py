"""RFC 7395 frames: the browser's frames checked, the server's TCP stream cut into frames."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from xml.parsers.expat import ParserCreate

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from evim.gateway.framing import (
    CLIENT_NS,
    DEFAULT_MAX_SIZE,
    FRAMING_NS,
    STREAMS_NS,
    ClientFrame,
    FrameError,
    FrameKind,
    ServerFrame,
    StreamSplitter,
    escape_attribute,
    frame_to_stream,
    parse_client_frame,
)
from tests.fixtures.prosody import RunningProsody

TIMEOUT = 10

# --- what Converse.js (Strophe.js) sends, frame by frame ------------------------------------

CONVERSE_FRAMES: list[tuple[str, FrameKind, str, str]] = [
    (
        f'<open xmlns="{FRAMING_NS}" to="evim.test" version="1.0"/>',
        FrameKind.OPEN,
        "open",
        FRAMING_NS,
    ),
    (
        '<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">'
        "AGFsaWNlAHNlY3JldA==</auth>",
        FrameKind.ELEMENT,
        "auth",
        "urn:ietf:params:xml:ns:xmpp-sasl",
    ),
    (
        '<iq type="set" id="_bind_auth_2" xmlns="jabber:client">'
        '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">'
        "<resource>converse.js-95451296</resource></bind></iq>",
        FrameKind.ELEMENT,
        "iq",
        CLIENT_NS,
    ),
    (
        '<message from="alice@evim.test/converse.js-95451296" to="bob@evim.test" type="chat"'
        ' id="8f7d2c1a-0b9e-4c3d-a1f2-33e4b5c6d7e8" xmlns="jabber:client">'
        "<body>Salut &amp; à ce soir &lt;3 — répétition à 20 h</body>"
        '<html xmlns="http://jabber.org/protocol/xhtml-im">'
        '<body xmlns="http://www.w3.org/1999/xhtml"><p>Salut <strong>à ce soir</strong>'
        ' <span style="color: red">&lt;3</span></p></body></html>'
        '<active xmlns="http://jabber.org/protocol/chatstates"/>'
        '<request xmlns="urn:xmpp:receipts"/>'
        '<origin-id xmlns="urn:xmpp:sid:0" id="8f7d2c1a-0b9e-4c3d-a1f2-33e4b5c6d7e8"/></message>',
        FrameKind.ELEMENT,
        "message",
        CLIENT_NS,
    ),
    (
        '<presence xmlns="jabber:client"><priority>0</priority>'
        '<c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="https://conversejs.org"'
        ' ver="PxXfr6uz8ClMWIga0OB/MhKNH/M="/></presence>',
        FrameKind.ELEMENT,
        "presence",
        CLIENT_NS,
    ),
    (
        '<presence to="lilas@conference.evim.test/Alice" xmlns="jabber:client">'
        '<x xmlns="http://jabber.org/protocol/muc"><history maxstanzas="0"/></x></presence>',
        FrameKind.ELEMENT,
        "presence",
        CLIENT_NS,
    ),
    (
        '<iq type="set" id="mam1" xmlns="jabber:client"><query xmlns="urn:xmpp:mam:2"'
        ' queryid="q1"><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"'
        ' type="hidden"><value>urn:xmpp:mam:2</value></field></x>'
        '<set xmlns="http://jabber.org/protocol/rsm"><before/><max>50</max></set>'
        "</query></iq>",
        FrameKind.ELEMENT,
        "iq",
        CLIENT_NS,
    ),
    ('<enable xmlns="urn:xmpp:sm:3" resume="true"/>', FrameKind.ELEMENT, "enable", "urn:xmpp:sm:3"),
    ('<r xmlns="urn:xmpp:sm:3"/>', FrameKind.ELEMENT, "r", "urn:xmpp:sm:3"),
    ('<a xmlns="urn:xmpp:sm:3" h="5"/>', FrameKind.ELEMENT, "a", "urn:xmpp:sm:3"),
    (
        '<resume xmlns="urn:xmpp:sm:3" h="12" previd="c2s-abc"/>',
        FrameKind.ELEMENT,
        "resume",
        "urn:xmpp:sm:3",
    ),
    ('<active xmlns="urn:xmpp:csi:0"/>', FrameKind.ELEMENT, "active", "urn:xmpp:csi:0"),
    (f'<close xmlns="{FRAMING_NS}"/>', FrameKind.CLOSE, "close", FRAMING_NS),
]


@pytest.mark.parametrize(("text", "kind", "name", "namespace"), CONVERSE_FRAMES)
def test_converse_frames_are_accepted_unchanged(
    text: str, kind: FrameKind, name: str, namespace: str
) -> None:
    frame = parse_client_frame(text)
    assert (frame.kind, frame.name, frame.namespace) == (kind, name, namespace)
    assert frame.text is text  # forwarded as received, nothing re-serialised


def test_frame_attributes() -> None:
    opened = parse_client_frame(CONVERSE_FRAMES[0][0])
    assert opened.attributes == {"to": "evim.test", "version": "1.0"}
    message = parse_client_frame(
        f"<message xmlns='{CLIENT_NS}' xmlns:e='urn:e' to='bob@evim.test' type='chat'"
        " xml:lang='fr' e:flag='1' id='x&amp;y'/>"
    )
    assert message.attributes == {
        "to": "bob@evim.test",
        "type": "chat",
        "xml:lang": "fr",
        "{urn:e}flag": "1",
        "id": "x&y",
    }


@pytest.mark.parametrize(
    "text",
    [
        "<message xmlns='jabber:client'><body>&amp;&lt;&gt;&quot;&apos;&#233;&#x1F600;</body>"
        "</message>",
        "<message xmlns='jabber:client'><body><![CDATA[if (a < b && c) { <!-- x --> }]]>"
        "</body></message>",
        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
        "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
        "<x:message xmlns:x='jabber:client'><x:body>prefixed</x:body></x:message>",
        "<presence xmlns='jabber:client'/>\n",
        f"<open xmlns='{FRAMING_NS}' to='evim.test' version='1.0'></open>",
    ],
)
def test_other_acceptable_frames(text: str) -> None:
    assert parse_client_frame(text).text == text


def billion_laughs(levels: int = 10) -> str:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, levels)
    )
    return f"<!DOCTYPE lolz [{entities}]><lolz xmlns='jabber:client'>&lol{levels - 1};</lolz>"


def quadratic_blowup(size: int = 50_000) -> str:
    return (
        f'<!DOCTYPE kaboom [<!ENTITY a "{"x" * size}">]>'
        f"<kaboom xmlns='jabber:client'>{'&a;' * (size // 4)}</kaboom>"
    )


BIG = "<message xmlns='jabber:client'><body>" + "x" * DEFAULT_MAX_SIZE + "</body></message>"

REFUSED: list[tuple[str, str]] = [
    (BIG, "policy-violation"),
    # Fewer characters than the limit, more bytes.
    (
        "<message xmlns='jabber:client'><body>" + "é" * 140_000 + "</body></message>",
        "policy-violation",
    ),
    # The size is checked before anything else.
    ("<!DOCTYPE a>" + BIG, "policy-violation"),
    ("", "not-well-formed"),
    ("<", "not-well-formed"),
    ("hello", "not-well-formed"),
    (" <presence xmlns='jabber:client'/>", "not-well-formed"),
    ("<message xmlns='jabber:client'><body>hi</body>", "not-well-formed"),
    ("<message xmlns='jabber:client'></presence>", "not-well-formed"),
    ("<message xmlns='jabber:client' id='1' id='2'/>", "not-well-formed"),
    ("<message xmlns='jabber:client' id=1/>", "not-well-formed"),
    ("<message xmlns='jabber:client'><body>a < b</body></message>", "not-well-formed"),
    ("<message xmlns='jabber:client'>\x00</message>", "not-well-formed"),
    ("<message xmlns='jabber:client'>\udc80</message>", "not-well-formed"),
    ("<p:message xmlns='jabber:client'/>", "not-well-formed"),
    ("<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>", "not-well-formed"),
    ("<presence xmlns='jabber:client'/>trailing", "not-well-formed"),
    ("<presence xmlns='jabber:client'/>trailing>", "not-well-formed"),
    ("</presence>", "not-well-formed"),
    ("<message xmlns='jabber:client'><!DOCTYPE a></message>", "not-well-formed"),
    ("<!DOCTYPE presence><presence xmlns='jabber:client'/>", "restricted-xml"),
    (billion_laughs(), "restricted-xml"),
    (quadratic_blowup(), "restricted-xml"),
    ("<message xmlns='jabber:client'><body>&lol;</body></message>", "restricted-xml"),
    ("<message xmlns='jabber:client' id='&lol;'/>", "restricted-xml"),
    ("<message xmlns='jabber:client'><!-- hidden --></message>", "restricted-xml"),
    ("<!-- before --><presence xmlns='jabber:client'/>", "restricted-xml"),
    ("<presence xmlns='jabber:client'/><!-- after -->", "restricted-xml"),
    ("<message xmlns='jabber:client'><?php echo 1; ?></message>", "restricted-xml"),
    ("<presence xmlns='jabber:client'/><?pi after?>", "restricted-xml"),
    ("<?xml version='1.0'?><presence xmlns='jabber:client'/>", "restricted-xml"),
    ("<presence xmlns='jabber:client'><?xml version='1.0'?></presence>", "restricted-xml"),
    ("<message to='bob@evim.test'><body>hi</body></message>", "invalid-namespace"),
    ("<open to='evim.test' version='1.0'/>", "invalid-namespace"),
    ("<open xmlns='jabber:client' to='evim.test' version='1.0'/>", "invalid-namespace"),
    ("<close xmlns='jabber:client'/>", "invalid-namespace"),
    (f"<stream:stream xmlns:stream='{STREAMS_NS}' to='evim.test'/>", "unsupported-stanza-type"),
    (f"<restart xmlns='{FRAMING_NS}'/>", "unsupported-stanza-type"),
    (f"<open xmlns='{FRAMING_NS}' to='evim.test'><x/></open>", "invalid-xml"),
    (f"<close xmlns='{FRAMING_NS}'>bye</close>", "invalid-xml"),
]


@pytest.mark.parametrize(("text", "condition"), REFUSED, ids=lambda value: str(value)[:40])
def test_refused_frames(text: str, condition: str) -> None:
    with pytest.raises(FrameError) as refused:
        parse_client_frame(text)
    assert refused.value.condition == condition, refused.value.detail


def test_size_limit_is_in_bytes_and_inclusive() -> None:
    head, tail = "<body xmlns='jabber:client'>", "</body>"
    room = 1000 - len(head) - len(tail)
    exact = head + "x" * (room % 2) + "é" * (room // 2) + tail
    assert len(exact.encode()) == 1000
    assert parse_client_frame(exact, max_size=1000).text == exact
    with pytest.raises(FrameError) as refused:
        parse_client_frame(exact, max_size=999)
    assert refused.value.condition == "policy-violation"


@pytest.mark.parametrize("bomb", [billion_laughs(), quadratic_blowup()], ids=["laughs", "quad"])
def test_entity_bombs_are_refused_fast(bomb: str) -> None:
    began = time.perf_counter()
    with pytest.raises(FrameError) as refused:
        parse_client_frame(bomb)
    assert time.perf_counter() - began < 1
    assert refused.value.condition == "restricted-xml"


def test_frame_to_stream() -> None:
    opened = frame_to_stream(f"<open xmlns='{FRAMING_NS}' to='evim.test' xml:lang='fr'/>")
    assert opened == (
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
        b" xmlns:stream='http://etherx.jabber.org/streams' to='evim.test' xml:lang='fr'"
        b" version='1.0'>"
    )
    tricky = parse_client_frame(f"<open xmlns='{FRAMING_NS}' to='a&apos;&amp;b' version='1.0'/>")
    assert frame_to_stream(tricky).endswith(b" to='a&apos;&amp;b' version='1.0'>")
    assert frame_to_stream(f"<close xmlns='{FRAMING_NS}'/>") == b"</stream:stream>"
    message = "<message xmlns='jabber:client' to='bob@evim.test'><body>é</body></message>"
    assert frame_to_stream(message) == message.encode()
    assert frame_to_stream(parse_client_frame(message)) == message.encode()
    with pytest.raises(FrameError):
        frame_to_stream("<message><body>no namespace</body></message>")


def test_escape_attribute() -> None:
    assert escape_attribute("""a&b<c>d'e"f""") == "a&amp;b&lt;c&gt;d&apos;e&quot;f"


# --- the server's stream --------------------------------------------------------------------

HEADER = (
    b"<?xml version='1.0'?><stream:stream from='evim.test' version='1.0' xml:lang='en'"
    b" xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' id='s-1'>"
)
STREAM = HEADER + (
    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    b"<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
    b"</stream:features> \n "
    b"<message from='bob@evim.test/phone' to='alice@evim.test' type='chat' x='/>'>"
    b"<body>h\xc3\xa9 &amp; &lt;3 &gt;/&gt; 1/></body><active"
    b" xmlns='http://jabber.org/protocol/chatstates'/></message>"
    b"<presence from='bob@evim.test/phone'/>"
    b"<presence from='bob@evim.test/phone'></presence>"
    b"<iq xmlns='jabber:client' type='result' id='r1'/>"
    b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
    b"<r xmlns='urn:xmpp:sm:3'/>"
    b"<message><body>see stream:features</body></message>"
    b"<message><stream:error><x xmlns='urn:x'/></stream:error></message>"
    b"<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
    b"<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    b"</stream:stream>"
)
SD = " xmlns:stream='http://etherx.jabber.org/streams'"
EXPECTED_TEXTS = [
    f"<open xmlns='{FRAMING_NS}' from='evim.test' version='1.0' xml:lang='en' id='s-1'/>",
    f"<stream:features xmlns='jabber:client'{SD}><mechanisms"
    " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>"
    "<mechanism>PLAIN</mechanism></mechanisms></stream:features>",
    "<message xmlns='jabber:client' from='bob@evim.test/phone' to='alice@evim.test'"
    " type='chat' x='/>'><body>hé &amp; &lt;3 &gt;/&gt; 1/></body><active"
    " xmlns='http://jabber.org/protocol/chatstates'/></message>",
    "<presence xmlns='jabber:client' from='bob@evim.test/phone'/>",
    "<presence xmlns='jabber:client' from='bob@evim.test/phone'></presence>",
    "<iq xmlns='jabber:client' type='result' id='r1'/>",
    "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
    "<r xmlns='urn:xmpp:sm:3'/>",
    # The prefix is found textually: one declaration too many changes nothing.
    f"<message xmlns='jabber:client'{SD}><body>see stream:features</body></message>",
    f"<message xmlns='jabber:client'{SD}><stream:error><x xmlns='urn:x'/></stream:error></message>",
    f"<stream:error xmlns='jabber:client'{SD}>"
    "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    f"<stream:error xmlns='jabber:client'{SD}>"
    "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    f"<close xmlns='{FRAMING_NS}'/>",
]


def feed_in_chunks(
    data: bytes, sizes: Callable[[], int], *, max_size: int = DEFAULT_MAX_SIZE
) -> list[ServerFrame]:
    splitter = StreamSplitter(max_size=max_size)
    frames: list[ServerFrame] = []
    position = 0
    while position < len(data):
        size = sizes()
        frames += splitter.feed(data[position : position + size])
        position += size
    return frames


def test_splitter_frames() -> None:
    splitter = StreamSplitter()
    frames = splitter.feed(STREAM)
    assert [frame.text for frame in frames] == EXPECTED_TEXTS
    assert [frame.kind for frame in frames] == (
        [FrameKind.OPEN] + [FrameKind.ELEMENT] * 11 + [FrameKind.CLOSE]
    )
    opened, features, message = frames[:3]
    assert opened.attributes == {
        "from": "evim.test",
        "version": "1.0",
        "xml:lang": "en",
        "id": "s-1",
    }
    assert splitter.opened == opened
    assert (features.name, features.namespace) == ("features", STREAMS_NS)
    assert (message.name, message.namespace) == ("message", CLIENT_NS)
    assert message.attributes["x"] == "/>"
    assert splitter.closed
    # Every frame is a frame the browser could have sent: the namespaces travel with it.
    for frame in frames:
        assert parse_client_frame(frame.text).text == frame.text


def test_splitter_byte_by_byte_and_random_chunks_give_the_same_frames() -> None:
    whole = StreamSplitter().feed(STREAM)
    assert feed_in_chunks(STREAM, lambda: 1) == whole
    for seed in range(20):
        assert feed_in_chunks(STREAM, partial(random.Random(seed).randint, 1, 64)) == whole, seed


def test_splitter_keeps_nothing_between_frames() -> None:
    splitter = StreamSplitter()
    splitter.feed(HEADER)
    for _ in range(1000):
        assert len(splitter.feed(b" <r xmlns='urn:xmpp:sm:3'/>\n")) == 1
        assert len(splitter.feed(b"<presence/>   ")) == 1
    assert len(splitter._buffer) < 100


def test_splitter_reset_for_a_restarted_stream() -> None:
    splitter = StreamSplitter()
    frames = splitter.feed(HEADER + b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    assert [frame.name for frame in frames] == ["open", "success"]
    splitter.reset()
    restarted = splitter.feed(HEADER.replace(b"'s-1'", b"'s-2'") + b"<stream:features/>")
    assert [frame.kind for frame in restarted] == [FrameKind.OPEN, FrameKind.ELEMENT]
    assert restarted[0].attributes["id"] == "s-2"
    assert restarted[1].text == f"<stream:features xmlns='jabber:client'{SD}/>"


def test_splitter_other_header_forms() -> None:
    # A byte order mark.
    frames = feed_in_chunks(b"\xef\xbb\xbf" + STREAM, lambda: 1)
    assert [frame.text for frame in frames] == EXPECTED_TEXTS
    # No XML declaration, double quotes, a prefix of the server's own.
    header = (
        b'<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams"'
        b' xmlns:x="urn:extra" from="evim.test" id="9" version="1.0" x:hint="h">'
    )
    frames = StreamSplitter().feed(header + b"<message x:hint='1'/><iq/><x:thing/>")
    assert frames[0].text == f"<open xmlns='{FRAMING_NS}' from='evim.test' id='9' version='1.0'/>"
    assert frames[0].attributes["{urn:extra}hint"] == "h"
    assert [frame.text for frame in frames[1:]] == [
        "<message xmlns='jabber:client' xmlns:x='urn:extra' x:hint='1'/>",
        "<iq xmlns='jabber:client'/>",
        "<x:thing xmlns='jabber:client' xmlns:x='urn:extra'/>",
    ]
    # An element redeclaring a header namespace keeps its own declaration only.
    frames = StreamSplitter().feed(
        HEADER + b"<stream:features xmlns:stream='http://etherx.jabber.org/streams'"
        b" xmlns='jabber:client'/>"
    )
    assert frames[1].text == (
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'/>"
    )


def splitter_error(data: bytes, *, chunk: int = 0, max_size: int = DEFAULT_MAX_SIZE) -> FrameError:
    splitter = StreamSplitter(max_size=max_size)
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    with pytest.raises(FrameError) as refused:
        for piece in pieces:
            splitter.feed(piece)
    # The stream is over: the splitter refuses everything after.
    with pytest.raises(FrameError) as again:
        splitter.feed(b"<presence/>")
    assert again.value is refused.value
    return refused.value


SPLITTER_REFUSED: list[tuple[bytes, str]] = [
    (b"<?xml version='1.0'?>" + billion_laughs().encode(), "restricted-xml"),
    (quadratic_blowup().encode(), "restricted-xml"),
    (b"<!-- hello -->" + HEADER, "restricted-xml"),
    (b"\xef\xbb\xbf" + quadratic_blowup().encode(), "restricted-xml"),
    (b"\xef\xbb\xbf<?xml version='1.0'?>\n" + billion_laughs().encode(), "restricted-xml"),
    (b"<?xml version='1.0'?><?pi x?>" + HEADER[21:], "restricted-xml"),
    (b"<?xml version='1.0' what?>" + HEADER[21:], "not-well-formed"),
    (b"<?xml version='1.0'>" + HEADER[21:], "not-well-formed"),
    (HEADER + b"<message><!-- hidden --></message>", "restricted-xml"),
    (HEADER + b"<?pi x?>", "restricted-xml"),
    (HEADER + b"<message><body>&lol;</body></message>", "restricted-xml"),
    (HEADER + b"<message/><?xml version='1.0'?>", "restricted-xml"),
    (HEADER + b"<message><!DOCTYPE a></message>", "not-well-formed"),
    (HEADER + b"<message></presence>", "not-well-formed"),
    (HEADER + b"<message id='1' id='2'/>", "not-well-formed"),
    (HEADER + b"<message><body>\xff\xfe</body></message>", "not-well-formed"),
    (HEADER + b"stray text<message/>", "not-well-formed"),
    (HEADER + b"</stream:stream><message/>", "not-well-formed"),
    (b"<foo xmlns='jabber:client'><message/></foo>", "invalid-namespace"),
    (
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><message/>",
        "invalid-namespace",
    ),
    (HEADER + b"<message>" + b"x" * DEFAULT_MAX_SIZE + b"</message>", "policy-violation"),
    (b"<?xml version='1.0'?><stream:stream " + b" " * DEFAULT_MAX_SIZE, "policy-violation"),
]


@pytest.mark.parametrize(("data", "condition"), SPLITTER_REFUSED, ids=lambda v: str(v)[:40])
@pytest.mark.parametrize("chunk", [0, 1000, 7])
def test_splitter_refusals(data: bytes, condition: str, chunk: int) -> None:
    if chunk == 7 and len(data) > 100_000:
        chunk = 4096  # byte-sized pieces of a quarter megabyte would just be slow to feed
    assert splitter_error(data, chunk=chunk).condition == condition


def test_splitter_size_is_checked_before_parsing() -> None:
    # What lies beyond the limit is never parsed: the element is refused for its size, not
    # for the broken tag at its end.
    element = b"<message><body>" + b"x" * 2000 + b"</body></broken>"
    assert splitter_error(HEADER + element, max_size=1000).condition == "policy-violation"
    # ... even when it comes in one piece with the next element.
    assert (
        splitter_error(HEADER + element + b"<presence/>", max_size=1000).condition
        == "policy-violation"
    )
    # An element of exactly max_size bytes passes, one more byte does not.
    exact = b"<message><body>" + b"y" * (1000 - 32) + b"</body></message>"
    assert len(exact) == 1000
    frames = StreamSplitter(max_size=1000).feed(HEADER + exact + b"<presence/>")
    assert [frame.name for frame in frames] == ["open", "message", "presence"]
    one_more = exact.replace(b"<body>", b"<body>y")
    assert splitter_error(HEADER + one_more, max_size=1000).condition == "policy-violation"


def test_splitter_refuses_an_oversized_element_as_soon_as_it_is_too_big() -> None:
    splitter = StreamSplitter(max_size=1000)
    splitter.feed(HEADER + b"<message><body>" + b"z" * 900)
    with pytest.raises(FrameError) as refused:
        splitter.feed(b"z" * 200)  # no end in sight, and already over the limit
    assert refused.value.condition == "policy-violation"


def test_splitter_bombs_are_refused_fast() -> None:
    for bomb in (billion_laughs(), quadratic_blowup()):
        began = time.perf_counter()
        assert splitter_error(bomb.encode()).condition == "restricted-xml"
        assert time.perf_counter() - began < 1


def test_splitter_large_elements_in_small_pieces_are_fast() -> None:
    # A big text (an avatar) or a big attribute arriving in small pieces: expat is given the
    # bytes when a '>' comes, so it does not re-scan the partial token at every piece (which
    # takes seconds with expat 2.5 for a 200 kB attribute in 16-byte pieces).
    body = b"<iq type='result' id='v'><vCard xmlns='vcard-temp'><PHOTO><BINVAL>"
    body += b"QUJD" * 50_000 + b"</BINVAL></PHOTO></vCard></iq>"
    attribute = b"<message id='" + b"a" * 200_000 + b"'><body>hi</body></message>"
    for element in (body, attribute):
        began = time.perf_counter()
        frames = feed_in_chunks(HEADER + element, lambda: 16)
        assert time.perf_counter() - began < 1
        assert len(frames) == 2
        assert len(frames[1].text) == len(element) + len(" xmlns='jabber:client'")


def test_splitter_refuses_a_huge_tag_dripped_in_tiny_pieces() -> None:
    # Every piece holds a '>' (legal in an attribute value), so each makes expat re-scan the
    # whole tag so far: the splitter stops that before it costs much.
    splitter = StreamSplitter()
    splitter.feed(HEADER + b"<message id='")
    began = time.perf_counter()
    with pytest.raises(FrameError) as refused:
        for _ in range(DEFAULT_MAX_SIZE):
            splitter.feed(b">")
    assert time.perf_counter() - began < 1
    assert refused.value.condition == "policy-violation"
    assert "pieces" in refused.value.detail


# --- real bytes from the session's Prosody --------------------------------------------------


def receive_until(connection: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = connection.recv(65536)
        assert chunk, f"connection closed before {marker!r}: {data!r}"
        data += chunk
    return data


def namespace_declarations(frame: str) -> dict[str | None, str]:
    """The namespaces declared on a frame's top-level start tag."""
    declared: dict[str | None, str] = {}
    depth = [0]

    def declare(prefix: str | None, uri: str) -> None:
        if depth[0] == 0:
            declared[prefix] = uri

    def start(name: str, attributes: dict[str, str]) -> None:
        depth[0] += 1

    parser = ParserCreate(None, " ")
    parser.StartNamespaceDeclHandler = declare
    parser.StartElementHandler = start
    parser.Parse(frame, True)
    return declared


def test_splitter_on_prosodys_own_stream(managed_prosody: RunningProsody) -> None:
    """Prosody's real bytes before STARTTLS, split as Prosody's mod_websocket frames them."""
    header = (
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
        f" xmlns:stream='{STREAMS_NS}' to='{managed_prosody.domain}' version='1.0'>"
    )
    with socket.create_connection(
        (managed_prosody.c2s_host, managed_prosody.c2s_port), timeout=TIMEOUT
    ) as connection:
        connection.sendall(header.encode())
        captured = receive_until(connection, b"</stream:features>")
        connection.sendall(b"</stream:stream>")
        captured += receive_until(connection, b"</stream:stream>")

    frames = StreamSplitter().feed(captured)
    assert [frame.kind for frame in frames] == [FrameKind.OPEN, FrameKind.ELEMENT, FrameKind.CLOSE]
    opened, features, _closed = frames
    assert opened.attributes["from"] == managed_prosody.domain
    assert opened.attributes["version"] == "1.0"
    assert opened.attributes["id"]
    assert (features.name, features.namespace) == ("features", STREAMS_NS)
    assert "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>" in features.text
    assert parse_client_frame(features.text).text == features.text
    assert feed_in_chunks(captured, lambda: 1) == frames

    # Prosody's WebSocket says the same, in the same forms.
    with connect(
        managed_prosody.websocket_url, subprotocols=[Subprotocol("xmpp")], open_timeout=TIMEOUT
    ) as websocket:
        websocket.send(f"<open xmlns='{FRAMING_NS}' to='{managed_prosody.domain}' version='1.0'/>")
        ws_open, ws_features = websocket.recv(TIMEOUT), websocket.recv(TIMEOUT)
    assert isinstance(ws_open, str) and isinstance(ws_features, str)
    expected_open = parse_client_frame(ws_open)
    got_open = parse_client_frame(opened.text)
    assert (got_open.kind, got_open.namespace) == (expected_open.kind, expected_open.namespace)
    assert got_open.attributes.keys() == expected_open.attributes.keys()
    assert namespace_declarations(opened.text) == namespace_declarations(ws_open)
    assert ws_features.startswith("<stream:features ")
    assert features.text.startswith("<stream:features ")
    assert (
        namespace_declarations(features.text)
        == namespace_declarations(ws_features)
        == {
            None: CLIENT_NS,
            "stream": STREAMS_NS,
        }
    )


# --- fuzzing --------------------------------------------------------------------------------

# Bounded runs (the four together take a few seconds); the deadline catches a hang.
FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=1),
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
GENERATED = settings(FUZZ, max_examples=120)

CORPUS = [text for text, *_ in CONVERSE_FRAMES] + [text for text, _ in REFUSED if len(text) < 2000]
SNIPPETS = ["<", ">", "/>", "</", "&", ";", "'", '"', "<!--", "<?", "<!DOCTYPE a [", "&amp;",
            "<![CDATA[", "]]>", "xmlns=", "xmlns:stream=", "\x00", "é", " ", "=", ":"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, corpus: list[str]) -> str:
    text = draw(st.sampled_from(corpus))
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "snippet"]))
        if action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 8)) :]
        elif action == "insert":
            text = text[:position] + draw(st.text(max_size=4)) + text[position:]
        else:
            text = text[:position] + draw(st.sampled_from(SNIPPETS)) + text[position:]
    return text


@FUZZ
@given(st.one_of(st.text(max_size=200), mutated(CORPUS)))
def test_fuzz_parse_client_frame(text: str) -> None:
    try:
        frame = parse_client_frame(text)
    except FrameError as error:
        assert error.condition in {
            "policy-violation",
            "not-well-formed",
            "restricted-xml",
            "invalid-namespace",
            "unsupported-stanza-type",
            "invalid-xml",
        }
    else:
        assert frame.text is text
        assert frame.namespace


STREAM_CORPUS = [
    STREAM.decode(),
    (HEADER + b"<presence/><message><body>x</body></message>").decode(),
]


def split_outcome(data: bytes, sizes: Callable[[], int]) -> list[ServerFrame] | str:
    try:
        return feed_in_chunks(data, sizes, max_size=512)
    except FrameError as error:
        return error.condition


@FUZZ
@given(
    st.one_of(st.binary(max_size=300), mutated(STREAM_CORPUS).map(str.encode)),
    st.randoms(use_true_random=False),
)
def test_fuzz_stream_splitter(data: bytes, chance: random.Random) -> None:
    whole = split_outcome(data, lambda: max(len(data), 1))
    pieces = split_outcome(data, lambda: chance.randint(1, 40))
    # Only FrameError ever escapes, and how the bytes are cut changes nothing.
    assert pieces == whole


# Well-formed elements: names, namespaces, attributes, text, CDATA, nested prefixes.
NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,6}", fullmatch=True).filter(
    lambda name: not name.lower().startswith("xml")
)
NAMESPACES = st.sampled_from(
    [CLIENT_NS, "urn:xmpp:sm:3", "http://jabber.org/protocol/muc", "urn:x:é&<'\"", "jabber:x:data"]
)
XML_TEXT = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Cn")) | st.sampled_from("\t\n\r"), max_size=12
)


def escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("]]>", "]]&gt;")


@st.composite
def attributes(draw: st.DrawFn) -> str:
    names = draw(st.lists(NAME, max_size=3, unique=True))
    quoted = []
    for name in names:
        value = draw(XML_TEXT)
        if draw(st.booleans()):
            quoted.append(f" {name}='{escape_attribute(value)}'")
        else:
            quoted.append(f' {name}="{escape_attribute(value)}"')
    return "".join(quoted)


@st.composite
def element(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(NAME)
    declaration = ""
    if depth == 0 or draw(st.booleans()):
        declaration = f" xmlns='{escape_attribute(draw(NAMESPACES))}'"
    if depth > 0 and draw(st.integers(0, 4)) == 0:
        # (the splitter would declare a "stream:" prefix on the top element once more)
        prefix = draw(NAME.filter(lambda prefix: prefix != "stream"))
        name = f"{prefix}:{name}"
        declaration += f" xmlns:{prefix}='{escape_attribute(draw(NAMESPACES))}'"
    start = f"<{name}{declaration}{draw(attributes())}"
    if depth >= 3 or draw(st.integers(0, 3)) == 0:
        return start + "/>"
    children = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["text", "cdata", "element", "reference"]))
        if kind == "text":
            children.append(escape_text(draw(XML_TEXT)))
        elif kind == "cdata":
            children.append(f"<![CDATA[{draw(XML_TEXT).replace(']]>', '')}]]>")
        elif kind == "reference":
            children.append(draw(st.sampled_from(["&amp;", "&lt;", "&gt;", "&#233;", "&#x1F600;"])))
        else:
            children.append(draw(element(depth + 1)))
    return f"{start}>{''.join(children)}</{name}>"


@GENERATED
@given(element())
def test_well_formed_elements_are_accepted_as_they_are(text: str) -> None:
    frame = parse_client_frame(text)
    assert frame.text == text
    assert frame.kind is FrameKind.ELEMENT


@GENERATED
@given(st.lists(element(), min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_splitter_gives_back_elements_that_declare_their_namespace(
    elements: list[str], chance: random.Random
) -> None:
    data = HEADER + " ".join(elements).encode() + b"</stream:stream>"
    frames = feed_in_chunks(data, lambda: chance.randint(1, 50))
    assert [frame.text for frame in frames[1:-1]] == elements
    assert frames[-1].kind is FrameKind.CLOSE


def test_client_frame_type_is_a_named_tuple() -> None:
    frame = parse_client_frame("<r xmlns='urn:xmpp:sm:3'/>")
    assert isinstance(frame, ClientFrame)
    assert frame == (FrameKind.ELEMENT, "r", "urn:xmpp:sm:3", {}, "<r xmlns='urn:xmpp:sm:3'/>")


@pytest.mark.parametrize(
    "banner", [b"SSH-2.0-OpenSSH_9.2\r\n", b"HTTP/1.1 400 Bad Request\r\n", b"\r\n  S"]
)
def test_a_server_that_is_not_xmpp_is_refused_at_once(banner: bytes) -> None:
    """No waiting for a '>' that may never come: the first byte that is not '<' says it."""
    for piece in (banner, banner[: banner.index(banner.strip()[:1]) + 1]):
        with pytest.raises(FrameError) as refused:
            StreamSplitter().feed(piece)
        assert refused.value.condition == "not-well-formed"
        assert "not an XMPP server" in refused.value.detail
