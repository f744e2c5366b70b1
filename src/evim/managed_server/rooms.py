"""Rooms on the managed Prosody's MUC component, through its admin shell.

:class:`RoomManager` (one admin connection) makes a room exist with the wanted
configuration (:meth:`~RoomManager.ensure`) and gives JIDs their affiliations
(:meth:`~RoomManager.affiliations`).  Both compare first and change only what differs,
saving the room once; with ``apply=False`` they only say what they would change.

Prosody's room API (``muc.lib.lua`` 0.12): ``create_room(jid)`` with the component's
defaults, the ``set_name`` / ``set_description`` / ``set_persistent`` /
``set_members_only`` / ``set_public`` / ``set_moderated`` / ``set_whois`` setters,
``room._data.archiving`` for MAM (``mod_muc_mam``), ``set_affiliation(true, jid, …)`` (the
``true`` actor bypasses the permission checks) and ``save(true)``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from evim.managed_server import shell_tables
from evim.managed_server.admin_shell import AdminShell, AdminShellError
from evim.managed_server.errors import ManagedServerError
from evim.managed_server.lua import LuaValue, lua_string, lua_value
from evim.xmpp.spaces_plan import RoomConfig

__all__ = ["AffiliationChange", "RoomConfig", "RoomError", "RoomManager"]

PRELUDE = r"""
local hosts = prosody.hosts
local SETTINGS = {
  { "name", "get_name", "set_name" },
  { "description", "get_description", "set_description" },
  { "persistent", "get_persistent", "set_persistent" },
  { "members_only", "get_members_only", "set_members_only" },
  { "public", "get_public", "set_public" },
  { "moderated", "get_moderated", "set_moderated" },
  { "whois", "get_whois", "set_whois" },
}

-- A destroyed persistent room leaves a tombstone (mod_muc's muc_tombstones: locked,
-- _data.destroyed) for a month: for evim, the room is gone.
local function find(muc_host, jid)
  local host = hosts[muc_host]
  local muc = host and host.modules.muc
  if not muc then return nil, nil, "this Prosody has no MUC component " .. muc_host end
  local room = muc.get_room_from_jid(jid)
  if room and room._data.destroyed then return muc, nil, nil, room end
  return muc, room
end

evim_rooms = {
  -- Prints each change; returns true, count.
  ensure = function (muc_host, jid, config, apply)
    local muc, room, err, tombstone = find(muc_host, jid)
    if not muc then return nil, err end
    local count, existed = 0, room ~= nil
    if not room then
      print("created")
      count = 1
      if not apply then return true, "1" end
      if tombstone then tombstone:destroy() end -- removes the tombstone itself
      room, err = muc.create_room(jid)
      if not room then return nil, "the room could not be created: " .. tostring(err) end
    end
    for _, setting in ipairs(SETTINGS) do
      local key, get, set = setting[1], setting[2], setting[3]
      local wanted = config[key]
      if existed and config.labels_once and (key == "name" or key == "description") then
        wanted = nil -- a room shared by several structures: named once, by its creator
      end
      local current = room[get](room)
      if type(wanted) == "boolean" then current = current and true or false end
      if wanted ~= nil and current ~= wanted then
        print(key)
        count = count + 1
        if apply then room[set](room, wanted) end
      end
    end
    if config.archiving ~= nil and room._data.archiving ~= config.archiving then
      print("archiving")
      count = count + 1
      if apply then room._data.archiving = config.archiving end
    end
    if apply and count > 0 then room:save(true) end
    return true, tostring(count)
  end;

  -- desired: staged jid -> affiliation.  Any other affiliation (outcasts excepted) is
  -- removed when exclusive, else only those of the staged set `previous`.
  affiliations = function (muc_host, jid, desired_name, previous_name, exclusive, apply)
    local muc, room, err = find(muc_host, jid)
    if not muc then return nil, err end
    if not room then return nil, "there is no room " .. jid end
    local desired = evim_staged[desired_name] or {}
    local previous = previous_name and evim_staged[previous_name] or {}
    local changes = {}
    for member, affiliation in pairs(desired) do
      if (room:get_affiliation(member) or "none") ~= affiliation then
        changes[#changes + 1] = { member, affiliation }
      end
    end
    for member, affiliation in room:each_affiliation() do
      if desired[member] == nil and affiliation ~= "outcast"
          and (exclusive or previous[member]) then
        changes[#changes + 1] = { member, "none" }
      end
    end
    for _, change in ipairs(changes) do
      if apply then
        local ok, _, condition = room:set_affiliation(true, change[1], change[2])
        if not ok then
          return nil, "affiliation of " .. change[1] .. " not set: " .. tostring(condition)
        end
      end
      print(change[1] .. " " .. change[2])
    end
    if apply and #changes > 0 then room:save(true) end
    return true, tostring(#changes)
  end;

  exists = function (muc_host, jid)
    local muc, room, err = find(muc_host, jid)
    if not muc then return nil, err end
    return true, room and "yes" or "no"
  end;

  destroy = function (muc_host, jid)
    local muc, room, err = find(muc_host, jid)
    if not muc then return nil, err end
    if not room then return true, "absent" end
    room:destroy()
    return true, "destroyed"
  end;
}
return true
"""


class RoomError(ManagedServerError):
    """Prosody refused a room operation (its reason)."""


def _lua_config(config: RoomConfig) -> dict[str, LuaValue]:
    values: dict[str, LuaValue | None] = {
        "name": config.name,
        "description": config.description,
        "persistent": config.persistent,
        "members_only": config.members_only,
        "public": config.public,
        "archiving": config.archiving,
        "moderated": config.moderated,
        "whois": config.whois,
        "labels_once": config.labels_once,
    }
    return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class AffiliationChange:
    jid: str
    affiliation: str  # "none" when removed


class RoomManager:
    """Room operations on one admin connection."""

    def __init__(self, shell: AdminShell, muc_host: str) -> None:
        self.shell = shell
        self.muc_host = muc_host
        self._ready = False

    async def _call(self, operation: str, *arguments: str) -> tuple[str, tuple[str, ...]]:
        if not self._ready:
            await shell_tables.install(self.shell, PRELUDE)
            self._ready = True
        call = ", ".join([lua_string(self.muc_host), *arguments])
        try:
            reply = await self.shell.execute(f">return evim_rooms.{operation}({call})")
        except AdminShellError as error:
            if not error.prosody_message:
                raise
            raise RoomError(error.prosody_message.removeprefix("Error: ")) from None
        return reply.value, reply.output

    async def ensure(self, config: RoomConfig, *, apply: bool) -> list[str]:
        """Create or reconfigure the room; the names of what was (or would be) changed."""
        _count, output = await self._call(
            "ensure", lua_string(config.jid), lua_value(_lua_config(config)), lua_value(apply)
        )
        return list(output)

    async def affiliations(
        self,
        room: str,
        desired: Mapping[str, str],
        *,
        previous: Collection[str] = (),
        exclusive: bool,
        apply: bool,
    ) -> list[AffiliationChange]:
        """Give each JID of ``desired`` its affiliation; remove the others (every other one
        when ``exclusive``, else those of ``previous``).  Outcasts stay outcasts."""
        desired_name = await shell_tables.stage(self.shell, "rooms.desired", dict(desired))
        previous_name = await shell_tables.stage(
            self.shell, "rooms.previous", dict.fromkeys(previous, True)
        )
        _count, output = await self._call(
            "affiliations",
            lua_string(room),
            lua_string(desired_name),
            lua_string(previous_name),
            lua_value(exclusive),
            lua_value(apply),
        )
        changes = []
        for line in output:
            jid, _, affiliation = line.rpartition(" ")
            changes.append(AffiliationChange(jid, affiliation))
        return sorted(changes, key=lambda change: change.jid)

    async def exists(self, room: str) -> bool:
        value, _output = await self._call("exists", lua_string(room))
        return value == "yes"

    async def destroy(self, room: str) -> bool:
        """Destroy the room (as an administrator would by hand); False if there was none."""
        value, _output = await self._call("destroy", lua_string(room))
        return value == "destroyed"
