"""Logging in over WebSocket through evim's gateway versus straight on the managed Prosody's
WebSocket: the time from opening the connection to the resource-binding result, measured
in the same run on a throw-away evim.

    .venv/bin/python bench/gateway_login.py [--logins 50] [--warm-up 5] [--direct-mechanism scram]

Gateway leg, what a page of the back office does: ``GET /im/credentials`` (on one kept-alive
HTTP connection, as a browser has), WebSocket handshake on ``/im/ws`` with the session
cookie, ``<open/>``, SASL PLAIN with the token (the gateway has been logging in upstream
with SCRAM-SHA-1 since it issued the token), stream restart, bind. Direct leg: WebSocket
handshake on Prosody's ``/xmpp-websocket``, ``<open/>``, SASL with the real password
(SCRAM-SHA-1 as the gateway does upstream, or PLAIN), stream restart, bind. The legs take
turns, login by login; each stream is closed (``<close/>``) outside the timed part. Both
legs' SCRAM clients keep the salted password of a login for the next (evim's
``salted_password``, as RFC 5802 allows). Prints medians and the ratio from WebSocket open
to bound session (target ≤ 1.2), and the same with the credentials request included (no
target).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evim.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_common import (
    STEPS,
    BenchEvim,
    CredentialsFetcher,
    bench_evim,
    close_stream,
    direct_session,
    gateway_session,
    log_in,
    median,
    now,
    percentile,
    verdict,
)


async def measure(bench: BenchEvim, logins: int, warm_up: int, mechanism: str) -> None:
    fetcher = CredentialsFetcher(log_in(bench, "camille"))
    gateway: list[float] = []
    gateway_socket_only: list[float] = []
    direct: list[float] = []
    # Milliseconds spent in each step, by leg.
    steps: dict[str, dict[str, list[float]]] = {
        "gateway": {step: [] for step in ("credentials", *STEPS)},
        "direct": {step: [] for step in STEPS},
    }

    def record_steps(leg: str, started: float, marks: dict[str, float]) -> None:
        previous = started
        for step in steps[leg]:
            steps[leg][step].append((marks[step] - previous) * 1000)
            previous = marks[step]

    async def through_gateway(record: bool) -> None:
        marks: dict[str, float] = {}
        started = now()
        credentials = fetcher.fetch()
        marks["credentials"] = now()
        connection, _jid = await gateway_session(bench, fetcher.session, credentials, marks)
        await close_stream(connection)
        if record:
            gateway.append((marks["bound"] - started) * 1000)
            gateway_socket_only.append((marks["bound"] - marks["credentials"]) * 1000)
            record_steps("gateway", started, marks)

    async def straight(record: bool) -> None:
        marks: dict[str, float] = {}
        started = now()
        connection, _jid = await direct_session(
            bench, "camille@localhost", mechanism=mechanism, marks=marks
        )
        await close_stream(connection)
        if record:
            direct.append((marks["bound"] - started) * 1000)
            record_steps("direct", started, marks)

    try:
        for index in range(warm_up + logins):
            record = index >= warm_up
            if index % 2 == 0:
                await through_gateway(record)
                await straight(record)
            else:
                await straight(record)
                await through_gateway(record)
    finally:
        fetcher.close()

    print(f"WebSocket open to bound session, {logins} logins per leg after {warm_up} warm-up")
    print(
        f"through evim's gateway, with /im/credentials: median {median(gateway):.1f} ms, "
        f"p99 {percentile(gateway, 0.99):.1f} ms"
    )
    print(
        f"through evim's gateway, WebSocket only      : median {median(gateway_socket_only):.1f}"
        f" ms, p99 {percentile(gateway_socket_only, 0.99):.1f} ms"
    )
    print(
        f"{'straight on Prosody (' + mechanism.upper() + ')':<44}: "
        f"median {median(direct):.1f} ms, p99 {percentile(direct, 0.99):.1f} ms"
    )
    print(
        "ratio gateway (WebSocket only)/direct, median:   "
        + verdict(median(gateway_socket_only) / median(direct), 1.2, at_most=True)
    )
    print(
        "ratio gateway (with credentials)/direct, median: "
        f"{median(gateway) / median(direct):.2f} (the page's whole cost; no target)"
    )
    print("median per step, ms (each step ends when the client has the answer):")
    print(f"  {'step':<14}{'gateway':>9}{'direct':>9}")
    for step in ("credentials", *STEPS):
        cells = [
            f"{median(steps[leg][step]):9.1f}" if step in steps[leg] else f"{'-':>9}"
            for leg in ("gateway", "direct")
        ]
        print(f"  {step:<14}{''.join(cells)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=50, help="measured, per leg")
    parser.add_argument("--warm-up", type=int, default=5, help="per leg, not measured")
    parser.add_argument(
        "--direct-mechanism",
        choices=["scram", "plain"],
        default="scram",
        help="SASL mechanism of the direct leg (the gateway uses SCRAM-SHA-1 upstream)",
    )
    options = parser.parse_args()
    with bench_evim() as bench:
        asyncio.run(measure(bench, options.logins, options.warm_up, options.direct_mechanism))


if __name__ == "__main__":
    main()
