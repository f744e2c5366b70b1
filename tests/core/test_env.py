"""The typed environment readers: clear messages naming the variable and what is expected."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from evim.lib import env


def test_bool_accepts_the_usual_spellings() -> None:
    for text in ("1", "true", "Yes", "ON"):
        assert env.env_bool("X", False, environ={"X": text}) is True
    for text in ("0", "false", "No", "off", ""):
        assert env.env_bool("X", True, environ={"X": text}) is False
    assert env.env_bool("X", True, environ={}) is True


def test_bool_refuses_anything_else() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"EVIM_HTTPS: expected a boolean .* 'sure'"):
        env.env_bool("EVIM_HTTPS", False, environ={"EVIM_HTTPS": "sure"})


def test_port_must_be_a_port() -> None:
    assert env.env_port("P", 8000, environ={"P": " 8080 "}) == 8080
    with pytest.raises(
        ImproperlyConfigured, match=r"P: expected an integer between 1 and 65535, found 'http'"
    ):
        env.env_port("P", 8000, environ={"P": "http"})
    with pytest.raises(ImproperlyConfigured, match="found 70000"):
        env.env_port("P", 8000, environ={"P": "70000"})


def test_choice_names_the_choices() -> None:
    with pytest.raises(
        ImproperlyConfigured, match="expected one of 'managed', 'external', found 'ejabberd'"
    ):
        env.env_choice("S", "managed", ("managed", "external"), environ={"S": "ejabberd"})


def test_list_drops_blanks() -> None:
    assert env.env_list("H", [], environ={"H": "a.example, ,b.example,"}) == [
        "a.example",
        "b.example",
    ]


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    assert env.env_secret("K", environ={"K_FILE": str(secret)}) == "s3cret"
    with pytest.raises(ImproperlyConfigured, match="either K or K_FILE, not both"):
        env.env_secret("K", environ={"K": "a", "K_FILE": str(secret)})
    with pytest.raises(ImproperlyConfigured, match=r"K_FILE: cannot read .*missing"):
        env.env_secret("K", environ={"K_FILE": str(tmp_path / "missing")})


def test_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret_key"
    first = env.read_or_create_secret(path)
    assert len(first) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert env.read_or_create_secret(path) == first
