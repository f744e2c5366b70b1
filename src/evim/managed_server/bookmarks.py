"""Rooms in every client: server-side bookmarks published for users.

Each user's PEP node ``urn:xmpp:bookmarks:1`` (XEP-0402) gets one item per room, the room's
JID as item id, ``autojoin='true'``, the room's name and the user's full name as nickname.
Prosody's ``mod_bookmarks`` (core, loaded by the managed configuration) serves the same
bookmarks to older clients as XEP-0048 — private XML storage (XEP-0049) and the legacy PEP
node ``storage:bookmarks`` — so Gajim, Converse.js, Dino, Conversations, Profanity and Poezio
all see them.

Why published through the admin shell: ``mod_default_bookmarks`` (prosody-modules) only
fills the bookmarks of a user who has none — a user with a bookmark of their own never gets
the structure's rooms, and it can never remove one; logging in as each user to publish
costs a SCRAM login per user (about 100 ms in slixmpp).  Publishing on the user's PEP
service from inside Prosody reaches online clients at once (PEP notifications) and costs a
fraction of a millisecond per item.

An item is republished only when it lacks ``autojoin`` or has another room name; the
user's nickname, password and extensions in it are kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from evim.managed_server import shell_tables
from evim.managed_server.admin_shell import AdminShell, AdminShellError
from evim.managed_server.errors import ManagedServerError
from evim.managed_server.lua import lua_string, lua_value
from evim.managed_server.provisioning import clean_display_name

BOOKMARKS_NODE = "urn:xmpp:bookmarks:1"
PIPELINE_DEPTH = 16

PRELUDE = r"""
local um = require "core.usermanager"
local st = require "util.stanza"
local hosts = prosody.hosts
local NS = "urn:xmpp:bookmarks:1"
local PUBSUB = "http://jabber.org/protocol/pubsub"
local OPTIONS = {
  persist_items = true; max_items = "max"; send_last_published_item = "never";
  access_model = "whitelist"; _defaults_only = true;
}

evim_bookmarks = {
  -- wanted: staged room jid -> room name; unwanted: staged set of room jids to remove.
  -- Prints "+room" / "-room"; returns true, count (or "absent").
  sync = function (host, node, nick, wanted_name, unwanted_name, apply)
    if not um.user_exists(node, host) then return true, "absent" end
    local pep = hosts[host].modules.pep
    if not pep then return nil, "mod_pep is not loaded on " .. host end
    local service = pep.get_pep_service(node)
    local ok, items = service:get_items(NS, true)
    if not ok then
      if items ~= "item-not-found" then return nil, "bookmarks: " .. tostring(items) end
      items = {}
    end
    local count = 0
    for room, name in pairs(wanted_name and evim_staged[wanted_name] or {}) do
      local item = items[room]
      local conference = item and item:get_child("conference", NS)
      local autojoin = conference and conference.attr.autojoin
      if not conference or (autojoin ~= "true" and autojoin ~= "1")
          or conference.attr.name ~= name then
        count = count + 1
        print("+" .. room)
        if apply then
          local new = st.stanza("conference", { xmlns = NS, name = name, autojoin = "true" })
          if conference then
            for _, child in ipairs(conference.tags) do new:add_child(st.clone(child)) end
          end
          if not new:get_child("nick") then new:text_tag("nick", nick) end
          local payload = st.stanza("item", { xmlns = PUBSUB, id = room }):add_child(new)
          local done, err = service:publish(NS, true, room, payload, OPTIONS)
          if not done then return nil, "bookmark " .. room .. ": " .. tostring(err) end
        end
      end
    end
    for room in pairs(unwanted_name and evim_staged[unwanted_name] or {}) do
      if items[room] then
        count = count + 1
        print("-" .. room)
        if apply then
          service:retract(NS, true, room, st.stanza("retract", { id = room }))
        end
      end
    end
    return true, tostring(count)
  end;
}
return true
"""


class BookmarkError(ManagedServerError):
    """Prosody refused a bookmark operation (its reason)."""


@dataclass(frozen=True)
class BookmarkChange:
    localpart: str
    #: "+room" (published) / "-room" (removed).
    details: tuple[str, ...]


Progress = Callable[[int, int], object]


class BookmarkManager:
    """Bookmark operations on one admin connection, for one domain."""

    def __init__(self, shell: AdminShell, domain: str) -> None:
        self.shell = shell
        self.domain = domain
        self._ready = False

    async def _sync_one(
        self, localpart: str, nick: str, wanted: str | None, unwanted: str, apply: bool
    ) -> BookmarkChange | None:
        arguments = ", ".join(
            [
                lua_string(self.domain),
                lua_string(localpart),
                lua_string(clean_display_name(nick) or localpart),
                lua_string(wanted) if wanted else "nil",
                lua_string(unwanted),
                lua_value(apply),
            ]
        )
        try:
            reply = await self.shell.execute(f">return evim_bookmarks.sync({arguments})")
        except AdminShellError as error:
            if not error.prosody_message:
                raise
            reason = error.prosody_message.removeprefix("Error: ")
            raise BookmarkError(f"bookmarks of {localpart}@{self.domain}: {reason}") from None
        if reply.value in ("absent", "0"):
            return None
        return BookmarkChange(localpart, reply.output)

    async def sync(
        self,
        rooms: Mapping[str, str],
        *,
        users: Mapping[str, str],
        leaving: Sequence[str] = (),
        withdrawn: Collection[str] = (),
        apply: bool,
        progress: Progress | None = None,
    ) -> list[BookmarkChange]:
        """Bookmark ``rooms`` (JID → name) with autojoin for each of ``users`` (localpart →
        nickname) and remove ``withdrawn`` rooms from their bookmarks; remove ``rooms`` and
        ``withdrawn`` from the bookmarks of ``leaving``.  Returns what changed (or would)."""
        if not self._ready:
            await shell_tables.install(self.shell, PRELUDE)
            self._ready = True
        wanted = await shell_tables.stage(self.shell, "bookmarks.wanted", dict(rooms))
        unwanted = await shell_tables.stage(
            self.shell, "bookmarks.withdrawn", dict.fromkeys(withdrawn, True)
        )
        everything = await shell_tables.stage(
            self.shell, "bookmarks.all", dict.fromkeys([*rooms, *withdrawn], True)
        )
        work: list[tuple[str, str, str | None, str]] = [
            (localpart, nick, wanted, unwanted) for localpart, nick in users.items()
        ]
        work += [(localpart, localpart, None, everything) for localpart in leaving]
        total = len(work)
        changes: list[BookmarkChange] = []
        for start in range(0, total, PIPELINE_DEPTH):
            batch = work[start : start + PIPELINE_DEPTH]
            results = await asyncio.gather(*(self._sync_one(*item, apply) for item in batch))
            changes += [change for change in results if change is not None]
            if progress is not None:
                progress(min(start + PIPELINE_DEPTH, total), total)
        return changes
