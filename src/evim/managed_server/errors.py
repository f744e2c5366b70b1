"""The errors of the managed XMPP server, each one clear line for a person.

All derive from :class:`evim.lib.errors.EvimError`, so the ``evim`` command prints them as
``evim: error: <message>`` and exits 2 instead of showing a traceback.
"""

from __future__ import annotations

from evim.lib.errors import EvimError


class ManagedServerError(EvimError):
    """Something went wrong with the managed Prosody."""


class ProsodyNotFoundError(ManagedServerError):
    """The Prosody executable (or prosodyctl) cannot be found."""

    def __init__(self, name: str, setting: str) -> None:
        self.name = name
        self.setting = setting
        super().__init__(
            f"the Prosody program {name!r} was not found. Install Prosody "
            '("sudo apt-get install prosody" on Debian/Ubuntu), or set '
            f"{setting} to the program's path, or use an XMPP server of your own with "
            "EVIM_XMPP_SERVER=external."
        )


class PortInUseError(ManagedServerError):
    """A port the managed Prosody needs is taken by another program."""

    def __init__(self, host: str, port: int, setting: str, detail: str = "") -> None:
        self.host = host
        self.port = port
        self.setting = setting
        super().__init__(
            f"port {port} on {host} is already in use by another program{detail}; "
            f"stop that program or choose another port with {setting}."
        )


class ProsodyStartError(ManagedServerError):
    """Prosody exited, or did not accept connections, while starting."""


class ProsodyCrashLoopError(ManagedServerError):
    """Prosody kept dying: the supervisor gave up restarting it."""
