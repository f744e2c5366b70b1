"""Large Lua tables handed to Prosody's admin shell in pieces: :func:`stage`.

The spaces of a structure (rooms, contacts, bookmarks) are synchronised by Lua functions
running inside Prosody (:mod:`.rooms`, :mod:`.rosters`, :mod:`.bookmarks`), which compare
what is there with what should be there.  What should be there — a thousand colleagues and
their names — is sent once per synchronisation as a *staged* table, in chunks of
:data:`CHUNK` entries (one console line each, pipelined), into the connection's global
``evim_staged[name]``; the functions then read it by name.  A thousand entries thus cost a
handful of lines instead of one literal per user per call.

Prelude (installed by :func:`install`) and staged tables live in Prosody's global
environment for the life of the process: they are replaced, never merged, by the next
:func:`stage` of the same name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from evim.managed_server.admin_shell import AdminShell
from evim.managed_server.lua import LuaValue, lua_string, lua_value

#: Entries per console line.
CHUNK = 250


async def install(shell: AdminShell, prelude: str) -> None:
    """Run ``prelude`` (Lua, ending in ``return true``) in Prosody's global environment."""
    await shell.run(">" + prelude.strip())


async def stage(shell: AdminShell, name: str, entries: Mapping[str, LuaValue]) -> str:
    """Put ``entries`` into ``evim_staged[name]`` (replacing it); returns ``name``."""
    key = lua_string(name)
    await shell.run(f">evim_staged = evim_staged or {{}}; evim_staged[{key}] = {{}}; return true")
    items = list(entries.items())
    await asyncio.gather(
        *(
            shell.run(
                f">local t = evim_staged[{key}]; "
                f"for k, v in pairs({lua_value(dict(items[start : start + CHUNK]))}) do "
                "t[k] = v end; return true"
            )
            for start in range(0, len(items), CHUNK)
        )
    )
    return name
