"""``evim keys rotate|generate``: the keys that encrypt Jabber passwords at rest."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from evim.messaging import actions


class Command(BaseCommand):
    help = "Rotate the key that encrypts the stored Jabber passwords, or print a new key."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        rotate = commands.add_parser("rotate", help="encrypt every stored password with a new key")
        rotate.add_argument(
            "--keep-old", action="store_true", help="keep the old keys in the key file"
        )
        commands.add_parser("generate", help="print a new key (for EVIM_ACCOUNT_KEYS)")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "generate":
            self.stdout.write(Fernet.generate_key().decode())
            return
        count = actions.do_rotate_keys(acting_user=None, keep_old_keys=options["keep_old"])
        if settings.EVIM_ACCOUNT_KEYS:
            self.stdout.write(
                f"Re-encrypted {count} passwords with the first key of EVIM_ACCOUNT_KEYS; "
                "the other keys can now be removed from it."
            )
        else:
            kept = " (old keys kept)" if options["keep_old"] else ""
            self.stdout.write(
                f"Re-encrypted {count} passwords with a new key in "
                f"{settings.EVIM_ACCOUNT_KEYS_PATH}{kept}."
            )
