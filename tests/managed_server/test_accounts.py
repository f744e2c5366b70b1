"""register_account: input validation (no process is started for bad input)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evim.managed_server.accounts import register_account, register_command
from evim.managed_server.errors import ManagedServerError, ProsodyNotFoundError
from tests.fixtures.prosody import make_layout


@pytest.mark.parametrize("localpart", ["", "a@b", "with space", "x/y", "quote'", "tab\t"])
def test_invalid_user_names_are_refused(tmp_path: Path, localpart: str) -> None:
    layout = make_layout(tmp_path / "prosody")
    with pytest.raises(ManagedServerError, match="not a valid XMPP user name"):
        asyncio.run(register_account(layout, localpart, "secret"))
    assert not layout.config_path.exists()


@pytest.mark.parametrize("password", ["", "nul\0byte"])
def test_invalid_passwords_are_refused(tmp_path: Path, password: str) -> None:
    with pytest.raises(ManagedServerError, match="password"):
        register_command(make_layout(tmp_path / "prosody"), "alice", password)


def test_the_command_names_the_configuration(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")
    command = register_command(layout, "alice", "-looks like an option")
    assert command[1:] == [
        "--config",
        str(layout.config_path),
        "register",
        "alice",
        layout.domain,
        "-looks like an option",
    ]


def test_missing_prosodyctl(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody", prosodyctl_bin="/nonexistent/prosodyctl")
    with pytest.raises(ProsodyNotFoundError, match="EVIM_PROSODYCTL_BIN"):
        register_command(layout, "alice", "secret")
