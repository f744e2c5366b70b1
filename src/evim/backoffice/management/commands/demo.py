"""``evim demo``: ``evim run`` with a demo structure, its users and where to log in."""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings

from evim.backoffice.demo.seed import DemoLogin, seed_demo
from evim.backoffice.management.commands.run import Command as RunCommand


class Command(RunCommand):
    help = (
        "Run evim with a demo structure (a fictional theatre, an administrator and "
        "colleagues) in its own data directory, and print where to log in."
    )

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        self.prepare()
        logins = seed_demo(passwords_file=settings.EVIM_DATA_DIR / "demo-logins.json")
        asyncio.run(
            self.serve(host=host, port=port, on_ready=lambda: self.announce(host, port, logins))
        )

    def announce(self, host: str, port: int, logins: list[DemoLogin]) -> None:
        width = max(len(login.username) for login in logins)
        lines = [
            "",
            f"  evim demo: {settings.EVIM_STRUCTURE_NAME}",
            f"  Log in at  http://{host}:{port}/login/",
            "",
        ]
        for login in logins:
            role = "administrator" if login.is_administrator else "colleague"
            lines.append(
                f"    {login.username.ljust(width)}  {login.password}   {login.full_name} ({role})"
            )
        lines += [
            "",
            f"  Data: {settings.EVIM_DATA_DIR}   Stop: Ctrl+C",
            "",
        ]
        self.stdout.write("\n".join(lines))
