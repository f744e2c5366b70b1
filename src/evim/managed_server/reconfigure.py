"""The running managed Prosody follows the service settings: :func:`apply_layout`.

The configuration is a pure function of the :class:`~.layout.ServerLayout`, whose
:data:`~.layout.SERVICE_FIELDS` come from the service settings page.  When one of them
changes, :func:`apply_layout` writes the new ``prosody.cfg.lua`` and tells the running
Prosody, through its admin socket, to follow it — no restart, no session dropped on the
main host:

1. ``prosody.reload_config()`` (what ``prosodyctl reload`` does): Prosody 0.12 re-reads
   the file, but a host or module already running keeps the options it read at load;
2. hosts: one no longer configured (a renamed publish-subscribe or directory component,
   the anonymous host switched off) is deactivated (its sessions closed); one newly
   configured is activated, which loads its modules with the new options; a host other
   than the main one whose options changed is deactivated and activated again;
3. the main host, if its options changed: each module of
   :data:`~.config.MAIN_HOST_LIVE_MODULES` is reloaded (re-reads its options), loaded
   (newly enabled) or unloaded (no longer enabled, or loaded only as another's
   dependency) — STUN servers (mod_external_services), in-band registration
   (mod_register, which loads mod_register_ibr and its limits only when allowed).

A change of the global section (ports, paths: the environment, not the page) cannot be
applied this way: the result says so (:attr:`Reconfiguration.restart_needed`).

Which process does it: the one where the change is saved (the settings page's, on
commit: :mod:`evim.managed_server.apps` connects to ``service_settings_changed``); any
evim process of the installation reaches the admin socket in the data directory, and
all read the same database, so they agree on the configuration.  The supervisor reads
the service settings again before each start of Prosody (``ProsodySupervisor``'s
``layout_source``), so a restart after a crash, and every start, use the settings of the
moment; ``evim run`` applies them to a Prosody it finds already running
(:func:`apply_current_settings`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async

from evim.managed_server.admin_shell import AdminShell, AdminShellError, AdminSocketMissingError
from evim.managed_server.config import MAIN_HOST_LIVE_MODULES, write_config
from evim.managed_server.errors import ManagedServerError
from evim.managed_server.layout import SERVER_OPTIONS, ServerLayout
from evim.managed_server.lua import lua_string, lua_value

logger = logging.getLogger(__name__)

#: Installed in Prosody's global environment on the admin connection:
#: ``evim_reconfigure(main_host, live_modules)`` returns ``true, "<report>"`` (what it did,
#: ``;``-separated, ``restart-needed`` among them when the global section changed) or
#: ``nil, "<reason>"``.
PRELUDE = r"""
local cm = require "core.configmanager"
local hm = require "core.hostmanager"
local mm = require "core.modulemanager"
local hosts = prosody.hosts

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for key, value in pairs(a) do
    if not same(value, b[key]) then return false end
  end
  for key in pairs(b) do
    if a[key] == nil then return false end
  end
  return true
end

evim_reconfigure = function (main_host, live_modules)
  local before = cm.getconfig()
  local ok, err = prosody.reload_config()
  if not ok then return nil, "Prosody could not read its new configuration: " .. tostring(err) end
  local after = cm.getconfig()
  local done = {}
  if not same(before["*"], after["*"]) then done[#done + 1] = "restart-needed" end
  local gone = {}
  for host in pairs(hosts) do
    if not after[host] or (host ~= main_host and not same(before[host], after[host])) then
      gone[#gone + 1] = host
    end
  end
  table.sort(gone)
  for _, host in ipairs(gone) do
    local deactivated, why = hm.deactivate(host)
    if not deactivated then return nil, "could not deactivate " .. host .. ": " .. tostring(why) end
    done[#done + 1] = "deactivated " .. host
  end
  local new = {}
  for host in pairs(after) do
    if host ~= "*" and not hosts[host] then new[#new + 1] = host end
  end
  table.sort(new)
  for _, host in ipairs(new) do
    local activated, why = hm.activate(host)
    if not activated then return nil, "could not activate " .. host .. ": " .. tostring(why) end
    done[#done + 1] = "activated " .. host
  end
  if hosts[main_host] and not same(before[main_host], after[main_host]) then
    local wanted = mm.get_modules_for_host(main_host)
    for _, name in ipairs(live_modules) do
      local loaded = mm.is_loaded(main_host, name)
      local result, why = true, nil
      if wanted:contains(name) then
        if loaded then
          result, why = mm.reload(main_host, name)
          done[#done + 1] = "reloaded " .. name
        else
          result, why = mm.load(main_host, name)
          done[#done + 1] = "loaded " .. name
        end
      elseif loaded then
        result, why = mm.unload(main_host, name)
        done[#done + 1] = "unloaded " .. name
      end
      if not result then
        return nil, "mod_" .. name .. " on " .. main_host .. ": " .. tostring(why)
      end
    end
  end
  if #done == 0 then return true, "unchanged" end
  return true, table.concat(done, "; ")
end
return true, "ready"
""".strip()


class ReconfigurationError(ManagedServerError):
    """The running Prosody could not follow its new configuration."""


@dataclass(frozen=True)
class Reconfiguration:
    """What :func:`apply_layout` did."""

    #: Whether ``prosody.cfg.lua`` changed.
    written: bool
    #: What Prosody did, in order ("activated pubsub.example.org", "reloaded register"…);
    #: empty when no Prosody was running to follow it.
    steps: tuple[str, ...] = ()
    #: The global section changed: only a restart of Prosody applies it.
    restart_needed: bool = False
    #: False when no Prosody was running (the file is written; the next start reads it).
    applied: bool = True


async def apply_layout(
    layout: ServerLayout, *, running: bool | None = None, timeout: float = 30.0
) -> Reconfiguration:
    """Write ``layout``'s configuration, then make the running Prosody follow it.

    ``running``: whether a Prosody runs for ``layout`` (None: try its admin socket; when
    nothing answers there, the file is written and nothing else done).  Raises
    :class:`ReconfigurationError` when Prosody refuses the change.
    """
    written = write_config(layout)
    try:
        shell = AdminShell.for_layout(layout, timeout=timeout)
        await shell.connect()
    except AdminSocketMissingError:
        if running:
            raise
        logger.info(
            "The managed Prosody is not running: %s is written, its next start reads it",
            layout.config_path,
        )
        return Reconfiguration(written=written, applied=False)
    try:
        await shell.run(">" + PRELUDE)
        call = f">return evim_reconfigure({lua_string(layout.domain)}, "
        call += f"{lua_value(list(MAIN_HOST_LIVE_MODULES))})"
        try:
            reply = await shell.execute(call)
        except AdminShellError as error:
            if not error.prosody_message:
                raise
            raise ReconfigurationError(
                f"the managed Prosody did not follow its new configuration: "
                f"{error.prosody_message.removeprefix('Error: ')}"
            ) from None
    finally:
        await shell.close()
    steps = tuple(step for step in reply.value.split("; ") if step and step != "unchanged")
    restart_needed = "restart-needed" in steps
    steps = tuple(step for step in steps if step != "restart-needed")
    if steps:
        logger.info("The managed Prosody follows its new configuration: %s", ", ".join(steps))
    if restart_needed:
        logger.warning(
            "The managed Prosody's global settings changed: restart it to apply them "
            "(evim xmpp stop, then evim xmpp start; or restart evim run)"
        )
    return Reconfiguration(written=written, steps=steps, restart_needed=restart_needed)


def service_settings_source(layout: ServerLayout) -> Callable[[], Awaitable[ServerLayout]]:
    """For ``ProsodySupervisor(layout_source=…)``: ``layout`` with the service settings of
    the moment, read from the database (in Django's thread for it)."""

    def read() -> ServerLayout:
        from django.db import close_old_connections

        close_old_connections()  # a restart may come hours later: no stale connection
        return layout.with_service_settings()

    async def source() -> ServerLayout:
        return await sync_to_async(read)()

    return source


async def apply_current_settings(layout: ServerLayout) -> Reconfiguration | None:
    """Bring a Prosody that already runs (started by another process, maybe before a
    change) in line with the service settings; None if they could not be read or applied
    (logged: a server that runs is no reason not to serve)."""
    try:
        current = await sync_to_async(layout.with_service_settings)()
        return await apply_layout(current)
    except Exception:
        logger.exception("Could not apply the service settings to the managed server")
        return None


def on_service_settings_changed(sender: Any, changed: list[str], **kwargs: Any) -> None:
    """``service_settings_changed`` receiver (after the commit, in the saving process):
    the running managed Prosody follows a change of the options that concern it.  A
    failure is logged, never raised at the page that saved: the configuration file is
    written anyway, and the next start of Prosody reads it."""
    from django.conf import settings

    if settings.EVIM_XMPP_SERVER != "managed" or not SERVER_OPTIONS.intersection(changed):
        return
    try:
        layout = ServerLayout.from_settings().with_service_settings()
        async_to_sync(apply_layout)(layout)
    except Exception:
        logger.exception(
            "The managed XMPP server did not follow the change of %s", ", ".join(changed)
        )
