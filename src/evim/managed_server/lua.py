"""Writing Lua values safely into Prosody's configuration file.

:func:`lua_string` quotes any Python string as a Lua string literal that evaluates back to
exactly the same bytes (UTF-8): backslash, quotes and every byte outside printable ASCII
are written as ``\\ddd`` decimal escapes, so no value can end the literal, open a long
bracket, break the line or inject configuration.  :func:`lua_value` extends this to
booleans, integers, lists and string-keyed mappings (Lua tables).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

LuaValue = str | bool | int | Sequence["LuaValue"] | Mapping[str, "LuaValue"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEYWORDS = frozenset(
    (
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
        "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true",
        "until", "while",
    )
)  # fmt: skip

_PLAIN = frozenset(
    byte for byte in range(0x20, 0x7F) if byte not in (ord("\\"), ord('"'), ord("'"))
)


def lua_string(value: str) -> str:
    """``value`` as a double-quoted Lua string literal."""
    parts = ['"']
    for byte in value.encode("utf-8"):
        if byte in _PLAIN:
            parts.append(chr(byte))
        else:
            # Always three digits: "\0" followed by a digit can never be misread.
            parts.append(f"\\{byte:03d}")
    parts.append('"')
    return "".join(parts)


def lua_key(key: str) -> str:
    """A table key: ``name`` when it is a plain identifier, else ``["..."]``."""
    if _IDENTIFIER.match(key) and key not in _KEYWORDS:
        return key
    return f"[{lua_string(key)}]"


def lua_value(value: LuaValue) -> str:
    """A Lua literal for a string, boolean, integer, sequence or mapping of those.

    Mappings keep their insertion order, so the same input always gives the same text.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, Mapping):
        fields = [f"{lua_key(key)} = {lua_value(item)}" for key, item in value.items()]
        return "{ " + "; ".join(fields) + " }" if fields else "{}"
    items = [lua_value(item) for item in value]
    return "{ " + ", ".join(items) + " }" if items else "{}"
