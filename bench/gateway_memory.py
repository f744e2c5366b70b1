"""Server memory per idle session through evim's WebSocket gateway versus straight on the
managed Prosody's WebSocket, measured in the same run on a throw-away evim.

    .venv/bin/python bench/gateway_memory.py [--sessions 1000] [--batch 25] [--idle-seconds 10]

Opens ``--sessions`` bound, idle streams of camille straight on Prosody's WebSocket, then
as many through the gateway (each with its own ``/im/credentials`` token), all kept open.
The figure is the growth of the servers' resident memory (VmRSS in /proc) per session:
Prosody's alone for the direct leg; evim's plus Prosody's for the gateway leg.  Both are
read after a short settling pause, with all earlier sessions still open.  Then, with every
session idle, the CPU that evim and Prosody use over ``--idle-seconds`` (the gateway
checks each stream's back-office session every EVIM_GATEWAY_RECHECK_SECONDS).

The streams send no presence (1,000 resources of one user would otherwise exchange a
million presences).  evim runs with EVIM_GATEWAY_MAX_SESSIONS_PER_USER raised: the
default (10 streams per user) is a policy, not a cost.
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
    BenchEvim,
    CredentialsFetcher,
    bench_evim,
    close_stream,
    cpu_seconds,
    direct_session,
    gateway_session,
    log_in,
    now,
    rss_kib,
)
from websockets.asyncio.client import ClientConnection

SETTLE_SECONDS = 2.0
WARM_UP = 20


async def open_direct(bench: BenchEvim, count: int, batch: int) -> list[ClientConnection]:
    connections: list[ClientConnection] = []
    while len(connections) < count:
        size = min(batch, count - len(connections))
        opened = await asyncio.gather(
            *(direct_session(bench, "camille@localhost") for _ in range(size))
        )
        connections.extend(connection for connection, _jid in opened)
    return connections


async def open_gateway(
    bench: BenchEvim, fetcher: CredentialsFetcher, count: int, batch: int
) -> list[ClientConnection]:
    connections: list[ClientConnection] = []
    while len(connections) < count:
        size = min(batch, count - len(connections))
        tokens = [fetcher.fetch() for _ in range(size)]
        opened = await asyncio.gather(
            *(gateway_session(bench, fetcher.session, credentials) for credentials in tokens)
        )
        connections.extend(connection for connection, _jid in opened)
    return connections


def kib_per_session(before: int, after: int, sessions: int) -> float:
    return (after - before) / sessions


async def measure(bench: BenchEvim, sessions: int, batch: int, idle_seconds: float) -> None:
    evim_pid, prosody_pid = bench.instance.pid, bench.prosody_pid
    fetcher = CredentialsFetcher(log_in(bench, "camille"))
    opened: list[ClientConnection] = []
    try:
        # Warm-up: first-use allocations of both paths, outside the figures.
        opened += await open_direct(bench, WARM_UP, batch)
        opened += await open_gateway(bench, fetcher, WARM_UP, batch)
        await asyncio.sleep(SETTLE_SECONDS)

        prosody_start = rss_kib(prosody_pid)
        started = now()
        opened += await open_direct(bench, sessions, batch)
        direct_seconds = now() - started
        await asyncio.sleep(SETTLE_SECONDS)
        prosody_direct = rss_kib(prosody_pid)
        evim_before = rss_kib(evim_pid)

        started = now()
        opened += await open_gateway(bench, fetcher, sessions, batch)
        gateway_seconds = now() - started
        await asyncio.sleep(SETTLE_SECONDS)
        prosody_gateway = rss_kib(prosody_pid)
        evim_after = rss_kib(evim_pid)

        evim_cpu, prosody_cpu = cpu_seconds(evim_pid), cpu_seconds(prosody_pid)
        await asyncio.sleep(idle_seconds)
        evim_idle = (cpu_seconds(evim_pid) - evim_cpu) / idle_seconds
        prosody_idle = (cpu_seconds(prosody_pid) - prosody_cpu) / idle_seconds
    finally:
        fetcher.close()
        await asyncio.gather(*(close_stream(connection) for connection in opened))

    direct_kib = kib_per_session(prosody_start, prosody_direct, sessions)
    evim_kib = kib_per_session(evim_before, evim_after, sessions)
    prosody_kib = kib_per_session(prosody_direct, prosody_gateway, sessions)
    print(
        f"idle bound sessions of one user, {sessions} per leg (after {WARM_UP} warm-up each), "
        f"opened {batch} at a time"
    )
    print("EVIM_GATEWAY_MAX_SESSIONS_PER_USER raised for the run")
    print(
        f"straight on Prosody   : Prosody +{direct_kib:.1f} KiB/session "
        f"(RSS {prosody_start // 1024} → {prosody_direct // 1024} MiB; "
        f"opened in {direct_seconds:.1f} s)"
    )
    print(
        f"through evim's gateway: evim +{evim_kib:.1f} KiB/session "
        f"(RSS {evim_before // 1024} → {evim_after // 1024} MiB), "
        f"Prosody +{prosody_kib:.1f} KiB/session; total {evim_kib + prosody_kib:.1f} KiB/session "
        f"(opened in {gateway_seconds:.1f} s)"
    )
    if direct_kib > 0:
        print(
            f"ratio gateway total/direct: {(evim_kib + prosody_kib) / direct_kib:.2f}; "
            f"evim alone/Prosody alone: {evim_kib / direct_kib:.2f} (no target set)"
        )
    print(
        f"CPU with all {2 * (sessions + WARM_UP)} sessions idle for {idle_seconds:g} s: "
        f"evim {evim_idle * 100:.1f} % of a core, Prosody {prosody_idle * 100:.1f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000, help="per leg")
    parser.add_argument("--batch", type=int, default=25, help="sessions opened at once")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--recheck-seconds",
        type=int,
        help="EVIM_GATEWAY_RECHECK_SECONDS for the run (default: evim's own, 5)",
    )
    options = parser.parse_args()
    environment = {"EVIM_GATEWAY_MAX_SESSIONS_PER_USER": "100000"}
    if options.recheck_seconds is not None:
        environment["EVIM_GATEWAY_RECHECK_SECONDS"] = str(options.recheck_seconds)
        print(f"EVIM_GATEWAY_RECHECK_SECONDS={options.recheck_seconds} for the run")
    with bench_evim(environment) as bench:
        asyncio.run(measure(bench, options.sessions, options.batch, options.idle_seconds))


if __name__ == "__main__":
    main()
