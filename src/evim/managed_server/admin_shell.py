"""An asyncio client of Prosody's admin socket: :class:`AdminShell`.

Prosody 0.12 (``mod_admin_socket`` + ``mod_admin_shell``) listens on a Unix socket — the
layout's :attr:`~evim.managed_server.layout.ServerLayout.admin_socket` — for the same
console that ``prosodyctl shell`` opens.  Usage::

    async with AdminShell.for_layout(layout) as shell:
        await shell.run('server:version()')                 # -> "OK: 0.12.3"
        reply = await shell.execute('user:list("evim.test")')
        reply.output                                        # ("alice@evim.test", ...)
        reply.result                                        # "OK: Showing all 1 users"

One connection serves any number of commands; :meth:`AdminShell.run` may be called
concurrently: the commands are pipelined and Prosody answers them in order.

The wire protocol (``util/adminstream.lua``, ``util/prosodyctl/shell.lua``) is a small XML
stream in the namespace ``xmpp:prosody.im/admin``:

- the client opens ``<stream:stream xmlns='xmpp:prosody.im/admin'
  xmlns:stream='http://etherx.jabber.org/streams'>``; Prosody answers with its own header;
- each command is ``<repl-input>LUA</repl-input>``;
- Prosody answers each with zero or more ``<repl-output>line</repl-output>`` (what the
  command printed) and then exactly one ``<repl-result>text</repl-result>``, with
  ``type='error'`` when the command failed.  The text is ``"OK: message"`` or
  ``"Result: value"`` on success, ``"Error: message"`` for a command returning
  ``nil, message``, a Lua error message, or ``"Sorry, I couldn't understand that... "``
  for a syntax error;
- a line starting with ``>`` runs in Prosody's global environment (``require``,
  ``prosody.hosts``, ``print``) instead of the console's command environment
  (``user:create(…)``, ``muc:room(…)``…); names assigned there persist for the connection;
- ``</stream:stream>`` ends the session; Prosody sends a ``<stream:error>`` when it shuts
  down.

Secrets: commands are never logged, and the texts of errors (which may quote the Lua
source near a syntax error) have every string given as ``secrets=`` replaced by ``***``.
Build commands with :func:`evim.managed_server.lua.lua_string` for every value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from evim.managed_server.errors import ManagedServerError
from evim.managed_server.layout import ServerLayout
from evim.managed_server.lua import lua_string

logger = logging.getLogger(__name__)

ADMIN_NS = "xmpp:prosody.im/admin"
STREAMS_NS = "http://etherx.jabber.org/streams"
STREAM_ERRORS_NS = "urn:ietf:params:xml:ns:xmpp-streams"
STREAM_HEADER = (
    "<?xml version='1.0'?>"
    f"<stream:stream xmlns='{ADMIN_NS}' xmlns:stream='{STREAMS_NS}' xml:lang='en'>"
)
STREAM_FOOTER = "</stream:stream>"

#: Seconds to wait for a command's result, by default.
DEFAULT_TIMEOUT = 30.0
#: Seconds to wait for the connection and Prosody's stream header.
DEFAULT_CONNECT_TIMEOUT = 5.0
READ_SIZE = 65536
REDACTED = "***"

# Characters XML 1.0 cannot carry (controls other than tab and newlines, surrogates, FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_START_HINT = "start it with `evim xmpp start` (or `evim run`)"


class AdminShellError(ManagedServerError):
    """The admin socket cannot be reached, or a command failed (Prosody's message)."""

    def __init__(self, message: str, *, prosody_message: str = "", output: tuple[str, ...] = ()):
        super().__init__(message)
        #: The result text of a failed command, as Prosody wrote it (secrets redacted).
        self.prosody_message = prosody_message
        #: What the failed command printed before failing (secrets redacted).
        self.output = output


class AdminSocketMissingError(AdminShellError):
    """No Prosody listens on the admin socket: the managed server is not running."""


class AdminShellClosedError(AdminShellError):
    """The connection is closed or broken: the command was not sent."""


@dataclass(frozen=True)
class ShellReply:
    """A command's answer: the lines it printed and its result text."""

    result: str
    output: tuple[str, ...] = ()
    #: The result without Prosody's ``"OK: "`` / ``"Result: "`` prefix.
    value: str = field(init=False)

    def __post_init__(self) -> None:
        value = self.result
        for prefix in ("OK: ", "Result: "):
            if value.startswith(prefix):
                value = value[len(prefix) :]
                break
        object.__setattr__(self, "value", value)


def redact(text: str, secrets: Collection[str]) -> str:
    """``text`` with each secret, raw or as written in Lua source, replaced by ``***``."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            with contextlib.suppress(UnicodeEncodeError):
                forms.add(lua_string(secret)[1:-1])
    # Longest first, so that a secret containing another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class _Pending:
    future: asyncio.Future[ShellReply]
    output: list[str] = field(default_factory=list)


class AdminShell:
    """One connection to Prosody's admin socket; an async context manager."""

    def __init__(
        self,
        socket_path: Path | str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("AdminShell timeouts must be positive")
        self.socket_path = Path(socket_path)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._pending: deque[_Pending] = deque()
        self._header: asyncio.Future[None] | None = None
        self._broken: AdminShellError | None = None
        self._commands = 0

    @classmethod
    def for_layout(cls, layout: ServerLayout, **options: float) -> AdminShell:
        """A shell on the admin socket of the managed Prosody described by ``layout``."""
        return cls(layout.admin_socket, **options)

    # --- connection ---------------------------------------------------------------------

    async def __aenter__(self) -> AdminShell:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._writer is not None and self._broken is None

    async def connect(self) -> None:
        """Open the connection and wait for Prosody's stream header."""
        if self._writer is not None:
            raise AdminShellError("this admin shell is already connected")
        path = self.socket_path
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(path), self.connect_timeout
            )
        except FileNotFoundError:
            raise AdminSocketMissingError(
                f"the managed XMPP server is not running (no admin socket {path}): {_START_HINT}."
            ) from None
        except ConnectionRefusedError:
            raise AdminSocketMissingError(
                f"the managed XMPP server is not running (nothing listens on {path}): "
                f"{_START_HINT}."
            ) from None
        except TimeoutError:
            raise AdminShellError(
                f"Prosody's admin socket {path} did not accept the connection within "
                f"{self.connect_timeout:g} s"
            ) from None
        except OSError as error:
            raise AdminShellError(
                f"cannot connect to Prosody's admin socket {path}: {error.strerror or error}"
            ) from None
        loop = asyncio.get_running_loop()
        self._reader, self._writer = reader, writer
        self._broken = None
        self._header = loop.create_future()
        self._reading = loop.create_task(self._read(reader), name=f"admin shell {path}")
        writer.write(STREAM_HEADER.encode())
        try:
            await asyncio.wait_for(self._header, self.connect_timeout)
        except TimeoutError:
            await self.close()
            raise AdminShellError(
                f"{path} did not answer like Prosody's admin socket within "
                f"{self.connect_timeout:g} s"
            ) from None
        except AdminShellError:
            await self.close()
            raise
        logger.debug("admin shell connected to %s", path)

    async def close(self) -> None:
        """End the session (``</stream:stream>``) and close the connection."""
        writer, reading = self._writer, self._reading
        if writer is None:
            return
        self._fail_all(AdminShellError("the admin shell was closed"))
        if not writer.is_closing():
            with contextlib.suppress(OSError):
                writer.write(STREAM_FOOTER.encode())
            writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        if self._header is not None and not self._header.done():
            self._header.cancel()
        self._reader = self._writer = self._reading = self._header = None
        logger.debug("admin shell on %s closed after %d commands", self.socket_path, self._commands)

    # --- commands -----------------------------------------------------------------------

    async def run(
        self, lua: str, *, secrets: Collection[str] = (), timeout: float | None = None
    ) -> str:
        """Run one console line (Lua); return its result text (e.g. ``"OK: User created"``).

        Raises :class:`AdminShellError` with Prosody's message when the result is an error.
        """
        return (await self.execute(lua, secrets=secrets, timeout=timeout)).result

    async def execute(
        self, lua: str, *, secrets: Collection[str] = (), timeout: float | None = None
    ) -> ShellReply:
        """Run one console line; return what it printed and its result."""
        future = self._send(lua)
        limit = self.timeout if timeout is None else timeout
        try:
            # On a timeout or cancellation wait_for cancels the future: its answer, if it
            # ever comes, is then skipped by the reader.
            reply = await asyncio.wait_for(future, limit)
        except TimeoutError:
            # The answers would no longer match the commands: give up on this connection.
            message = f"Prosody's admin shell did not answer within {limit:g} s"
            self._fail_all(AdminShellError(message))
            await self.close()
            raise AdminShellError(message) from None
        except AdminShellError as error:
            raise AdminShellError(
                redact(str(error), secrets),
                prosody_message=redact(error.prosody_message, secrets),
                output=tuple(redact(line, secrets) for line in error.output),
            ) from None
        return reply

    def _send(self, lua: str) -> asyncio.Future[ShellReply]:
        writer = self._writer
        if self._broken is not None:
            raise AdminShellClosedError(f"the admin connection is no longer usable: {self._broken}")
        if writer is None:
            raise AdminShellClosedError("the admin shell is not connected (use `async with`)")
        if writer.is_closing():  # lost, and the reader has not seen it yet
            raise AdminShellClosedError("the admin connection to Prosody is closed")
        if _NOT_XML.search(lua):
            raise ValueError("a console line cannot contain control characters or surrogates")
        if not lua.strip():
            raise ValueError("a console line must not be empty")
        data = f"<repl-input>{_escape(lua)}</repl-input>".encode()
        future: asyncio.Future[ShellReply] = asyncio.get_running_loop().create_future()
        # Enqueue and write with no await in between: answers come back in this order.
        self._pending.append(_Pending(future))
        writer.write(data)
        self._commands += 1
        return future

    # --- reading ------------------------------------------------------------------------

    async def _read(self, reader: asyncio.StreamReader) -> None:
        parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
        depth = 0
        root: Element | None = None
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    raise AdminShellError("Prosody closed the admin connection")
                parser.feed(data)
                for item in parser.read_events():
                    event, element = item[0], item[-1]
                    if not isinstance(element, Element):
                        continue
                    if event == "start":
                        depth += 1
                        if depth == 1:
                            root = element
                            if element.tag != f"{{{STREAMS_NS}}}stream":
                                raise AdminShellError(
                                    f"{self.socket_path} is not Prosody's admin socket"
                                )
                            if self._header is not None and not self._header.done():
                                self._header.set_result(None)
                        continue
                    depth -= 1
                    if depth == 0:
                        raise AdminShellError("Prosody ended the admin session")
                    if depth == 1 and root is not None:
                        self._handle(element)
                        root.remove(element)
        except asyncio.CancelledError:
            raise
        except AdminShellError as error:
            self._fail_all(error)
        except ParseError as error:
            self._fail_all(AdminShellError(f"invalid data on Prosody's admin socket: {error}"))
        except ConnectionResetError:
            self._fail_all(AdminShellError("Prosody closed the admin connection (reset)"))
        except OSError as error:
            self._fail_all(
                AdminShellError(f"the admin connection failed: {error.strerror or error}")
            )

    def _handle(self, element: Element) -> None:
        name = element.tag
        text = element.text or ""
        if name == f"{{{ADMIN_NS}}}repl-output":
            if self._pending:
                self._pending[0].output.append(text)
        elif name == f"{{{ADMIN_NS}}}repl-result":
            if not self._pending:
                logger.warning("admin shell: a result came for no command")
                return
            pending = self._pending.popleft()
            if pending.future.done():  # the caller stopped waiting (cancelled)
                return
            output = tuple(pending.output)
            if element.get("type") == "error":
                pending.future.set_exception(
                    AdminShellError(
                        f"Prosody's admin shell: {text}", prosody_message=text, output=output
                    )
                )
            else:
                pending.future.set_result(ShellReply(result=text, output=output))
        elif name == f"{{{STREAMS_NS}}}error":
            conditions = [
                child.tag.partition("}")[2]
                for child in element
                if child.tag.startswith(f"{{{STREAM_ERRORS_NS}}}")
                and not child.tag.endswith("}text")
            ]
            raise AdminShellError(
                "Prosody closed the admin connection ("
                + (", ".join(conditions) or "stream error")
                + ")"
            )

    def _fail_all(self, error: AdminShellError) -> None:
        if self._broken is None:
            self._broken = error
        if self._header is not None and not self._header.done():
            self._header.set_exception(error)
        while self._pending:
            future = self._pending.popleft().future
            if not future.done():
                future.set_exception(AdminShellError(str(error)))
