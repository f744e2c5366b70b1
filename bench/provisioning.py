"""Creating accounts on the managed Prosody: evim's admin-socket provisioning (one
connection, display names included) versus one ``prosodyctl register`` per account (the
baseline: what a shell-out per user costs), measured in the same run on a throw-away server.

    .venv/bin/python bench/provisioning.py [--accounts 200] [--baseline-accounts 40]

Prints milliseconds per account for each, and their ratio (lower is better for evim).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evim.settings")

from evim.managed_server.accounts import register_account
from evim.managed_server.layout import ServerLayout
from evim.managed_server.localparts import generate_password
from evim.managed_server.provisioning import NewAccount, create_accounts
from evim.managed_server.supervisor import ProsodySupervisor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.prosody import free_ports


async def measure(accounts: int, baseline_accounts: int) -> None:
    with tempfile.TemporaryDirectory(prefix="evim-bench-") as directory:
        c2s, http = free_ports(2)
        layout = ServerLayout(
            directory=Path(directory) / "prosody",
            domain="bench.test",
            muc_host="conference.bench.test",
            c2s_port=c2s,
            http_port=http,
        )
        async with ProsodySupervisor(layout):
            batch = [
                NewAccount(f"user{index}", generate_password(), f"Prénom{index} Nom{index}")
                for index in range(accounts)
            ]
            started = time.perf_counter()
            results = await create_accounts(layout, batch)
            evim_ms = (time.perf_counter() - started) * 1000 / accounts
            assert all(result.created for result in results), "some accounts were not created"

            per_call = []
            for index in range(baseline_accounts):
                started = time.perf_counter()
                await register_account(layout, f"shell{index}", generate_password())
                per_call.append((time.perf_counter() - started) * 1000)
            baseline_ms = statistics.median(per_call)

    print(f"admin socket (with display names): {evim_ms:.1f} ms/account over {accounts}")
    print(
        f"prosodyctl register, one per account: {baseline_ms:.1f} ms/account "
        f"(median of {baseline_accounts})"
    )
    print(f"ratio evim/baseline: {evim_ms / baseline_ms:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--baseline-accounts", type=int, default=40)
    options = parser.parse_args()
    import django

    django.setup()
    asyncio.run(measure(options.accounts, options.baseline_accounts))


if __name__ == "__main__":
    main()
