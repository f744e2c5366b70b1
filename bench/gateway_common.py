"""What the gateway benchmarks share: a throw-away evim (``evim run`` and its managed
Prosody, on free ports) and two ways to reach the same XMPP accounts over WebSocket:

- through evim's gateway (``/im/ws``), as a browser does: back-office session cookie,
  ``/im/credentials`` token, SASL PLAIN with the token;
- straight on the managed Prosody's own WebSocket (``/xmpp-websocket``), with the account's
  real password (read from evim's database) and SCRAM-SHA-1 — what the gateway itself does
  upstream — or PLAIN.

Both kinds of connection are driven by the same client code once authenticated, so the
two legs of a benchmark differ only by the gateway hop.  This is not a benchmark script.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.http_session import BackOfficeSession
from tests.fixtures.live_evim import LiveEvim, running_evim
from tests.fixtures.processes import free_port

from evim.gateway.upstream.sasl import authenticate

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
DOMAIN = "localhost"
OPEN = f"<open xmlns='{FRAMING}' to='{DOMAIN}' version='1.0'/>"
CLOSE = f"<close xmlns='{FRAMING}'/>"
BIND = (
    "<iq xmlns='jabber:client' type='set' id='bind'>"
    "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
)
#: The per-user frame rate limit, raised so that it never throttles a benchmark (the
#: defaults, 20 frames/s with a burst of 200, are a policy for browsers, not a cost).
UNTHROTTLED = {
    "EVIM_GATEWAY_FRAMES_PER_SECOND": "1000000",
    "EVIM_GATEWAY_FRAME_BURST": "1000000",
}
UNTHROTTLED_NOTE = "gateway frame rate limit raised for the run: " + ", ".join(
    f"{name}={value}" for name, value in UNTHROTTLED.items()
)
TIMEOUT = 30.0
#: The steps of a login, in order, as recorded in the ``marks`` of the session functions:
#: WebSocket handshake done, first stream features received, SASL success, bind result.
STEPS = ("handshake", "features", "authenticated", "bound")

READ_PASSWORDS = (
    "import json\n"
    "from evim.messaging.models import JabberAccount\n"
    "from evim.messaging.encryption import decrypt_password\n"
    "print(json.dumps({a.jid: decrypt_password(a.password_encrypted)"
    " for a in JabberAccount.objects.all()}))\n"
)


@dataclass(frozen=True)
class BenchEvim:
    instance: LiveEvim
    #: The real Jabber passwords, by JID (for the direct leg).
    passwords: dict[str, str]

    @property
    def prosody_pid(self) -> int:
        """The managed Prosody: the child of ``evim run`` whose command line names it."""
        for pid in child_pids(self.instance.pid):
            if b"prosody" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        raise RuntimeError("no managed Prosody under evim run")

    @property
    def gateway_url(self) -> str:
        return self.instance.url.replace("http://", "ws://") + "/im/ws"

    @property
    def prosody_url(self) -> str:
        return f"ws://127.0.0.1:{self.instance.http_port}/xmpp-websocket"


@contextlib.contextmanager
def bare_relay(bench: BenchEvim) -> Iterator[str]:
    """``bare_relay.py`` in its own process in front of the managed Prosody; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("bare_relay.py")),
            f"--port={port}",
            f"--upstream={bench.prosody_url}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield f"ws://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def bench_evim(extra_environment: Mapping[str, str] | None = None) -> Iterator[BenchEvim]:
    """``evim run`` as the tests start it (``running_evim``), plus ``extra_environment``;
    camille and jeanne get Jabber accounts."""
    with (
        tempfile.TemporaryDirectory(prefix="evim-bench-") as directory,
        running_evim(Path(directory), extra_environment) as instance,
    ):
        instance.evim("accounts", "provision", "camille", "jeanne")
        output = instance.evim("shell", "--verbosity=0", "-c", READ_PASSWORDS).stdout
        yield BenchEvim(instance, json.loads(output.strip().splitlines()[-1]))


# --- the two ways in -----------------------------------------------------------------------


class CredentialsFetcher:
    """``GET /im/credentials`` over one kept-alive HTTP connection, as a browser does."""

    def __init__(self, session: BackOfficeSession) -> None:
        self.session = session
        host, _, port = session.base_url.removeprefix("http://").partition(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)

    def fetch(self) -> dict[str, Any]:
        try:
            status, body = self._get()
        except (http.client.RemoteDisconnected, ConnectionError):
            # The server ended the idle kept-alive connection (uvicorn: after 5 s), as a
            # browser would find: open another one.
            self.connection.close()
            status, body = self._get()
        assert status == 200, (status, body)
        result: dict[str, Any] = json.loads(body)
        return result

    def _get(self) -> tuple[int, bytes]:
        self.connection.request(
            "GET", "/im/credentials", headers={"Cookie": self.session.cookie_header}
        )
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


def log_in(bench: BenchEvim, username: str) -> BackOfficeSession:
    session = BackOfficeSession(bench.instance.url)
    session.log_in(username, bench.instance.password)
    return session


async def _open_stream(connection: ClientConnection) -> str:
    """Send ``<open/>``; the features frame that follows the server's ``<open/>``."""
    await connection.send(OPEN)
    opened = await connection.recv(decode=True)
    assert "<open" in opened, opened
    return str(await connection.recv(decode=True))


async def _bind(connection: ClientConnection) -> str:
    """Restart the stream after SASL, bind a resource; returns the full JID."""
    features = await _open_stream(connection)
    assert "urn:ietf:params:xml:ns:xmpp-bind" in features, features
    await connection.send(BIND)
    while True:
        frame = str(await connection.recv(decode=True))
        if re.search(r"""id=['"]bind['"]""", frame):
            match = re.search(r"<jid>([^<]+)</jid>", frame)
            assert match, frame
            return match.group(1)


def _plain(username: str, password: str) -> str:
    payload = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    return f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"


async def gateway_session(
    bench: BenchEvim,
    session: BackOfficeSession,
    credentials: dict[str, Any],
    marks: dict[str, float] | None = None,
) -> tuple[ClientConnection, str]:
    """A bound stream through evim's gateway, authenticated with a credentials token.

    ``marks``, when given, receives the time at which each step ended (see :data:`STEPS`).
    """
    marks = {} if marks is None else marks
    connection = await connect(
        bench.gateway_url,
        subprotocols=[Subprotocol("xmpp")],
        origin=Origin(bench.instance.url),
        additional_headers={"Cookie": session.cookie_header},
        compression=None,
        open_timeout=TIMEOUT,
        ping_interval=None,
    )
    marks["handshake"] = now()
    features = await _open_stream(connection)
    marks["features"] = now()
    assert "PLAIN" in features, features
    await connection.send(_plain(credentials["jid"].split("@")[0], credentials["password"]))
    outcome = str(await connection.recv(decode=True))
    assert "<success" in outcome, outcome
    marks["authenticated"] = now()
    jid = await _bind(connection)
    marks["bound"] = now()
    return connection, jid


async def direct_session(
    bench: BenchEvim,
    jid: str,
    *,
    mechanism: str = "scram",
    marks: dict[str, float] | None = None,
    url: str | None = None,
) -> tuple[ClientConnection, str]:
    """A bound stream straight on Prosody's WebSocket (or ``url``, which leads there) with
    the account's real password."""
    marks = {} if marks is None else marks
    connection = await connect(
        url or bench.prosody_url,
        subprotocols=[Subprotocol("xmpp")],
        compression=None,
        open_timeout=TIMEOUT,
        ping_interval=None,
    )
    marks["handshake"] = now()
    features = await _open_stream(connection)
    marks["features"] = now()
    password = bench.passwords[jid]
    if mechanism == "plain":
        await connection.send(_plain(jid.split("@")[0], password))
        outcome = str(await connection.recv(decode=True))
        assert "<success" in outcome, outcome
    else:

        async def receive() -> str:
            return str(await connection.recv(decode=True))

        await authenticate(
            send=connection.send,
            receive=receive,
            features_frame=features,
            jid=jid,
            password=password,
            allow_plain=False,  # SCRAM, as the gateway does upstream
        )
    marks["authenticated"] = now()
    bound_jid = await _bind(connection)
    marks["bound"] = now()
    return connection, bound_jid


async def close_stream(connection: ClientConnection) -> None:
    """End the XMPP stream (``<close/>``) and wait until the server closed the connection."""
    with contextlib.suppress(Exception):
        await connection.send(CLOSE)
    with contextlib.suppress(Exception):
        while True:
            await connection.recv()
    with contextlib.suppress(Exception):
        await connection.close()


# --- figures -------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ratio: float, target: float, *, at_most: bool) -> str:
    met = ratio <= target if at_most else ratio >= target
    sign = "≤" if at_most else "≥"
    return f"{ratio:.2f} (target {sign} {target:g}: {'PASS' if met else 'MISS'})"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (its own, not its children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def now() -> float:
    return time.perf_counter()
