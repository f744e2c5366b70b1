"""The managed XMPP server: a Prosody that evim configures, runs and supervises.

Modules, one job each:

- :mod:`~evim.managed_server.layout` — :class:`ServerLayout`, the instance (directory,
  names, ports, programs) and every path derived from it;
- :mod:`~evim.managed_server.lua` — Lua literals, safely quoted;
- :mod:`~evim.managed_server.config` — renders and writes ``prosody.cfg.lua`` (with
  evim's own Prosody modules from ``prosody_modules/``: the user directory, reserved
  registration names);
- :mod:`~evim.managed_server.reconfigure` — the running Prosody follows the service
  settings (``apply_layout``: rewrite, reload, activate hosts, reload modules);
- :mod:`~evim.managed_server.certificate` — the self-signed TLS certificate;
- :mod:`~evim.managed_server.supervisor` — :class:`ProsodySupervisor` (asyncio): run,
  watch, restart, stop;
- :mod:`~evim.managed_server.daemon` — the detached supervisor behind
  ``evim xmpp start|stop|status``, its lock and state file;
- :mod:`~evim.managed_server.control` — what ``evim run`` uses
  (``managed_server_for_run``);
- :mod:`~evim.managed_server.accounts` — ``register_account`` for tests and the demo;
- :mod:`~evim.managed_server.admin_shell` — :class:`AdminShell`, an asyncio client of
  Prosody's admin socket (the console of ``prosodyctl shell``);
- :mod:`~evim.managed_server.provisioning` — accounts through the admin socket: create
  (in bulk, with progress), set password, delete, list, display names (vCard, nickname);
- :mod:`~evim.managed_server.localparts` — localparts from back-office user names
  (folding, nodeprep, collisions) and random passwords;
- :mod:`~evim.managed_server.shell_tables` — large Lua tables sent to the admin shell in chunks;
- :mod:`~evim.managed_server.rooms` — rooms: created, configured, affiliations;
- :mod:`~evim.managed_server.rosters` — colleagues as contacts (a roster group per structure);
- :mod:`~evim.managed_server.bookmarks` — rooms bookmarked for users (XEP-0402, autojoin);
- :mod:`~evim.managed_server.spaces` — a structure's rooms, contacts and bookmarks in one
  pass (``sync_spaces``), with its record on the server;
- :mod:`~evim.managed_server.checks` — Django system checks (``managed_server.*``).
"""
