"""The spaces of a structure on the real managed Prosody, through the admin shell: rooms
(created, configured, affiliations), contacts and bookmarks, read back by a real client."""

from __future__ import annotations

import asyncio
from typing import Any

from slixmpp import JID

from evim.managed_server.admin_shell import AdminShell
from evim.managed_server.bookmarks import BOOKMARKS_NODE
from evim.managed_server.rooms import RoomConfig, RoomManager
from evim.managed_server.spaces import ChangeKind, Member, SpacesPlan, sync_spaces
from tests.fixtures.prosody import RunningProsody
from tests.managed_server.xmpp_client import TIMEOUT, logged_in


def _plan(prosody: RunningProsody, prefix: str, members: list[Member]) -> SpacesPlan:
    room = f"{prefix}-room@{prosody.muc_host}"
    common = f"{prefix}-common@{prosody.muc_host}"
    return SpacesPlan(
        structure_room=room,
        group=f"Structure {prefix}",
        members=members,
        rooms=[
            RoomConfig(room, f"Room {prefix}", "Colleagues", members_only=True, public=False),
            RoomConfig(common, "Common", "Everyone", members_only=False, public=True),
        ],
        bookmarks={room: f"Room {prefix}", common: "Common"},
    )


async def _roster(client: Any) -> dict[str, tuple[str, tuple[str, ...], str]]:
    reply = await client.get_roster(timeout=TIMEOUT)
    return {
        str(item["jid"]): (item["name"], tuple(item["groups"]), item["subscription"])
        for item in reply["roster"]
    }


async def _bookmarks(client: Any) -> dict[str, tuple[str, str]]:
    reply = await client.plugin["xep_0060"].get_items(
        JID(client.boundjid.bare), BOOKMARKS_NODE, timeout=TIMEOUT
    )
    found = {}
    for item in reply["pubsub"]["items"]:
        conference = item.xml.find(f"{{{BOOKMARKS_NODE}}}conference")
        found[item["id"]] = (conference.get("name"), conference.get("autojoin"))
    return found


def test_spaces_on_the_server(managed_prosody: RunningProsody) -> None:
    prosody = managed_prosody
    alice = prosody.register("spaces-alice", "alice-pass")
    bob = prosody.register("spaces-bob", "bob-pass")
    carol = prosody.register("spaces-carol", "carol-pass")
    members = [
        Member(alice, "Alice Admin", administrator=True),
        Member(bob, "Bob Colleague"),
        Member(carol, "Carol Colleague"),
    ]
    plan = _plan(prosody, "spaces", members)
    room, common = plan.rooms[0].jid, plan.rooms[1].jid

    async def scenario() -> None:
        dry = await sync_spaces(prosody.layout, plan, apply=False)
        assert {change.kind for change in dry} >= {
            ChangeKind.ROOM_CREATED,
            ChangeKind.AFFILIATION,
            ChangeKind.CONTACTS,
            ChangeKind.BOOKMARKS,
        }
        async with AdminShell.for_layout(prosody.layout) as shell:
            assert not await RoomManager(shell, prosody.muc_host).exists(room)

        first = await sync_spaces(prosody.layout, plan)
        assert {change.kind for change in first} == {change.kind for change in dry}
        assert await sync_spaces(prosody.layout, plan) == []

        async with logged_in(prosody.layout, bob, "bob-pass") as client:
            client.register_plugin("xep_0060")
            roster = await _roster(client)
            assert roster[alice] == ("Alice Admin", ("Structure spaces",), "both")
            assert roster[carol] == ("Carol Colleague", ("Structure spaces",), "both")
            assert bob not in roster
            assert await _bookmarks(client) == {
                room: ("Room spaces", "true"),
                common: ("Common", "true"),
            }

        # Carol leaves: no longer a member, nor a contact; her own spaces are cleared.
        smaller = _plan(prosody, "spaces", members[:2])
        changes = await sync_spaces(prosody.layout, smaller)
        assert any(c.kind is ChangeKind.AFFILIATION and carol in c.detail for c in changes)
        async with logged_in(prosody.layout, bob, "bob-pass") as client:
            assert carol not in await _roster(client)
        async with logged_in(prosody.layout, carol, "carol-pass") as client:
            client.register_plugin("xep_0060")
            assert await _roster(client) == {}
            assert await _bookmarks(client) == {}

        # A room destroyed by hand comes back.
        async with AdminShell.for_layout(prosody.layout) as shell:
            assert await RoomManager(shell, prosody.muc_host).destroy(room)
        again = await sync_spaces(prosody.layout, smaller)
        assert _kinds(again) == {ChangeKind.ROOM_CREATED, ChangeKind.AFFILIATION}
        assert await sync_spaces(prosody.layout, smaller) == []

    asyncio.run(scenario())


def _kinds(changes: list[Any]) -> set[ChangeKind]:
    return {change.kind for change in changes}
