"""Seed the demo structure's users (idempotent)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from evim.backoffice import actions
from evim.backoffice.models import User


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    email: str
    is_administrator: bool = False
    language: str = "fr"


DEMO_USERS = (
    DemoUser("camille", "Camille", "Martin", "camille.martin@lilas.example", True),
    DemoUser("jeanne", "Jeanne", "Durand", "jeanne.durand@lilas.example"),
    DemoUser("hugo", "Hugo", "Lefèvre", "hugo.lefevre@lilas.example"),
    DemoUser("ines", "Inès", "Moreau", "ines.moreau@lilas.example"),
    DemoUser("oliver", "Oliver", "Bennett", "oliver.bennett@lilas.example", language="en"),
)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    full_name: str
    is_administrator: bool


def _passwords(path: Path) -> dict[str, str]:
    """Demo passwords, made once per data directory and kept there (mode 0600)."""
    try:
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        stored = {}
    missing = [user.username for user in DEMO_USERS if user.username not in stored]
    if missing:
        for username in missing:
            stored[username] = f"lilas-{secrets.token_hex(4)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(stored, handle, indent=2)
    return stored


def seed_demo(*, passwords_file: Path) -> list[DemoLogin]:
    """Create the demo users that are missing; return every demo login."""
    passwords = _passwords(passwords_file)
    logins = []
    for demo in DEMO_USERS:
        if not User.objects.filter(username=demo.username).exists():
            actions.do_create_user(
                acting_user=None,
                username=demo.username,
                password=passwords[demo.username],
                first_name=demo.first_name,
                last_name=demo.last_name,
                email=demo.email,
                language=demo.language,
                is_administrator=demo.is_administrator,
            )
        logins.append(
            DemoLogin(
                demo.username,
                passwords[demo.username],
                f"{demo.first_name} {demo.last_name}",
                demo.is_administrator,
            )
        )
    return logins
