"""Echo round trip between two users through evim's WebSocket gateway versus straight on
the managed Prosody's WebSocket, measured in the same run on a throw-away evim.

    .venv/bin/python bench/gateway_roundtrip.py [--round-trips 1000] [--warm-up 100] [--block 100]

camille sends a chat message to jeanne's full JID; jeanne's client answers it at once;
camille measures the time from sending to receiving the answer.  Both legs keep their two
streams open for the whole run and take turns by blocks of ``--block`` round trips, so that
the machine's noise falls on both alike.  Prints median and p99 for each leg and their
ratios (targets: ≤ 1.15 for the median, ≤ 1.3 for p99).

A third leg goes through ``bare_relay.py``: a process that forwards WebSocket frames and
does nothing else.  Its ratio to the direct leg is the floor of any relay on this
machine; the gateway's ratio to it is what evim itself adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evim.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_common import (
    UNTHROTTLED,
    UNTHROTTLED_NOTE,
    BenchEvim,
    bare_relay,
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
from websockets.asyncio.client import ClientConnection

FROM = re.compile(r"""\sfrom=(['"])([^'"]+)\1""")
ID = re.compile(r"""\sid=(['"])([^'"]+)\1""")
BODY = "Bonjour, la salle est prête pour la répétition de ce soir ?"


async def echo(connection: ClientConnection) -> None:
    """jeanne's client: answer every chat message to its sender, with the same id."""
    while True:
        frame = str(await connection.recv(decode=True))
        if not frame.startswith("<message") or "<body>" not in frame:
            continue
        sender, stanza_id = FROM.search(frame), ID.search(frame)
        assert sender and stanza_id, frame
        await connection.send(
            f"<message xmlns='jabber:client' to='{sender.group(2)}' type='chat'"
            f" id='{stanza_id.group(2)}'><body>Oui, tout est prêt.</body></message>"
        )


class Pair:
    """camille's and jeanne's streams on one leg, jeanne echoing."""

    def __init__(
        self, name: str, camille: ClientConnection, jeanne: ClientConnection, jeanne_jid: str
    ) -> None:
        self.name = name
        self.camille = camille
        self.jeanne = jeanne
        self.jeanne_jid = jeanne_jid
        self.echo = asyncio.create_task(echo(jeanne))
        self.counter = 0
        self.times: list[float] = []

    async def round_trips(self, count: int, *, record: bool) -> None:
        for _ in range(count):
            self.counter += 1
            stanza_id = f"{self.name}-{self.counter}"
            started = now()
            await self.camille.send(
                f"<message xmlns='jabber:client' to='{self.jeanne_jid}' type='chat'"
                f" id='{stanza_id}'><body>{BODY}</body></message>"
            )
            while True:
                frame = str(await self.camille.recv(decode=True))
                if frame.startswith("<message") and f"'{stanza_id}'" in frame.replace('"', "'"):
                    break
            if record:
                self.times.append((now() - started) * 1000)

    async def close(self) -> None:
        self.echo.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.echo
        await close_stream(self.camille)
        await close_stream(self.jeanne)


async def measure(
    bench: BenchEvim, relay_url: str, round_trips: int, warm_up: int, block: int
) -> None:
    camille_session, jeanne_session = log_in(bench, "camille"), log_in(bench, "jeanne")
    camille, _ = await gateway_session(bench, camille_session, camille_session.credentials())
    jeanne, jeanne_jid = await gateway_session(bench, jeanne_session, jeanne_session.credentials())
    pairs = [Pair("gateway", camille, jeanne, jeanne_jid)]
    for name, url in (("direct", None), ("bare", relay_url)):
        camille, _ = await direct_session(bench, "camille@localhost", url=url)
        jeanne, jeanne_jid = await direct_session(bench, "jeanne@localhost", url=url)
        pairs.append(Pair(name, camille, jeanne, jeanne_jid))
    for pair in pairs:
        for connection in (pair.camille, pair.jeanne):
            await connection.send("<presence xmlns='jabber:client'/>")
    gateway, direct, bare = pairs
    try:
        for pair in pairs:
            await pair.round_trips(warm_up, record=False)
        done = 0
        while done < round_trips:
            count = min(block, round_trips - done)
            turn = (done // block) % len(pairs)
            for pair in pairs[turn:] + pairs[:turn]:  # each leg first in turn
                await pair.round_trips(count, record=True)
            done += count
    finally:
        for pair in pairs:
            await pair.close()

    print(
        f"echo round trip, {round_trips} per leg after {warm_up} warm-up, "
        f"legs taking turns by blocks of {block}"
    )
    print(UNTHROTTLED_NOTE)
    labels = {
        "gateway": "through evim's gateway",
        "direct": "straight on Prosody",
        "bare": "through a bare relay",
    }
    for pair in pairs:
        print(
            f"{labels[pair.name]:<23}: median {median(pair.times):.3f} ms, "
            f"p99 {percentile(pair.times, 0.99):.3f} ms"
        )
    print(
        "ratio gateway/direct, median: "
        + verdict(median(gateway.times) / median(direct.times), 1.15, at_most=True)
    )
    print(
        "ratio gateway/direct, p99:    "
        + verdict(
            percentile(gateway.times, 0.99) / percentile(direct.times, 0.99), 1.3, at_most=True
        )
    )
    print(
        "floor, bare relay/direct, median: "
        f"{median(bare.times) / median(direct.times):.2f} (any relay process costs this much)"
    )
    print(
        "gateway/bare relay, median:       "
        f"{median(gateway.times) / median(bare.times):.2f} (what evim adds above the floor)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=1000, help="measured, per leg")
    parser.add_argument("--warm-up", type=int, default=100, help="per leg, not measured")
    parser.add_argument("--block", type=int, default=100, help="round trips per turn")
    options = parser.parse_args()
    with bench_evim(UNTHROTTLED) as bench, bare_relay(bench) as relay_url:
        asyncio.run(measure(bench, relay_url, options.round_trips, options.warm_up, options.block))


if __name__ == "__main__":
    main()
