"""Fixtures of the evim.xmpp tests: an account on the session's Prosody, a second Prosody
with a direct-TLS port, a local DNS server, and servers that accept and never answer."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evim.managed_server.certificate import ensure_certificate
from evim.managed_server.config import render_config
from evim.managed_server.layout import ServerLayout
from evim.managed_server.lua import lua_value
from evim.managed_server.programs import find_program
from tests.fixtures.dns import LocalDnsServer
from tests.fixtures.prosody import RunningProsody, free_ports, make_layout

#: Quotes, XML specials, spaces and non-ASCII: every escaping layer gets exercised.
PASSWORD = "Pä$$ wörd <&> \"'quote'\" 7f3k"


@dataclass(frozen=True)
class Account:
    jid: str
    password: str


@pytest.fixture(scope="session")
def account(managed_prosody: RunningProsody) -> Account:
    return Account(managed_prosody.register("xmpptest", PASSWORD), PASSWORD)


# --- a second Prosody, with a direct-TLS (XEP-0368) client port ------------------------------


@dataclass(frozen=True)
class DirectTlsProsody:
    layout: ServerLayout
    direct_tls_port: int
    account: Account


async def _wait_listening(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    """Until ``host``:``port`` accepts a connection (or the process dies: fail)."""
    delay = 0.01
    async with asyncio.timeout(15):
        while True:
            if process.poll() is not None:
                pytest.fail(f"the direct-TLS Prosody exited with {process.returncode}")
            try:
                _reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(delay)  # backoff between connection attempts, not a wait
                delay = min(delay * 2, 0.2)
                continue
            writer.close()
            await writer.wait_closed()
            return


@pytest.fixture(scope="session")
def direct_tls_prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirectTlsProsody]:
    """A Prosody (domain evim.test, its own self-signed certificate) whose client port
    speaks TLS from the first byte; evim's configuration, plus ``c2s_direct_tls_ports``."""
    prosody, prosodyctl = find_program("prosody"), find_program("prosodyctl")
    if prosody is None or prosodyctl is None:
        pytest.fail("Prosody is missing: sudo apt-get install prosody")
    c2s_port, http_port, direct_port = free_ports(3)
    layout = make_layout(
        tmp_path_factory.mktemp("direct-tls-prosody") / "prosody",
        c2s_port=c2s_port,
        http_port=http_port,
    )
    layout.prepare_directories()
    ensure_certificate(layout)
    text = render_config(layout)
    line = "c2s_direct_tls_ports = {}"
    assert line in text, "evim's Prosody configuration changed: adapt this fixture"
    config = layout.directory / "direct-tls.cfg.lua"
    config.write_text(text.replace(line, f"c2s_direct_tls_ports = {lua_value([direct_port])}"))
    account = Account(f"direct@{layout.domain}", PASSWORD)
    subprocess.run(
        [prosodyctl, "--config", str(config), "register", "direct", layout.domain, PASSWORD],
        check=True,
        capture_output=True,
        timeout=30,
    )
    with (layout.directory / "output.log").open("wb") as output:
        process = subprocess.Popen(
            [prosody, "-F", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=layout.directory,
            start_new_session=True,
        )
    try:
        asyncio.run(_wait_listening(layout.c2s_host, direct_port, process))
        yield DirectTlsProsody(layout, direct_port, account)
    finally:
        process.send_signal(signal.SIGKILL)  # a throwaway server: no need for its 2 s SIGTERM
        process.wait(timeout=10)


# --- DNS ----------------------------------------------------------------------------------------

#: The SRV records of example.test, in scrambled order; the expected order is in the tests.
EXAMPLE_RECORDS: dict[str, list[tuple[str, str]]] = {
    "_xmpps-client._tcp.example.test": [
        ("SRV", "10 0 5223 tls.example.test."),
        ("SRV", "5 0 5224 first.example.test."),
    ],
    "_xmpp-client._tcp.example.test": [
        ("SRV", "20 0 5226 last.example.test."),
        ("SRV", "10 0 5222 starttls.example.test."),
        ("SRV", "10 50 5225 heavy.example.test."),
    ],
    "example.test": [("A", "127.0.0.1")],
    "nosrv.example.test": [("A", "127.0.0.1")],
    "_xmpps-client._tcp.closed.example.test": [("SRV", "0 0 0 .")],
    "_xmpp-client._tcp.closed.example.test": [("SRV", "0 0 0 .")],
    "closed.example.test": [("A", "127.0.0.1")],
}


@pytest.fixture(scope="session")
def local_dns(managed_prosody: RunningProsody) -> Iterator[LocalDnsServer]:
    """example.test's records, and an SRV record sending evim.test's clients to the
    session's Prosody (through the name ``localhost``)."""
    records = dict(EXAMPLE_RECORDS)
    records[f"_xmpp-client._tcp.{managed_prosody.domain}"] = [
        ("SRV", f"0 0 {managed_prosody.c2s_port} localhost.")
    ]
    with LocalDnsServer(records) as server:
        yield server


# --- servers that never answer ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A loopback server (on the current loop) accepting connections and never answering
    (never completing a TLS handshake either); yields its port."""
    handlers: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        current = asyncio.current_task()
        assert current is not None
        handlers.add(current)
        writers.append(writer)
        while await reader.read(4096):  # swallow everything until the client hangs up
            pass
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    return free_ports(1)[0]


def prosody_certificate(prosody: RunningProsody | DirectTlsProsody) -> Path:
    return prosody.layout.certificate_path
