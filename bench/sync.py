"""Synchronising a structure's spaces on the managed Prosody: evim's sync (one admin
connection, the work done inside Prosody) versus the same work done one ``prosodyctl``
call at a time (the baseline), measured in the same run on a throw-away server.

    .venv/bin/python bench/sync.py [--users 1000] [--baseline-users 50]

evim: :func:`evim.managed_server.spaces.sync_spaces` for ``--users`` users from scratch
(accounts created, the structure's room and a common room created, every user a member,
every colleague in every roster, two bookmarks each), then again with nothing to change.

Baseline, per user, four ``prosodyctl`` processes: ``register`` (the account), then three
``prosodyctl shell`` one-liners — the room affiliation, the whole roster in one call (a Lua
loop over every colleague: generous to the baseline), the two bookmarks.  It runs for
``--baseline-users`` users of the same structure (their rosters hold all ``--users``
colleagues) and is extrapolated linearly to ``--users``: each user costs the same four
process starts whatever their number.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evim.settings")

from evim.managed_server.accounts import register_account
from evim.managed_server.layout import ServerLayout
from evim.managed_server.localparts import generate_password
from evim.managed_server.lua import lua_string, lua_value
from evim.managed_server.provisioning import NewAccount
from evim.managed_server.rooms import RoomConfig
from evim.managed_server.spaces import Member, SpacesPlan, sync_spaces
from evim.managed_server.supervisor import ProsodySupervisor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.prosody import free_ports

GROUP = "Théâtre des Lilas"


def make_plan(layout: ServerLayout, users: int) -> SpacesPlan:
    room = f"lilas@{layout.muc_host}"
    common = f"public@{layout.muc_host}"
    members = [
        Member(f"user{index}@{layout.domain}", f"Prénom{index} Nom{index}", index < 3)
        for index in range(users)
    ]
    return SpacesPlan(
        structure_room=room,
        group=GROUP,
        members=members,
        rooms=[
            RoomConfig(room, GROUP, "Les collègues", members_only=True, public=False),
            RoomConfig(common, "Salon commun", "Toutes les structures", False, True),
        ],
        bookmarks={room: GROUP, common: "Salon commun"},
        accounts=[
            NewAccount(f"user{index}", generate_password(), f"Prénom{index} Nom{index}")
            for index in range(users)
        ],
    )


async def prosodyctl_shell(layout: ServerLayout, lua: str) -> None:
    process = await asyncio.create_subprocess_exec(
        layout.prosodyctl_bin,
        "--config",
        str(layout.config_path),
        "shell",
        ">" + lua,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"prosodyctl shell failed: {output.decode(errors='replace')[:300]}")


async def baseline_user(layout: ServerLayout, plan: SpacesPlan, index: int) -> None:
    """The four calls one user costs when done one prosodyctl call at a time."""
    localpart, domain = f"shell{index}", layout.domain
    jid = f"{localpart}@{domain}"
    await register_account(layout, localpart, generate_password())
    muc = f"prosody.hosts[{lua_string(layout.muc_host)}].modules.muc"
    await prosodyctl_shell(
        layout,
        f"local r = {muc}.get_room_from_jid({lua_string(plan.structure_room)}); "
        f'r:set_affiliation(true, {lua_string(jid)}, "member"); r:save(true)',
    )
    names = {member.jid: member.name for member in plan.members}
    await prosodyctl_shell(
        layout,
        'local rm = require "core.rostermanager"; '
        f"local r = rm.load_roster({lua_string(localpart)}, {lua_string(domain)}); "
        f"for j, n in pairs({lua_value(names)}) do r[j] = {{ subscription = 'both', "
        f"name = n, groups = {{ [{lua_string(GROUP)}] = true }} }} end; "
        f"rm.save_roster({lua_string(localpart)}, {lua_string(domain)}, r)",
    )
    publishes = " ".join(
        f"s:publish('urn:xmpp:bookmarks:1', true, {lua_string(room)}, "
        f"st.stanza('item', {{ xmlns = 'http://jabber.org/protocol/pubsub', "
        f"id = {lua_string(room)} }}):tag('conference', {{ xmlns = 'urn:xmpp:bookmarks:1', "
        f"name = {lua_string(name)}, autojoin = 'true' }}):up(), "
        "{ persist_items = true, max_items = 'max', access_model = 'whitelist', "
        "_defaults_only = true });"
        for room, name in plan.bookmarks.items()
    )
    await prosodyctl_shell(
        layout,
        'local st = require "util.stanza"; '
        f"local s = prosody.hosts[{lua_string(domain)}].modules.pep.get_pep_service("
        f"{lua_string(localpart)}); {publishes}",
    )


async def measure(users: int, baseline_users: int) -> None:
    with tempfile.TemporaryDirectory(prefix="evim-bench-") as directory:
        c2s, http = free_ports(2)
        layout = ServerLayout(
            directory=Path(directory) / "prosody",
            domain="bench.test",
            muc_host="conference.bench.test",
            c2s_port=c2s,
            http_port=http,
            start_timeout=30,
        )
        async with ProsodySupervisor(layout):
            plan = make_plan(layout, users)
            started = time.perf_counter()
            changes = await sync_spaces(layout, plan, timeout=120)
            scratch = time.perf_counter() - started
            started = time.perf_counter()
            again = await sync_spaces(layout, plan, timeout=120)
            nothing = time.perf_counter() - started
            assert again == [], f"the second sync changed {len(again)} things"

            started = time.perf_counter()
            for index in range(baseline_users):
                await baseline_user(layout, plan, index)
            per_user = (time.perf_counter() - started) / baseline_users
    baseline = per_user * users
    print(f"evim sync from scratch, {users} users: {scratch:.2f} s ({len(changes)} changes)")
    print(f"evim sync, nothing to change: {nothing:.2f} s")
    print(
        f"prosodyctl, one call at a time: {per_user * 1000:.0f} ms/user "
        f"(over {baseline_users} users) -> {baseline:.0f} s for {users}"
    )
    print(f"ratio evim/baseline, from scratch: {scratch / baseline:.3f}")
    print(f"ratio evim/baseline, nothing to change: {nothing / baseline:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--baseline-users", type=int, default=50)
    options = parser.parse_args()
    import django

    django.setup()
    asyncio.run(measure(options.users, options.baseline_users))


if __name__ == "__main__":
    main()
