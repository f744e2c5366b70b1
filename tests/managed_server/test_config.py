"""prosody.cfg.lua: what it says, that Prosody accepts it, and that it is deterministic."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from evim.managed_server.certificate import ensure_certificate
from evim.managed_server.config import MODULES_ENABLED, render_config, write_config
from evim.managed_server.layout import ServerLayout
from tests.fixtures.processes import required_program
from tests.fixtures.prosody import make_layout


def option(text: str, name: str) -> str:
    """The value of the first top-level or indented ``name = value`` line."""
    match = re.search(rf"^\s*{name} = (.*)$", text, re.MULTILINE)
    assert match, f"{name} is not set"
    return match.group(1)


def test_configuration_content(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")
    text = render_config(layout)
    directory = str(layout.directory)

    assert option(text, "run_as_root") == "true"
    assert option(text, "interfaces") == '{ "127.0.0.1" }'
    assert option(text, "http_interfaces") == '{ "127.0.0.1" }'
    assert option(text, "c2s_ports") == f"{{ {layout.c2s_port} }}"
    assert option(text, "http_ports") == f"{{ {layout.http_port} }}"
    assert option(text, "https_ports") == "{}"
    assert option(text, "s2s_ports") == "{}"
    assert option(text, "modules_disabled") == '{ "s2s" }'
    for name in ("pidfile", "data_path", "admin_socket", "certificates"):
        assert option(text, name).startswith(f'"{directory}/'), name
    assert f'filename = "{directory}/prosody.log"' in option(text, "log")
    assert 'filename = "/dev/stderr"' in option(text, "log")
    modules = option(text, "modules_enabled")
    for module in MODULES_ENABLED:
        assert f'"{module}"' in modules
    assert option(text, "allow_registration") == "false"
    assert option(text, "c2s_require_encryption") == "true"
    assert option(text, "consider_websocket_secure") == "true"
    assert option(text, "consider_bosh_secure") == "true"
    assert int(option(text, "storage_archive_item_limit")) > 10_000
    assert 30 <= int(option(text, "smacks_hibernation_time")) < 600
    assert option(text, "archive_expires_after") == '"1y"'

    host_section = text.split(f'VirtualHost "{layout.domain}"', 1)[1]
    assert f'certificate = "{layout.certificate_path}"' in host_section
    muc_section = text.split(f'Component "{layout.muc_host}" "muc"', 1)[1]
    assert option(muc_section, "modules_enabled") == '{ "muc_mam" }'
    assert option(muc_section, "muc_room_locking") == "false"
    assert option(muc_section, "restrict_room_creation") == '"local"'


def test_prosody_itself_accepts_the_configuration(tmp_path: Path) -> None:
    prosodyctl = required_program("prosodyctl", package="prosody")
    layout = make_layout(tmp_path / "prosody")
    write_config(layout)
    ensure_certificate(layout)
    result = subprocess.run(
        [prosodyctl, "--config", str(layout.config_path), "check", "config"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed" in result.stdout


def test_writing_is_deterministic_and_reports_changes(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")
    assert render_config(layout) == render_config(replace(layout))

    assert write_config(layout) is True
    first = layout.config_path.read_bytes()
    assert write_config(layout) is False
    assert layout.config_path.read_bytes() == first

    moved = replace(layout, http_port=layout.http_port + 1)
    assert write_config(moved) is True
    assert layout.config_path.read_bytes() != first
    assert f"http_ports = {{ {layout.http_port + 1} }}" in layout.config_path.read_text()
    leftovers = [path.name for path in layout.directory.iterdir() if path.name.startswith(".")]
    assert leftovers == [], "atomic writes leave no temporary file behind"


def test_hostile_directory_names_stay_literal(tmp_path: Path) -> None:
    lua = required_program("lua5.4", "lua", package="lua5.4")
    directory = tmp_path / 'x"]] os.execute("touch pwned") --[[\n\\ é' / "prosody"
    layout = make_layout(directory)
    write_config(layout)
    reader = tmp_path / "read.lua"
    reader.write_text(
        "local env = {}\n"
        "function env.VirtualHost(host) env.host = host end\n"
        "function env.Component(host) env.component = host; "
        "return function(kind) env.kind = kind end end\n"
        "assert(loadfile(arg[1], 't', env))()\n"
        "io.write(env.pidfile, '\\0', env.data_path, '\\0', env.host, '\\0', env.component,"
        " '\\0', env.kind)\n",
        encoding="ascii",
    )
    output = subprocess.run(
        [lua, str(reader), str(layout.config_path)], capture_output=True, check=True, timeout=10
    ).stdout
    assert output.split(b"\0") == [
        str(layout.pidfile).encode(),
        str(layout.data_path).encode(),
        layout.domain.encode(),
        layout.muc_host.encode(),
        b"muc",
    ]


@pytest.mark.parametrize("domain", ['evil"domain', "a b", "x\n", "", "user@host"])
def test_layout_refuses_hostile_host_names(tmp_path: Path, domain: str) -> None:
    with pytest.raises(ValueError, match="domain"):
        ServerLayout(directory=tmp_path, domain=domain, muc_host="conference.example")


def test_layout_round_trips_through_json(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")
    assert ServerLayout.from_json(layout.to_json()) == layout
