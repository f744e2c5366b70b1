"""prosody.cfg.lua and the service settings: hosts, STUN, registration (rendering only; the
running server following them is tests/managed_server/test_reconfigure.py)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from evim.managed_server.certificate import ensure_certificate
from evim.managed_server.config import (
    PROSODY_MODULES_DIR,
    REGISTRATION_THROTTLE_MAX,
    RESERVED_USERNAMES,
    render_config,
    write_config,
)
from evim.managed_server.layout import SERVICE_FIELDS, ServerLayout
from tests.fixtures.processes import required_program
from tests.fixtures.prosody import make_layout
from tests.managed_server.test_config import option


def served(tmp_path: Path) -> ServerLayout:
    return make_layout(
        tmp_path / "prosody",
        pubsub_host="pubsub.evim.test",
        directory_host="directory.evim.test",
        stun_servers=("stun.example.org:3478", "[2001:db8::1]:3479"),
        registration_allowed=True,
    )


def section(text: str, header: str) -> str:
    """The lines of one VirtualHost or Component section (up to the next one)."""
    after = text.split(header + "\n", 1)[1]
    return after.split("\n\n", 1)[0]


def test_by_default_no_component_no_stun_no_registration(tmp_path: Path) -> None:
    text = render_config(make_layout(tmp_path / "prosody"))
    assert '"pubsub"' not in text
    assert "evim_directory" not in text
    assert "external_services" not in text
    assert text.count("allow_registration") == 1
    assert option(text, "allow_registration") == "false"
    assert option(text, "plugin_paths") == f'{{ "{PROSODY_MODULES_DIR}" }}'
    assert (PROSODY_MODULES_DIR / "mod_evim_directory.lua").is_file()
    assert (PROSODY_MODULES_DIR / "mod_evim_reserved_names.lua").is_file()


def test_service_settings_in_the_configuration(tmp_path: Path) -> None:
    text = render_config(served(tmp_path))
    main = section(text, 'VirtualHost "evim.test"')
    assert option(main, "modules_enabled") == '{ "external_services", "evim_reserved_names" }'
    assert option(main, "external_services") == (
        '{ { type = "stun"; transport = "udp"; host = "stun.example.org"; port = 3478 }, '
        '{ type = "stun"; transport = "udp"; host = "2001:db8::1"; port = 3479 } }'
    )
    assert option(main, "allow_registration") == "true"
    assert option(main, "registration_throttle_max") == str(REGISTRATION_THROTTLE_MAX)
    assert option(main, "registration_allowlist") == "{}"  # loopback not exempt
    assert '"admin"' in option(main, "evim_reserved_usernames")
    assert len(RESERVED_USERNAMES) > 5
    pubsub = section(text, 'Component "pubsub.evim.test" "pubsub"')
    assert option(pubsub, "name") == '"Publish-subscribe of evim.test"'
    directory = section(text, 'Component "directory.evim.test" "evim_directory"')
    assert option(directory, "evim_directory_host") == '"evim.test"'
    # The global section keeps registration off: the anonymous host and others never get it.
    assert text.split("VirtualHost", 1)[0].count("allow_registration = false") == 1


def test_prosody_accepts_the_configuration_with_every_option(tmp_path: Path) -> None:
    prosodyctl = required_program("prosodyctl", package="prosody")
    layout = served(tmp_path)
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


def test_rendering_is_deterministic_and_follows_each_field(tmp_path: Path) -> None:
    layout = served(tmp_path)
    assert render_config(layout) == render_config(replace(layout))
    for change in (
        {"pubsub_host": "feeds.evim.test"},
        {"directory_host": None},
        {"stun_servers": ()},
        {"registration_allowed": False},
    ):
        assert render_config(replace(layout, **change)) != render_config(layout), change


def test_layout_service_fields_round_trip_and_can_be_left_out(tmp_path: Path) -> None:
    layout = served(tmp_path)
    assert ServerLayout.from_json(layout.to_json()) == layout
    plain = layout.without_service_settings()
    assert plain == make_layout(
        tmp_path / "prosody", c2s_port=layout.c2s_port, http_port=layout.http_port
    )
    assert {name: getattr(plain, name) for name in SERVICE_FIELDS} == {
        "anonymous_host": None,
        "pubsub_host": None,
        "directory_host": None,
        "stun_servers": (),
        "registration_allowed": False,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pubsub_host": "conference.evim.test"}, "pubsub_host.*already another host"),
        ({"pubsub_host": "evim.test"}, "pubsub_host.*already another host"),
        ({"directory_host": "pubsub.evim.test"}, "directory_host.*already another host"),
        ({"directory_host": 'x"y'}, "directory_host: not a valid host name"),
        ({"stun_servers": ("stun.example.org",)}, "stun_servers: not host:port"),
        ({"stun_servers": ("stun.example.org:0",)}, "stun_servers: not host:port"),
    ],
)
def test_layout_refuses_bad_service_fields(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        replace(served(tmp_path), **change)
