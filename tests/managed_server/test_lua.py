"""Lua literals: hostile strings stay data, and Lua reads back exactly what was written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from evim.managed_server.lua import lua_key, lua_string, lua_value
from tests.fixtures.processes import required_program

HOSTILE = [
    "",
    "plain",
    'double"quote',
    "single'quote",
    "back\\slash",
    "\\",
    "ends with backslash\\",
    "line\nbreak",
    "carriage\rreturn\ttab",
    "]]--[[",
    "[==[ long bracket ]==]",
    '"; os.execute("touch /tmp/evim-pwned") --',
    "nul\0byte",
    "\\0659",  # escapes followed by digits
    "\x7f\x01\x1b[31m",
    "é€😀 — Théâtre des Lilas",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_lua_string_is_one_inert_literal(value: str) -> None:
    literal = lua_string(value)
    inner = literal[1:-1]
    assert literal[0] == literal[-1] == '"'
    assert '"' not in inner and "'" not in inner
    assert all(0x20 <= ord(char) < 0x7F for char in inner), "only printable ASCII is written"


def test_lua_reads_back_exactly_the_same_bytes(tmp_path: Path) -> None:
    lua = required_program("lua5.4", "lua", package="lua5.4")
    program = tmp_path / "dump.lua"
    lines = [
        "local function hex(s) return (s:gsub('.', function(c) "
        "return string.format('%02x', c:byte()) end)) end"
    ]
    lines += [f"print(hex({lua_string(value)}))" for value in HOSTILE]
    program.write_text("\n".join(lines) + "\n", encoding="ascii")
    output = subprocess.run(
        [lua, str(program)], capture_output=True, text=True, check=True, timeout=10
    ).stdout.splitlines()
    assert output == [value.encode("utf-8").hex() for value in HOSTILE]
    assert not Path("/tmp/evim-pwned").exists()


def test_lua_values_and_tables() -> None:
    assert lua_value(True) == "true"
    assert lua_value(False) == "false"
    assert lua_value(5222) == "5222"
    assert lua_value([]) == "{}"
    assert lua_value({}) == "{}"
    assert lua_value(["s2s"]) == '{ "s2s" }'
    assert lua_value([1, "a", False]) == '{ 1, "a", false }'
    assert lua_value({"min": "info", "to": "file"}) == '{ min = "info"; to = "file" }'
    assert lua_value([{"levels": {"min": "error"}}]) == '{ { levels = { min = "error" } } }'


def test_lua_keys_that_are_not_identifiers_are_quoted() -> None:
    assert lua_key("certificate") == "certificate"
    assert lua_key("end") == '["end"]'
    assert lua_key("with space") == '["with space"]'
    assert lua_key('x"] = os.exit() --') == '["x\\034] = os.exit() --"]'
