"""Colleagues as contacts: one roster group per structure, written into users' rosters.

Why roster management through the admin shell rather than ``mod_groups`` (a shared roster
read from a file):

- ``mod_groups`` reads its file when the module loads and injects the contacts when a
  roster is loaded: a user already online sees no change until they log in again (no
  roster push), and every change needs the module reloaded on the host;
- it reads *one* file per host, so several structures' evims sharing one server would have
  to share and rewrite one file — each sync could drop the others' groups;
- its contacts are virtual (never stored): clients that cache rosters (roster versioning)
  and exports do not see them consistently.

Here each contact is a real roster item (``subscription = "both"``, the colleague's full
name, the structure's group), saved with Prosody's ``rostermanager`` and pushed at once to
the user's online clients.  Only items carrying the structure's group are ever changed or
removed, so contacts a user added and other structures' groups stay as they are.  The work
runs inside Prosody, one console line per user, pipelined: the colleagues are sent once
(:mod:`.shell_tables`).  Measured: ``docs/performance.md`` ("Synchronising the spaces").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from evim.managed_server import shell_tables
from evim.managed_server.admin_shell import AdminShell, AdminShellError
from evim.managed_server.errors import ManagedServerError
from evim.managed_server.lua import lua_string, lua_value

#: Users whose rosters are compared ahead of the answers.
PIPELINE_DEPTH = 16
#: A change lists the contacts it touches when there are at most this many.
DETAIL_LIMIT = 20

PRELUDE = r"""
local rm = require "core.rostermanager"
local um = require "core.usermanager"
local DETAIL_LIMIT = @DETAIL_LIMIT@

evim_rosters = {
  -- The contacts of `node` in `group` become exactly the staged set `members_name`
  -- (jid -> name; nil: none).  Prints "+jid", "~jid", "-jid" when few; returns
  -- true, "added changed removed" (or "absent").
  sync = function (host, node, group, members_name, apply)
    if not um.user_exists(node, host) then return true, "absent" end
    local members = members_name and evim_staged[members_name] or {}
    local self_jid = node .. "@" .. host
    local roster, err = rm.load_roster(node, host)
    if not roster then return nil, "the roster could not be read: " .. tostring(err) end
    local added, changed, removed = {}, {}, {}
    for jid, name in pairs(members) do
      if jid ~= self_jid then
        local item = roster[jid]
        if not item then
          added[#added + 1] = jid
        elseif item.subscription ~= "both" or item.ask or item.name ~= name
            or not (item.groups and item.groups[group]) then
          changed[#changed + 1] = jid
        end
      end
    end
    for jid, item in pairs(roster) do
      if jid and type(item) == "table" and item.groups and item.groups[group]
          and members[jid] == nil then
        removed[#removed + 1] = jid
      end
    end
    local count = #added + #changed + #removed
    if apply and count > 0 then
      for _, jid in ipairs(added) do
        roster[jid] = { subscription = "both", name = members[jid], groups = { [group] = true } }
      end
      for _, jid in ipairs(changed) do
        local item = roster[jid]
        item.subscription, item.ask, item.name = "both", nil, members[jid]
        item.groups = item.groups or {}
        item.groups[group] = true
      end
      for _, jid in ipairs(removed) do
        local item = roster[jid]
        item.groups[group] = nil
        if next(item.groups) == nil then roster[jid] = nil end
      end
      local saved, why = rm.save_roster(node, host, roster)
      if not saved then return nil, "the roster could not be saved: " .. tostring(why) end
      for _, list in ipairs({ added, changed, removed }) do
        for _, jid in ipairs(list) do rm.roster_push(node, host, jid) end
      end
    end
    if count <= DETAIL_LIMIT then
      for _, jid in ipairs(added) do print("+" .. jid) end
      for _, jid in ipairs(changed) do print("~" .. jid) end
      for _, jid in ipairs(removed) do print("-" .. jid) end
    end
    return true, #added .. " " .. #changed .. " " .. #removed
  end;
}
return true
""".replace("@DETAIL_LIMIT@", str(DETAIL_LIMIT))


class RosterError(ManagedServerError):
    """Prosody refused a roster operation (its reason)."""


@dataclass(frozen=True)
class RosterChange:
    """What changed (or would change) in one user's roster."""

    localpart: str
    added: int
    changed: int
    removed: int
    #: "+jid" / "~jid" / "-jid", when there are few.
    details: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return self.added + self.changed + self.removed


Progress = Callable[[int, int], object]


class RosterManager:
    """Roster operations on one admin connection, for one domain."""

    def __init__(self, shell: AdminShell, domain: str) -> None:
        self.shell = shell
        self.domain = domain
        self._ready = False

    async def _prepare(self) -> None:
        if not self._ready:
            await shell_tables.install(self.shell, PRELUDE)
            self._ready = True

    async def _sync_one(
        self, localpart: str, group: str, members: str | None, apply: bool
    ) -> RosterChange | None:
        arguments = ", ".join(
            [
                lua_string(self.domain),
                lua_string(localpart),
                lua_string(group),
                lua_string(members) if members else "nil",
                lua_value(apply),
            ]
        )
        try:
            reply = await self.shell.execute(f">return evim_rosters.sync({arguments})")
        except AdminShellError as error:
            if not error.prosody_message:
                raise
            reason = error.prosody_message.removeprefix("Error: ")
            raise RosterError(f"roster of {localpart}@{self.domain}: {reason}") from None
        if reply.value == "absent":
            return None
        added, changed, removed = (int(number) for number in reply.value.split())
        return RosterChange(localpart, added, changed, removed, reply.output)

    async def sync_group(
        self,
        group: str,
        members: Mapping[str, str],
        *,
        users: Sequence[str],
        leaving: Sequence[str] = (),
        apply: bool,
        progress: Progress | None = None,
    ) -> list[RosterChange]:
        """Make the contacts in ``group`` of each of ``users`` (localparts) exactly
        ``members`` (JID → name, the user themself excepted), and remove ``group`` from
        the rosters of ``leaving``.  Returns the rosters that changed (or would)."""
        await self._prepare()
        staged = await shell_tables.stage(self.shell, f"rosters.{group}", dict(members))
        work: list[tuple[str, str | None]] = [(localpart, staged) for localpart in users]
        work += [(localpart, None) for localpart in leaving]
        total = len(work)
        changes: list[RosterChange] = []
        done = 0
        for start in range(0, total, PIPELINE_DEPTH):
            batch = work[start : start + PIPELINE_DEPTH]
            results = await asyncio.gather(
                *(self._sync_one(localpart, group, name, apply) for localpart, name in batch)
            )
            changes += [change for change in results if change is not None and change.count]
            done += len(batch)
            if progress is not None:
                progress(done, total)
        return changes
