"""``evim sync [--dry-run]``: the structure's room, the common rooms, colleagues as
contacts and bookmarks on the server, in step with the back office."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from evim.lib.progress import ProgressPrinter
from evim.managed_server.errors import ManagedServerError
from evim.messaging.sync import do_sync


class Command(BaseCommand):
    help = (
        "Create and update the structure's room, the common rooms, the colleagues in every "
        "roster and the rooms' bookmarks on the XMPP server (idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would change; change nothing"
        )

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        printers: dict[str, ProgressPrinter] = {}

        def progress(label: str, done: int, total: int) -> None:
            printer = printers.setdefault(label, ProgressPrinter(self.stderr, label))
            printer(done, total)

        try:
            report = do_sync(acting_user=None, dry_run=dry_run, progress=progress)
        except ManagedServerError as error:
            raise CommandError(str(error)) from None
        if report.changes:
            self.stdout.write(_("Plan (nothing was changed):") if dry_run else _("Changes made:"))
            for line in report.changes:
                self.stdout.write(f"  {line}")
        if report.not_done:
            self.stdout.write(_("Not done:"))
            for line in report.not_done:
                self.stdout.write(f"  {line}")
        if not report.changes:
            self.stdout.write(_("Nothing to change: the server is in step with the back office."))
        elif dry_run:
            self.stdout.write(_("%(count)d changes to make.") % {"count": len(report.changes)})
        else:
            self.stdout.write(_("%(count)d changes made.") % {"count": len(report.changes)})
