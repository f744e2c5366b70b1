"""XMPP frames: checking the browser's RFC 7395 frames, cutting a TCP XML stream into frames.

Every element crossing the gateway is an RFC 7395 *frame*: one complete XML element as text,
its namespace declared on it.  This module is pure (no I/O):

- :func:`parse_client_frame` checks one WebSocket text message from the browser (untrusted)
  before anything is forwarded, and says what it is (``<open/>``, ``<close/>`` or an element);
  an acceptable frame is forwarded as the very text received, never re-serialised.
- :class:`StreamSplitter` turns the bytes of an upstream server's XML stream (RFC 6120 over
  TCP, in arbitrary chunks) into the frames Prosody's own ``mod_websocket`` would have sent:
  the stream header becomes ``<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' .../>``, each
  top-level element keeps its original bytes with the namespaces it inherited from the stream
  header declared on its start tag (``<message xmlns='jabber:client' ...>``,
  ``<stream:features xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>``),
  and ``</stream:stream>`` becomes ``<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>``.
- :func:`frame_to_stream` is the way back: a browser frame as bytes for a TCP stream.

Refusals raise :class:`FrameError` whose ``condition`` is the RFC 6120 stream error to send.
Restricted XML (RFC 6120 §11.1) is enforced on both sides: no DOCTYPE or DTD, no entity
declarations or references other than the five predefined ones, no comments, no processing
instructions.  Python 3.11's expat (2.5.0) predates the fix for large tokens (CVE-2023-52425,
expat 2.6): a token fed in many pieces is re-scanned from its start on every piece.  Hence
sizes are checked *before* expat sees the bytes, a DOCTYPE can never reach expat (it is
refused by looking at the bytes before the root element), and the splitter bounds the
re-scanning an element may cause.
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple, NoReturn
from xml.parsers.expat import (
    XML_PARAM_ENTITY_PARSING_NEVER,
    ExpatError,
    ParserCreate,
    XMLParserType,
    errors,
)

FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
STREAMS_NS = "http://etherx.jabber.org/streams"
CLIENT_NS = "jabber:client"
XML_NS = "http://www.w3.org/XML/1998/namespace"

#: Prosody's ``c2s_stanza_size_limit`` default (256 KiB), in bytes of UTF-8.
DEFAULT_MAX_SIZE = 262144

#: The splitter refuses an element whose pieces made expat re-scan more than this many times
#: ``max_size`` bytes, or 4 MiB (only a server dripping a huge tag a few bytes at a time,
#: each piece with a '>', gets there).
RESCAN_FACTOR = 16
RESCAN_MINIMUM = 4 << 20

CLOSE_FRAME_TEXT = f"<close xmlns='{FRAMING_NS}'/>"
STREAM_CLOSE = b"</stream:stream>"


class FrameKind(enum.Enum):
    OPEN = "open"
    CLOSE = "close"
    ELEMENT = "element"


class FrameError(Exception):
    """A frame or stream that must not cross the gateway.

    ``condition`` is the RFC 6120 §4.9.3 stream error condition to send back
    (``policy-violation``, ``not-well-formed``, ``restricted-xml``, ``invalid-namespace``...);
    ``detail`` says what was wrong, for logs and the error's ``<text/>``.
    """

    def __init__(self, condition: str, detail: str) -> None:
        super().__init__(f"{condition}: {detail}")
        self.condition = condition
        self.detail = detail


class ClientFrame(NamedTuple):
    """A checked frame from the browser.

    ``name`` and ``namespace`` are the top-level element's local name and namespace;
    ``attributes`` its attributes: plain names as is, ``xml:lang`` as ``"xml:lang"``, other
    namespaced ones as ``"{namespace}name"``; ``text`` is the frame to forward (the text
    received).
    """

    kind: FrameKind
    name: str
    namespace: str
    attributes: dict[str, str]
    text: str


class ServerFrame(NamedTuple):
    """A frame cut from the server's stream; same fields as :class:`ClientFrame`.

    For OPEN, ``attributes`` are the stream header's (``id``, ``from``, ``version``,
    ``xml:lang``...) and ``text`` the RFC 7395 ``<open/>``.
    """

    kind: FrameKind
    name: str
    namespace: str
    attributes: dict[str, str]
    text: str


# Expat errors that are restricted XML rather than XML that is not well-formed.
_RESTRICTED_CODES = frozenset(
    errors.codes[message]
    for message in (
        errors.XML_ERROR_UNDEFINED_ENTITY,
        errors.XML_ERROR_RECURSIVE_ENTITY_REF,
        errors.XML_ERROR_BINARY_ENTITY_REF,
        errors.XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF,
        errors.XML_ERROR_PARAM_ENTITY_REF,
        errors.XML_ERROR_MISPLACED_XML_PI,
        errors.XML_ERROR_ENTITY_DECLARED_IN_PE,
        errors.XML_ERROR_AMPLIFICATION_LIMIT_BREACH,
        errors.XML_ERROR_EXTERNAL_ENTITY_HANDLING,
    )
)

# The end of a start tag (quoted attribute values may hold '>'), from its '<'.
_TAG_END = re.compile(rb"""<[^'">]*(?:(?:'[^']*'|"[^"]*")[^'">]*)*>""")
_TAG_END_TEXT = re.compile(r"""<[^'">]*(?:(?:'[^']*'|"[^"]*")[^'">]*)*>""")
_NAME_END = re.compile(rb"[ \t\r\n/>]")
_NOT_SPACE = re.compile(rb"[^ \t\r\n]")
_XML_DECLARATION = re.compile(rb"<\?xml[ \t\r\n][^?>]*\?>")
_BOM = b"\xef\xbb\xbf"


# --- refusals -------------------------------------------------------------------------------


def _refuse_doctype(*_: object) -> NoReturn:
    raise FrameError("restricted-xml", "DOCTYPE declarations are not allowed")


def _refuse_entity(*_: object) -> NoReturn:
    raise FrameError("restricted-xml", "entity declarations are not allowed")


def _refuse_comment(*_: object) -> NoReturn:
    raise FrameError("restricted-xml", "comments are not allowed")


def _refuse_instruction(*_: object) -> NoReturn:
    raise FrameError("restricted-xml", "processing instructions are not allowed")


def _refuse_declaration(*_: object) -> NoReturn:
    raise FrameError("restricted-xml", "an XML declaration is not allowed inside a frame")


def _from_expat(error: ExpatError) -> FrameError:
    condition = "restricted-xml" if error.code in _RESTRICTED_CODES else "not-well-formed"
    return FrameError(condition, str(error))


def _guard(parser: XMLParserType) -> None:
    """Refuse DTDs, entity declarations, comments and processing instructions on the spot."""
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.NotationDeclHandler = _refuse_entity
    parser.CommentHandler = _refuse_comment
    parser.ProcessingInstructionHandler = _refuse_instruction
    parser.SetParamEntityParsing(XML_PARAM_ENTITY_PARSING_NEVER)


# --- helpers --------------------------------------------------------------------------------


def escape_attribute(value: str) -> str:
    """``value`` for an attribute between single quotes (Prosody escapes the same five)."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
    )


def _attribute_names(raw: dict[str, str]) -> dict[str, str]:
    """Expat's ``"namespace name"`` keys as ``xml:lang`` / ``{namespace}name``."""
    for key in raw:
        if " " in key:
            break
    else:
        return raw
    named: dict[str, str] = {}
    for key, value in raw.items():
        namespace, _, local = key.rpartition(" ")
        if not namespace:
            named[key] = value
        elif namespace == XML_NS:
            named[f"xml:{local}"] = value
        else:
            named[f"{{{namespace}}}{local}"] = value
    return named


def _plain_attributes(attributes: dict[str, str]) -> str:
    """Unqualified attributes and ``xml:*`` ones, serialised (others would need their
    namespace declared: they are dropped from stream headers)."""
    return "".join(
        f" {name}='{escape_attribute(value)}'"
        for name, value in attributes.items()
        if not name.startswith("{")
    )


# --- the browser's frames (RFC 7395) --------------------------------------------------------


class _FirstElement:
    """Start handler keeping the top-level element only, then unhooking itself: expat then
    builds no names or attribute dictionaries for the children."""

    __slots__ = ("attributes", "name", "parser")

    def __init__(self, parser: XMLParserType) -> None:
        self.parser = parser
        self.name = ""
        self.attributes: dict[str, str] = {}

    def __call__(self, name: str, attributes: dict[str, str]) -> None:
        self.name = name
        self.attributes = attributes
        self.parser.StartElementHandler = None


def parse_client_frame(text: str, *, max_size: int = DEFAULT_MAX_SIZE) -> ClientFrame:
    """Check one frame from the browser; raises :class:`FrameError` if it must not pass.

    ``max_size`` is in bytes of UTF-8 (Prosody's ``c2s_stanza_size_limit``).
    """
    length = len(text)
    if length > max_size or (
        length * 4 > max_size and len(text.encode("utf-8", "surrogatepass")) > max_size
    ):
        raise FrameError("policy-violation", f"frame larger than {max_size} bytes")
    if length < 2 or text[0] != "<":
        raise FrameError("not-well-formed", "a frame is one XML element, starting with '<'")
    # Nothing may come before the element, so a DTD could only be here: refused before
    # expat sees it (no entity can be declared, hence no entity expansion at all).
    second = text[1]
    if second == "!":
        raise FrameError("restricted-xml", "DOCTYPE, comment or CDATA outside the element")
    if second == "?":
        raise FrameError("restricted-xml", "XML declaration or processing instruction")

    parser = ParserCreate(None, " ")
    first = _FirstElement(parser)
    parser.StartElementHandler = first
    _guard(parser)
    parser.XmlDeclHandler = _refuse_declaration
    try:
        parser.Parse(text, True)
    except ExpatError as error:
        raise _from_expat(error) from None
    except UnicodeError:
        raise FrameError("not-well-formed", "text that is not Unicode (lone surrogate)") from None

    namespace, _, name = first.name.rpartition(" ")
    if not namespace:
        raise FrameError("invalid-namespace", f"<{name}> declares no namespace")
    attributes = _attribute_names(first.attributes)
    if namespace == FRAMING_NS:
        if name == "open":
            kind = FrameKind.OPEN
        elif name == "close":
            kind = FrameKind.CLOSE
        else:
            raise FrameError("unsupported-stanza-type", f"<{name}> in the framing namespace")
        if not _is_empty(text):
            raise FrameError("invalid-xml", f"<{name}/> must be empty")
        return ClientFrame(kind, name, namespace, attributes, text)
    if name in ("open", "close"):
        raise FrameError("invalid-namespace", f"<{name}> must be in {FRAMING_NS}")
    if namespace == STREAMS_NS and name == "stream":
        raise FrameError("unsupported-stanza-type", "RFC 7395 streams open with <open/>")
    return ClientFrame(FrameKind.ELEMENT, name, namespace, attributes, text)


def _is_empty(text: str) -> bool:
    """Whether a well-formed single element has no content (whitespace aside)."""
    stripped = text.rstrip()
    if stripped.endswith("/>"):
        return True  # the last tag is an empty-element tag: only the root can end a document
    start_tag = _TAG_END_TEXT.match(stripped)
    return start_tag is not None and stripped[start_tag.end() :].lstrip().startswith("</")


def frame_to_stream(frame: str | ClientFrame) -> bytes:
    """A browser frame as bytes for a TCP ``jabber:client`` stream.

    An element is valid in the stream as is (it declares its own namespace); ``<open/>``
    becomes a stream header and ``<close/>`` ``</stream:stream>``.  Pass the
    :class:`ClientFrame` from :func:`parse_client_frame` to spare a second parse.
    """
    if isinstance(frame, str):
        frame = parse_client_frame(frame, max_size=4 * len(frame) + 4)
    if frame.kind is FrameKind.ELEMENT:
        return frame.text.encode("utf-8")
    if frame.kind is FrameKind.CLOSE:
        return STREAM_CLOSE
    attributes = dict(frame.attributes)
    attributes.setdefault("version", "1.0")
    return (
        "<?xml version='1.0'?><stream:stream"
        f" xmlns='{CLIENT_NS}' xmlns:stream='{STREAMS_NS}'{_plain_attributes(attributes)}>"
    ).encode()


# --- the server's stream (RFC 6120 over TCP) ------------------------------------------------


class StreamSplitter:
    """Cuts an upstream XML stream, fed in arbitrary chunks, into RFC 7395 frames.

    :meth:`feed` returns the frames completed by each chunk: first the stream header as an
    OPEN frame, then one ELEMENT frame per top-level element, then CLOSE at
    ``</stream:stream>``.  Call :meth:`reset` where the stream restarts (after
    ``<proceed/>`` of STARTTLS, after SASL ``<success/>``): the server then sends a new
    header.  After a :class:`FrameError` the splitter raises it again on every feed (the
    stream is over); frames completed by the same chunk before the error are not returned.

    ``root``: the root element expected, as ``"namespace name"``; another one than
    ``<stream:stream>`` cuts a document of the same shape, such as a BOSH ``<body>``
    (XEP-0124): its attributes come in the OPEN frame, it may be empty (``<body/>``).
    """

    def __init__(
        self, *, max_size: int = DEFAULT_MAX_SIZE, root: str = f"{STREAMS_NS} stream"
    ) -> None:
        self.max_size = max_size
        self._root = root
        self._rescan_budget = max(RESCAN_FACTOR * max_size, RESCAN_MINIMUM)
        #: The last stream header received, as an OPEN frame.
        self.opened: ServerFrame | None = None
        self._frames: list[ServerFrame] = []
        self.reset()

    def reset(self) -> None:
        """Start over for a new stream (bytes of the old one not yet framed are dropped)."""
        parser = ParserCreate("UTF-8", " ")
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        parser.StartNamespaceDeclHandler = self._declare
        _guard(parser)
        self._parser = parser
        self._buffer = bytearray()
        self._base = 0  # stream offset of _buffer[0]
        self._fed = 0  # stream offset up to which expat has the bytes
        self._held = 0  # the bytes from _fed to here, held back, hold no '>'
        self._depth = 0
        self._in_header = True  # the root start tag is not parsed yet
        self._prolog_checked = False
        self._closed = False
        self._mark = 0  # where the next top-level element (or the header) may begin
        self._element = -1  # offset of the open top-level element's '<', -1 when none
        self._element_name = ""
        self._element_attributes: dict[str, str] = {}
        self._element_declares: list[str | None] = []
        self._declared: list[tuple[str | None, str]] = []  # on the start tag being parsed
        self._default_declaration = b""
        # Prefixes declared on the header: (b"stream:", "stream", b" xmlns:stream='...'")
        self._prefixes: list[tuple[bytes, str, bytes]] = []
        self._last_event = 0
        self._rescanned = 0
        self._error: FrameError | None = None

    @property
    def closed(self) -> bool:
        """Whether ``</stream:stream>`` was received."""
        return self._closed

    def feed(self, data: bytes) -> list[ServerFrame]:
        """The frames completed by ``data``, the next bytes of the stream."""
        if self._error is not None:
            raise self._error
        frames: list[ServerFrame] = []
        self._frames = frames
        self._buffer += data
        try:
            self._advance()
        except FrameError as error:
            self._error = error
            raise
        except ExpatError as error:
            self._error = _from_expat(error)
            raise self._error from None
        return frames

    # -- feeding expat ----------------------------------------------------------------------

    def _advance(self) -> None:
        buffer = self._buffer
        end = self._base + len(buffer)
        if self._in_header and not self._prolog_checked and not self._check_prolog():
            if end - self._mark > self.max_size:
                raise FrameError("policy-violation", "stream header too large")
            return
        while self._fed < end:
            base = self._base
            start = self._element if self._element >= 0 else self._next_start()
            if start < 0:
                stop = end  # blanks only: nothing to hold back
            else:
                # No element or tag can end without a '>': expat gets the bytes up to the
                # last '>' and the rest waits for the next one, which spares it re-scanning
                # a partial token at every small piece (and does not depend on the pieces).
                limit = start + self.max_size
                searched = min(end, limit)
                last = buffer.rfind(b">", max(self._fed, self._held) - base, searched - base)
                if last < 0:
                    if end > limit:
                        raise FrameError("policy-violation", f"element over {self.max_size} bytes")
                    self._held = searched  # no '>' before: not searched again
                    break
                stop = last + 1 + base
                # Expat re-scans the partial token left by the previous piece: at most the
                # bytes since its last event.  Bound that work per element.
                if self._fed > start:
                    self._rescanned += self._fed - max(self._last_event, start)
                    if self._rescanned > self._rescan_budget:
                        raise FrameError(
                            "policy-violation", "element sent in too many small pieces"
                        )
            self._parser.Parse(buffer[self._fed - base : stop - base], False)
            self._fed = stop
        self._trim()

    def _next_start(self) -> int:
        """Offset of the first non-blank byte after the last frame, or -1."""
        found = _NOT_SPACE.search(self._buffer, self._mark - self._base)
        return -1 if found is None else found.start() + self._base

    def _trim(self) -> None:
        if self._in_header:
            return
        if self._element >= 0:
            keep = self._element
        else:
            start = self._next_start()
            keep = self._fed if start < 0 else min(start, self._fed)
            self._mark = keep
        if keep > self._base:
            del self._buffer[: keep - self._base]
            self._base = keep

    def _check_prolog(self) -> bool:
        """Before the stream header only an XML declaration and blanks may come: a DOCTYPE
        (and its entities), comment or processing instruction is refused before expat sees
        it.  False while there are too few bytes to tell."""
        buffer = self._buffer
        position = 0
        if buffer.startswith(_BOM):
            position = len(_BOM)
        elif len(buffer) < len(_BOM) and _BOM.startswith(buffer):
            return False
        if buffer.startswith(b"<?xml", position) and len(buffer) > position + 5:
            if buffer[position + 5] in b" \t\r\n":
                declaration = _XML_DECLARATION.match(buffer, position)
                if declaration is None:
                    if buffer.find(b">", position) >= 0:
                        raise FrameError("not-well-formed", "malformed XML declaration")
                    return False
                position = declaration.end()
        elif len(buffer) - position < 6 and b"<?xml ".startswith(buffer[position:]):
            return False
        found = _NOT_SPACE.search(buffer, position)
        if found is None:
            return False
        if buffer[found.start()] != ord("<"):
            # Not XML at all (an SSH or HTTP banner...): say so now rather than wait for a '>'.
            raise FrameError("not-well-formed", "the server sent no XML stream: not an XMPP server")
        if found.start() + 1 >= len(buffer):
            return False
        if buffer[found.start()] == ord("<"):
            following = buffer[found.start() + 1]
            if following == ord("!"):
                raise FrameError("restricted-xml", "DOCTYPE or comment before the stream")
            if following == ord("?"):
                raise FrameError("restricted-xml", "processing instruction before the stream")
        self._prolog_checked = True
        return True

    # -- expat handlers ---------------------------------------------------------------------

    def _declare(self, prefix: str | None, uri: str) -> None:
        if self._depth <= 1:  # on the stream header or on a top-level element
            self._declared.append((prefix, uri))

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        depth = self._depth
        self._depth = depth + 1
        index = self._parser.CurrentByteIndex
        self._last_event = index
        if depth == 1:
            self._element = index
            self._element_name = name
            self._element_attributes = attributes
            if self._declared:
                self._element_declares = [prefix for prefix, _ in self._declared]
                self._declared = []
            elif self._element_declares:
                self._element_declares = []
            if " " not in name:
                raise FrameError("invalid-namespace", f"<{name}> has no namespace")
        elif depth == 0:
            self._open(name, attributes, index)

    def _open(self, name: str, attributes: dict[str, str], index: int) -> None:
        if name != self._root:
            expected = "<stream:stream>" if self._root == f"{STREAMS_NS} stream" else self._root
            raise FrameError("invalid-namespace", f"the stream must open with {expected}")
        self._default_declaration = b""
        self._prefixes = []
        for prefix, uri in self._declared:
            declaration = f"='{escape_attribute(uri)}'".encode()
            if prefix is None:
                self._default_declaration = b" xmlns" + declaration
            else:
                self._prefixes.append(
                    (prefix.encode() + b":", prefix, b" xmlns:" + prefix.encode() + declaration)
                )
        self._declared = []
        named = _attribute_names(attributes)
        frame = ServerFrame(
            FrameKind.OPEN,
            "open",
            FRAMING_NS,
            named,
            f"<open xmlns='{FRAMING_NS}'{_plain_attributes(named)}/>",
        )
        self.opened = frame
        self._frames.append(frame)
        header = _TAG_END.match(self._buffer, index - self._base)
        assert header is not None  # expat reports the start tag once it is complete
        self._mark = header.end() + self._base
        self._in_header = False
        self._rescanned = 0

    def _end(self, name: str) -> None:
        depth = self._depth - 1
        self._depth = depth
        index = self._parser.CurrentByteIndex
        self._last_event = index
        if depth == 1:
            self._emit(index)
        elif depth == 0:
            self._closed = True
            at = index - self._base
            # An empty root (``<body/>``) ends where its start tag did: _mark is already past.
            if not (index == self._mark and self._buffer[at - 2 : at] == b"/>"):
                self._mark = self._buffer.index(b">", at) + 1 + self._base
            self._frames.append(
                ServerFrame(FrameKind.CLOSE, "close", FRAMING_NS, {}, CLOSE_FRAME_TEXT)
            )

    def _text(self, data: str) -> None:
        self._last_event = self._parser.CurrentByteIndex
        if self._depth == 1 and not data.isspace():
            raise FrameError("not-well-formed", "text between top-level elements")

    def _emit(self, index: int) -> None:
        """The top-level element ends at ``index`` (where expat reports its end)."""
        buffer = self._buffer
        base = self._base
        start = self._element - base
        at = index - base
        # Expat reports the end of an element at its end tag's '<', but the end of an
        # empty-element tag just after its '/>'.
        if buffer[at - 2 : at] == b"/>":
            start_tag = _TAG_END.match(buffer, start)
            assert start_tag is not None
            empty = start_tag.end() == at
        else:
            empty = False
        end = at if empty else buffer.index(b">", at) + 1
        name_end = _NAME_END.search(buffer, start + 1)
        assert name_end is not None
        insert = name_end.start()

        declares = self._element_declares
        additions = []
        if self._default_declaration and None not in declares:
            additions.append(self._default_declaration)
        for used, prefix, declaration in self._prefixes:
            # Textual: a use of the prefix shows as "prefix:"; declaring it once too often
            # (the text merely contains "stream:") changes nothing.
            if prefix not in declares and buffer.find(used, start, end) >= 0:
                additions.append(declaration)
        if additions:
            raw = b"".join((buffer[start:insert], *additions, buffer[insert:end]))
        else:
            raw = bytes(buffer[start:end])
        namespace, _, local = self._element_name.rpartition(" ")
        self._frames.append(
            ServerFrame(
                FrameKind.ELEMENT,
                local,
                namespace,
                _attribute_names(self._element_attributes),
                raw.decode("utf-8"),
            )
        )
        self._element = -1
        self._mark = end + base
        self._rescanned = 0
