"""Stanzas per second from one sender to one receiver through evim's WebSocket gateway versus
straight on the managed Prosody's WebSocket, measured in the same run on a throw-away evim.

    .venv/bin/python bench/gateway_throughput.py [--messages 20000] [--rounds 4] [--warm-up 1000]

camille sends chat messages to jeanne's full JID as fast as her WebSocket takes them;
jeanne's client counts them.  A round's time runs from the first send to the last message
received.  Each leg sends ``--messages`` in ``--rounds`` rounds taken in turns (gateway,
direct, direct, gateway...), on streams kept open for the whole run.  Prints messages per
second for each leg and their ratio (target: the gateway ≥ 0.85 of direct).

The gateway's per-user frame rate limit (EVIM_GATEWAY_FRAMES_PER_SECOND=20,
EVIM_GATEWAY_FRAME_BURST=200 by default: a policy for browsers) would stop a flood after
200 frames; the benchmark's evim runs with both raised so that only the relay's cost shows.
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
    UNTHROTTLED,
    UNTHROTTLED_NOTE,
    BenchEvim,
    bench_evim,
    close_stream,
    cpu_seconds,
    direct_session,
    gateway_session,
    log_in,
    now,
    verdict,
)
from websockets.asyncio.client import ClientConnection

BODY = "Bonjour, la salle est prête pour la répétition de ce soir ?"
ROUND_TIMEOUT = 120.0


class Leg:
    def __init__(
        self, name: str, sender: ClientConnection, receiver: ClientConnection, to: str
    ) -> None:
        self.name = name
        self.sender = sender
        self.receiver = receiver
        self.to = to
        self.sent = 0
        self.messages = 0
        self.seconds = 0.0
        self.round_rates: list[float] = []
        #: CPU seconds used during the measured rounds, by evim and by Prosody.
        self.evim_cpu = 0.0
        self.prosody_cpu = 0.0

    async def _count(self, expected: int) -> float:
        received = 0
        while received < expected:
            frame = str(await self.receiver.recv(decode=True))
            if frame.startswith("<message"):
                received += 1
        return now()

    async def round(self, bench: BenchEvim, count: int, *, record: bool) -> None:
        counting = asyncio.create_task(self._count(count))
        evim_cpu, prosody_cpu = cpu_seconds(bench.instance.pid), cpu_seconds(bench.prosody_pid)
        started = now()
        for _ in range(count):
            self.sent += 1
            await self.sender.send(
                f"<message xmlns='jabber:client' to='{self.to}' type='chat'"
                f" id='{self.name}-{self.sent}'><body>{BODY}</body></message>"
            )
        finished = await asyncio.wait_for(counting, ROUND_TIMEOUT)
        if record:
            self.messages += count
            self.seconds += finished - started
            self.round_rates.append(count / (finished - started))
            self.evim_cpu += cpu_seconds(bench.instance.pid) - evim_cpu
            self.prosody_cpu += cpu_seconds(bench.prosody_pid) - prosody_cpu

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    async def close(self) -> None:
        await close_stream(self.sender)
        await close_stream(self.receiver)


async def measure(bench: BenchEvim, messages: int, rounds: int, warm_up: int) -> None:
    camille_session, jeanne_session = log_in(bench, "camille"), log_in(bench, "jeanne")
    sender, _ = await gateway_session(bench, camille_session, camille_session.credentials())
    receiver, jeanne_jid = await gateway_session(
        bench, jeanne_session, jeanne_session.credentials()
    )
    for connection in (sender, receiver):
        await connection.send("<presence xmlns='jabber:client'/>")
    gateway = Leg("gateway", sender, receiver, jeanne_jid)
    sender, _ = await direct_session(bench, "camille@localhost")
    receiver, jeanne_jid = await direct_session(bench, "jeanne@localhost")
    for connection in (sender, receiver):
        await connection.send("<presence xmlns='jabber:client'/>")
    direct = Leg("direct", sender, receiver, jeanne_jid)
    # Let the presences settle: the receivers count message frames only, but a late
    # presence broadcast would still be work done during the first round.
    await asyncio.sleep(1)
    try:
        for leg in (gateway, direct):
            await leg.round(bench, warm_up, record=False)
        per_round = [messages // rounds + (i < messages % rounds) for i in range(rounds)]
        for index, count in enumerate(per_round):
            order = (gateway, direct) if index % 2 == 0 else (direct, gateway)
            for leg in order:
                await leg.round(bench, count, record=True)
    finally:
        await gateway.close()
        await direct.close()

    print(
        f"one sender to one receiver, {messages} messages per leg in {rounds} rounds "
        f"(legs in turns), after {warm_up} warm-up"
    )
    print(UNTHROTTLED_NOTE)
    for leg in (gateway, direct):
        label = "through evim's gateway" if leg is gateway else "straight on Prosody   "
        rounds_text = ", ".join(f"{rate:,.0f}" for rate in leg.round_rates)
        print(
            f"{label}: {leg.rate:,.0f} messages/s (rounds: {rounds_text}); CPU per message: "
            f"evim {leg.evim_cpu / leg.messages * 1e6:,.0f} µs, "
            f"Prosody {leg.prosody_cpu / leg.messages * 1e6:,.0f} µs"
        )
    print("ratio gateway/direct: " + verdict(gateway.rate / direct.rate, 0.85, at_most=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="measured, per leg")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per leg, in turns")
    parser.add_argument("--warm-up", type=int, default=1000, help="per leg, not measured")
    options = parser.parse_args()
    with bench_evim(UNTHROTTLED) as bench:
        asyncio.run(measure(bench, options.messages, options.rounds, options.warm_up))


if __name__ == "__main__":
    main()
