"""Jabber passwords encrypted at rest (Fernet, authenticated encryption).

Keys: ``settings.EVIM_ACCOUNT_KEYS`` (inline, comma-separated) or the key file
``settings.EVIM_ACCOUNT_KEYS_PATH`` (one key a line, made with mode 0600 on first use).
The first key encrypts; every key decrypts, so that a rotation can add a key, re-encrypt
everything, then drop the old keys.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from evim.lib.errors import EvimError


class AccountKeysError(EvimError):
    """The encryption keys are missing, malformed or cannot decrypt the stored passwords."""


def _parse_keys(text: str, *, source: str) -> list[bytes]:
    keys = [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]
    if not keys:
        raise AccountKeysError(f"{source} holds no key. Make one with 'evim keys generate'.")
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise AccountKeysError(
                f"{source}: key {number} is not a Fernet key (44 URL-safe base64 characters). "
                "Make one with 'evim keys generate'."
            ) from None
    return [key.encode() for key in keys]


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically, readable by evim's user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(b"".join(key + b"\n" for key in keys))
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def new_key() -> bytes:
    return Fernet.generate_key()


def load_keys() -> list[bytes]:
    """The keys in use, the encrypting one first; creates the key file if needed."""
    if settings.EVIM_ACCOUNT_KEYS:
        return _parse_keys(settings.EVIM_ACCOUNT_KEYS, source="EVIM_ACCOUNT_KEYS")
    path: Path = settings.EVIM_ACCOUNT_KEYS_PATH
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        key = Fernet.generate_key()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made meanwhile by another evim process
            text = path.read_text(encoding="ascii")
        except OSError as error:
            raise AccountKeysError(
                f"cannot create the key file {path} ({error.strerror}); check EVIM_DATA_DIR "
                "or set EVIM_ACCOUNT_KEYS_FILE"
            ) from None
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(key + b"\n")
            return [key]
    except (OSError, UnicodeDecodeError) as error:
        raise AccountKeysError(f"cannot read the key file {path} ({error})") from None
    return _parse_keys(text, source=str(path))


@cache
def _cipher(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def cipher() -> MultiFernet:
    return _cipher(tuple(load_keys()))


def encrypt_password(password: str) -> str:
    return cipher().encrypt(password.encode()).decode("ascii")


def decrypt_password(token: str) -> str:
    try:
        return cipher().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise AccountKeysError(
            "a stored Jabber password cannot be decrypted with the current keys: a key was "
            "removed or changed. Restore the previous key file (or EVIM_ACCOUNT_KEYS)."
        ) from None


def reencrypt(token: str) -> str:
    """The same password encrypted with the first key."""
    try:
        return cipher().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise AccountKeysError(
            "a stored Jabber password cannot be decrypted with the current keys; nothing was "
            "re-encrypted. Restore the previous key file (or EVIM_ACCOUNT_KEYS)."
        ) from None
