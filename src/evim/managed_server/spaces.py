"""The three spaces of a structure on the managed Prosody, in one pass: :func:`sync_spaces`.

Given a :class:`SpacesPlan` — the structure's members (JID, full name, administrator or
not), its room and group, the common rooms — :func:`sync_spaces` makes the server match,
on one admin connection, and returns every change as a :class:`Change` (or, with
``apply=False``, every change it would make, changing nothing):

1. accounts: a managed account the back office knows but the server lacks (a server
   restored without its data) is created again with its stored password and name;
2. rooms (:mod:`.rooms`): the structure's room — persistent, members-only, archived; its
   members exactly the structure's (administrators owners) — and the common rooms on the
   managed MUC host — persistent, open, archived; the structure's administrators admins
   (hence moderators), other structures' affiliations left alone;
3. contacts (:mod:`.rosters`): each member's roster holds every colleague in the group
   named after the structure;
4. bookmarks (:mod:`.bookmarks`): each member bookmarks every room, with autojoin.

Several structures on one server: each structure's evim syncs its own room and group.
What it did last time is kept on the server (Prosody's storage ``evim_spaces``, one record
per structure room) — its members, administrators, rooms and group — so that a member who
left is removed from this structure's spaces only, and another structure's members,
contacts, administrators and bookmarks are never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evim.managed_server import shell_tables
from evim.managed_server.admin_shell import DEFAULT_TIMEOUT, AdminShell, AdminShellError
from evim.managed_server.bookmarks import BookmarkManager
from evim.managed_server.errors import ManagedServerError
from evim.managed_server.layout import ServerLayout
from evim.managed_server.lua import lua_string
from evim.managed_server.provisioning import NewAccount, Provisioner
from evim.managed_server.rooms import RoomConfig, RoomManager
from evim.managed_server.rosters import RosterChange, RosterManager
from evim.xmpp.spaces_plan import Change, ChangeKind, Member, Step, contacts_summary

__all__ = ["Change", "ChangeKind", "Member", "SpacesPlan", "Step", "sync_spaces"]

STATE_PRELUDE = r"""
local storagemanager = require "core.storagemanager"
evim_spaces_state = {
  -- Prints "kind value" lines.
  get = function (host, key)
    local data, err = storagemanager.open(host, "evim_spaces"):get(key)
    if err then return nil, "the state could not be read: " .. tostring(err) end
    for kind, values in pairs(data or {}) do
      if type(values) == "table" then
        for value in pairs(values) do print(kind .. " " .. value) end
      else
        print(kind .. " " .. tostring(values))
      end
    end
    return true, data and "found" or "none"
  end;
  set = function (host, key, group, members, admins, rooms)
    local data = {
      group = group;
      members = evim_staged[members] or {};
      admins = evim_staged[admins] or {};
      rooms = evim_staged[rooms] or {};
    }
    local ok, err = storagemanager.open(host, "evim_spaces"):set(key, data)
    if not ok then return nil, "the state could not be saved: " .. tostring(err) end
    return true, "saved"
  end;
}
return true
"""


@dataclass(frozen=True)
class SpacesPlan:
    """What the server should hold for one structure."""

    #: The structure's room JID: also the key of the structure's record on the server.
    structure_room: str
    #: The roster group (the structure's name).
    group: str
    members: Sequence[Member]
    #: Rooms to create or configure on the managed MUC host (the structure's, common ones).
    rooms: Sequence[RoomConfig] = ()
    #: Every room every member bookmarks (JID → name), wherever it is.
    bookmarks: dict[str, str] = field(default_factory=dict)
    #: Managed accounts that must exist (created with this password if missing).
    accounts: Sequence[NewAccount] = ()


Progress = Callable[[Step, int, int], object]


def _localpart(jid: str, domain: str) -> str | None:
    node, _, host = jid.rpartition("@")
    return node if node and host == domain else None


async def _read_state(shell: AdminShell, domain: str, key: str) -> dict[str, set[str]]:
    reply = await shell.execute(
        f">return evim_spaces_state.get({lua_string(domain)}, {lua_string(key)})"
    )
    state: dict[str, set[str]] = {"members": set(), "admins": set(), "rooms": set(), "group": set()}
    for line in reply.output:
        kind, _, value = line.partition(" ")
        state.setdefault(kind, set()).add(value)
    return state


async def _write_state(
    shell: AdminShell,
    domain: str,
    key: str,
    *,
    group: str,
    members: set[str],
    admins: set[str],
    rooms: set[str],
) -> None:
    names = [
        await shell_tables.stage(shell, f"state.{kind}", dict.fromkeys(values, True))
        for kind, values in (("members", members), ("admins", admins), ("rooms", rooms))
    ]
    arguments = ", ".join(lua_string(value) for value in (domain, key, group, *names))
    await shell.run(f">return evim_spaces_state.set({arguments})")


async def sync_spaces(
    layout: ServerLayout,
    plan: SpacesPlan,
    *,
    apply: bool = True,
    progress: Progress | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Change]:
    """Make the managed server hold ``plan``; the changes made (or, unless ``apply``, to
    make).  Raises :class:`~.admin_shell.AdminShellError` when the server is unreachable
    and :class:`~.errors.ManagedServerError` with Prosody's reason when it refuses."""
    domain = layout.domain
    changes: list[Change] = []
    try:
        async with AdminShell.for_layout(layout, timeout=timeout) as shell:
            await shell_tables.install(shell, STATE_PRELUDE)
            previous = await _read_state(shell, domain, plan.structure_room)

            # 1. Accounts.
            provisioner = Provisioner(shell, domain)
            existing = await provisioner.existing() if plan.accounts else set()
            missing = [account for account in plan.accounts if account.localpart not in existing]
            if missing and apply:
                results = await provisioner.create_many(
                    missing,
                    progress=None
                    if progress is None
                    else lambda d, t: progress(Step.ACCOUNTS, d, t),
                )
                for result in results:
                    kind = (
                        ChangeKind.ACCOUNT_CREATED if result.created else ChangeKind.ACCOUNT_FAILED
                    )
                    changes.append(Change(kind, result.jid, result.reason))
            else:
                changes += [
                    Change(ChangeKind.ACCOUNT_CREATED, f"{account.localpart}@{domain}")
                    for account in missing
                ]

            # 2. Rooms.
            rooms = RoomManager(shell, layout.muc_host)
            administrators = {member.jid for member in plan.members if member.administrator}
            for config in plan.rooms:
                done = await rooms.ensure(config, apply=apply)
                if "created" in done:
                    changes.append(Change(ChangeKind.ROOM_CREATED, config.jid))
                settings = [name for name in done if name != "created"]
                if settings and "created" not in done:
                    changes.append(
                        Change(ChangeKind.ROOM_CONFIGURED, config.jid, " ".join(settings))
                    )
                structure = config.jid == plan.structure_room
                if structure:
                    desired = {
                        member.jid: "owner" if member.administrator else "member"
                        for member in plan.members
                    }
                else:
                    desired = dict.fromkeys(administrators, "admin")
                if "created" in done and not apply:
                    granted = [(jid, affiliation) for jid, affiliation in sorted(desired.items())]
                else:
                    granted = [
                        (change.jid, change.affiliation)
                        for change in await rooms.affiliations(
                            config.jid,
                            desired,
                            previous=previous["admins"] if not structure else (),
                            exclusive=structure,
                            apply=apply,
                        )
                    ]
                changes += [
                    Change(ChangeKind.AFFILIATION, config.jid, f"{jid} {affiliation}")
                    for jid, affiliation in granted
                ]

            # 3. Contacts.
            local = {
                member.jid: localpart
                for member in plan.members
                if (localpart := _localpart(member.jid, domain))
            }
            leaving = sorted(
                localpart
                for jid in previous["members"] - {member.jid for member in plan.members}
                if (localpart := _localpart(jid, domain))
            )
            rosters = RosterManager(shell, domain)
            contacts = {member.jid: member.name for member in plan.members}
            users = sorted(local.values())
            for old_group in previous["group"] - {plan.group}:  # the structure was renamed
                for change in await rosters.sync_group(
                    old_group, {}, users=[], leaving=users + leaving, apply=apply
                ):
                    changes.append(_contacts_change(change, domain, old_group))
            for change in await rosters.sync_group(
                plan.group,
                contacts,
                users=users,
                leaving=leaving,
                apply=apply,
                progress=None if progress is None else lambda d, t: progress(Step.CONTACTS, d, t),
            ):
                changes.append(_contacts_change(change, domain, plan.group))

            # 4. Bookmarks.
            names = {member.jid: member.name for member in plan.members}
            for marked in await BookmarkManager(shell, domain).sync(
                plan.bookmarks,
                users={localpart: names[jid] for jid, localpart in sorted(local.items())},
                leaving=leaving,
                withdrawn=previous["rooms"] - set(plan.bookmarks),
                apply=apply,
                progress=None if progress is None else lambda d, t: progress(Step.BOOKMARKS, d, t),
            ):
                changes.append(
                    Change(
                        ChangeKind.BOOKMARKS,
                        f"{marked.localpart}@{domain}",
                        " ".join(marked.details),
                    )
                )

            # What this structure holds now, for the next sync.
            state = {
                "members": {member.jid for member in plan.members},
                "admins": administrators,
                "rooms": set(plan.bookmarks),
                "group": {plan.group},
            }
            if apply and any(previous.get(kind, set()) != values for kind, values in state.items()):
                await _write_state(
                    shell,
                    domain,
                    plan.structure_room,
                    group=plan.group,
                    members=state["members"],
                    admins=state["admins"],
                    rooms=state["rooms"],
                )
    except AdminShellError as error:
        if error.prosody_message:
            raise ManagedServerError(error.prosody_message.removeprefix("Error: ")) from None
        raise
    return changes


def _contacts_change(change: RosterChange, domain: str, group: str) -> Change:
    summary = contacts_summary(
        group, change.added, change.changed, change.removed, tuple(change.details)
    )
    return Change(ChangeKind.CONTACTS, f"{change.localpart}@{domain}", summary)
