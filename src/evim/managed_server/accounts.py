"""Accounts on the managed server, for tests and the demo.

``await register_account(layout, "alice", "secret")`` creates (or resets the password of)
``alice@<domain>`` with ``prosodyctl --config FILE register``.  It works whether Prosody is
running or not (the account store is files in the data directory).  One process per account
(about 55 ms): fine for a handful.  The password is passed as an argument, visible to local
users in the process list for that instant: use this for test and demo accounts only —
real accounts go through Prosody's admin socket, :mod:`evim.managed_server.provisioning`.
"""

from __future__ import annotations

import asyncio

from evim.managed_server.certificate import ensure_certificate
from evim.managed_server.config import write_config
from evim.managed_server.errors import ManagedServerError
from evim.managed_server.layout import ServerLayout
from evim.managed_server.programs import require_program

_FORBIDDEN_IN_LOCALPART = frozenset("\"&'/:<>@")


def check_localpart(localpart: str) -> None:
    if (
        not localpart
        or len(localpart.encode("utf-8")) > 1023
        or any(char in _FORBIDDEN_IN_LOCALPART or char.isspace() for char in localpart)
        or not localpart.isprintable()
    ):
        raise ManagedServerError(f"{localpart!r} is not a valid XMPP user name")


def register_command(
    layout: ServerLayout, localpart: str, password: str, *, host: str | None = None
) -> list[str]:
    """The ``prosodyctl`` command line registering ``localpart@host``; validates its input."""
    check_localpart(localpart)
    if not password or "\0" in password:
        raise ManagedServerError("a password must be non-empty and contain no NUL character")
    program = require_program(layout.prosodyctl_bin, "EVIM_PROSODYCTL_BIN")
    return [
        program,
        "--config",
        str(layout.config_path),
        "register",
        localpart,
        host or layout.domain,
        password,
    ]


async def register_account(
    layout: ServerLayout,
    localpart: str,
    password: str,
    *,
    host: str | None = None,
    timeout: float = 30.0,
) -> str:
    """Create ``localpart@host`` (default host: the layout's domain); return the JID."""
    command = register_command(layout, localpart, password, host=host)
    write_config(layout)
    ensure_certificate(layout)
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ManagedServerError(
            f"prosodyctl did not register {localpart!r} within {timeout:g} s"
        ) from None
    jid = f"{localpart}@{host or layout.domain}"
    if process.returncode != 0:
        message = output.decode("utf-8", errors="replace").strip().replace(password, "***")
        raise ManagedServerError(f"prosodyctl could not register {jid}: {message}")
    return jid
