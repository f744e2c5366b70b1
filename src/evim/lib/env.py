"""Small typed readers for the environment, used by ``evim.settings`` only.

Every reader names the variable and what it expects when the value is wrong, so that
an administrator sees ``EVIM_PORT: expected an integer between 1 and 65535, found 'http'``
instead of a traceback.  Secrets can be given inline (``EVIM_SECRET_KEY``) or, better,
as a file (``EVIM_SECRET_KEY_FILE``) so that they stay out of process listings.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    return (os.environ if environ is None else environ).get(name)


def env_str(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value.strip()


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}: expected a boolean (1/0, true/false, yes/no, on/off), found {value!r}."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None or not value.strip():
        return default
    bounds = ""
    if minimum is not None and maximum is not None:
        bounds = f" between {minimum} and {maximum}"
    elif minimum is not None:
        bounds = f" of at least {minimum}"
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}: expected an integer{bounds}, found {value!r}."
        ) from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ImproperlyConfigured(f"{name}: expected an integer{bounds}, found {number}.")
    return number


def env_port(name: str, default: int, *, environ: Mapping[str, str] | None = None) -> int:
    return env_int(name, default, minimum=1, maximum=65535, environ=environ)


def env_list(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(
    name: str, default: str, choices: tuple[str, ...], *, environ: Mapping[str, str] | None = None
) -> str:
    value = env_str(name, default, environ=environ).lower()
    if value not in choices:
        expected = ", ".join(repr(choice) for choice in choices)
        raise ImproperlyConfigured(f"{name}: expected one of {expected}, found {value!r}.")
    return value


def env_path(name: str, default: Path, *, environ: Mapping[str, str] | None = None) -> Path:
    """An absolute path; a relative value is taken from the current directory."""
    value = _raw(name, environ)
    path = default if value is None or not value.strip() else Path(value.strip()).expanduser()
    return path.absolute()


def env_secret(name: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """``NAME`` itself, or the content of the file named by ``NAME_FILE``."""
    inline = _raw(name, environ)
    file_name = _raw(f"{name}_FILE", environ)
    if inline and file_name:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if file_name:
        try:
            content = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ImproperlyConfigured(
                f"{name}_FILE: cannot read {file_name!r} ({error.strerror}). "
                "Check the path and that evim's user may read it."
            ) from None
        if not content:
            raise ImproperlyConfigured(f"{name}_FILE: the file {file_name!r} is empty.")
        return content
    return inline.strip() if inline and inline.strip() else None


def read_or_create_secret(path: Path, *, length: int = 50) -> str:
    """Return the secret kept in ``path``, creating it (mode 0600) on first use.

    ``O_EXCL`` makes concurrent first starts agree on one secret.
    """
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(length)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret
