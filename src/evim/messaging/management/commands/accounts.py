"""``evim accounts list|add|remove|test|provision|import|export``: Jabber accounts of users."""

from __future__ import annotations

import getpass
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import translation

from evim.backoffice.models import User
from evim.lib.progress import ProgressPrinter
from evim.messaging import actions
from evim.messaging.csv_accounts import read_import, write_export
from evim.messaging.forms import clean_account_jid
from evim.messaging.models import JabberAccount
from evim.xmpp.connection_test import Outcome


def _user(username: str) -> User:
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist:
        raise CommandError(
            f"no back-office user {username!r} ('evim accounts list' shows them)"
        ) from None


def _account(username: str) -> JabberAccount:
    user = _user(username)
    try:
        return JabberAccount.objects.select_related("user").get(user=user)
    except JabberAccount.DoesNotExist:
        raise CommandError(f"{username} has no Jabber account") from None


class Command(BaseCommand):
    help = (
        "Jabber accounts of the back-office users: "
        "list, add, remove, test, provision, import, export."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        listing = commands.add_parser("list", help="list the accounts")
        listing.add_argument("--csv", action="store_true", help="as CSV (same as export)")

        add = commands.add_parser("add", help="map a user to an existing Jabber account")
        add.add_argument("username")
        add.add_argument("jid")
        add.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from standard input (else it is asked for)",
        )
        add.add_argument("--no-test", action="store_true", help="do not test the connection")

        remove = commands.add_parser("remove", help="remove a user's account mapping")
        remove.add_argument("username")
        remove.add_argument(
            "--delete-on-server",
            action="store_true",
            help="also delete the account on the managed server (contacts, history)",
        )

        test = commands.add_parser("test", help="log in to accounts and report what fails")
        test.add_argument("usernames", nargs="*", help="default: every account")

        provision = commands.add_parser("provision", help="create accounts on the managed server")
        provision.add_argument("usernames", nargs="*")
        provision.add_argument(
            "--all", action="store_true", help="for every active user without an account"
        )

        importing = commands.add_parser("import", help="import username,jid,password rows")
        importing.add_argument("file", type=Path, help="CSV file, or - for standard input")
        importing.add_argument("--dry-run", action="store_true", help="check, import nothing")
        importing.add_argument(
            "--skip-bad", action="store_true", help="import the good rows even if some are bad"
        )

        export = commands.add_parser("export", help="write accounts as CSV (no passwords)")
        export.add_argument("file", nargs="?", default="-", help="default: standard output")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        # A tool for administrators and scripts: English, as Django's own commands.
        with translation.override("en"):
            getattr(self, f"do_{action}")(Namespace(**options))

    # --- actions ----------------------------------------------------------------------------

    def do_list(self, options: Namespace) -> None:
        accounts = JabberAccount.objects.select_related("user")
        if options.csv:
            write_export(accounts, self.stdout)
            return
        rows = [(a.user.username, a.jid, a.kind, a.last_test_outcome or "-") for a in accounts]
        if not rows:
            self.stdout.write("No Jabber account yet ('evim accounts provision --all').")
            return
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for username, jid, kind, outcome in rows:
            self.stdout.write(
                f"{username.ljust(widths[0])}  {jid.ljust(widths[1])}  "
                f"{kind.ljust(widths[2])}  {outcome}"
            )

    def do_add(self, options: Namespace) -> None:
        user = _user(options.username)
        if JabberAccount.objects.filter(user=user).exists():
            raise CommandError(f"{user.username} already has a Jabber account")
        try:
            jid = clean_account_jid(options.jid, account=None)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        password = self._read_password(options.password_stdin)
        account = actions.do_create_account(acting_user=None, user=user, jid=jid, password=password)
        self.stdout.write(f"{user.username} now uses {account.jid}.")
        if not options.no_test:
            self._test([account])

    def do_remove(self, options: Namespace) -> None:
        account = _account(options.username)
        actions.do_delete_account(
            acting_user=None, account=account, delete_on_server=options.delete_on_server
        )
        where = " and from the managed server" if options.delete_on_server else ""
        self.stdout.write(f"Removed {account.jid} from {options.username}{where}.")

    def do_test(self, options: Namespace) -> None:
        if options.usernames:
            accounts = [_account(username) for username in options.usernames]
        else:
            accounts = list(JabberAccount.objects.select_related("user"))
        if not accounts:
            self.stdout.write("No Jabber account to test.")
            return
        failing = self._test(accounts)
        if failing:
            raise CommandError(f"{failing} of {len(accounts)} accounts failed the test")

    def do_provision(self, options: Namespace) -> None:
        if options.all == bool(options.usernames):
            raise CommandError("give usernames, or --all (not both)")
        users = (
            actions.users_without_account()
            if options.all
            else [_user(username) for username in options.usernames]
        )
        report = actions.do_provision_accounts(
            acting_user=None,
            users=users,
            progress=ProgressPrinter(self.stderr, "Creating accounts"),
        )
        for account in report.created:
            self.stdout.write(f"created  {account.user.username}  {account.jid}")
        for user in report.skipped:
            self.stdout.write(f"skipped  {user.username}  (has an account already)")
        for user, reason in report.failed:
            self.stderr.write(f"failed   {user.username}  {reason}")
        if report.failed:
            raise CommandError(f"{len(report.failed)} accounts could not be created")
        if not users:
            self.stdout.write("Every active user has a Jabber account.")

    def do_import(self, options: Namespace) -> None:
        good, bad = self._read_csv(options.file)
        for row in bad:
            self.stderr.write(f"{options.file}: {row}")
        if bad and not options.skip_bad:
            raise CommandError(
                f"{len(bad)} bad rows: nothing imported. Fix them, or use --skip-bad to "
                f"import the {len(good)} good rows."
            )
        if options.dry_run:
            self.stdout.write(f"Dry run: {len(good)} accounts would be imported.")
            return
        with transaction.atomic():
            for row in good:
                actions.do_create_account(
                    acting_user=None, user=row.user, jid=row.jid, password=row.password
                )
        skipped = f", {len(bad)} bad rows skipped" if bad else ""
        self.stdout.write(f"Imported {len(good)} accounts{skipped}.")

    def do_export(self, options: Namespace) -> None:
        accounts = JabberAccount.objects.select_related("user")
        if options.file == "-":
            write_export(accounts, self.stdout)
            return
        with Path(options.file).open("w", encoding="utf-8", newline="") as handle:
            count = write_export(accounts, handle)
        self.stderr.write(f"Exported {count} accounts to {options.file} (no passwords).")

    # --- helpers ----------------------------------------------------------------------------

    def _read_password(self, from_stdin: bool) -> str:
        if from_stdin or not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Jabber password: ")
            if getpass.getpass("Again: ") != password:
                raise CommandError("the two passwords differ")
        if not password:
            raise CommandError("the password is empty")
        return password

    def _read_csv(self, file: Path) -> tuple[Any, Any]:
        if str(file) == "-":
            return read_import(sys.stdin)
        try:
            handle: TextIO = file.open(encoding="utf-8-sig", newline="")
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        with handle:
            try:
                return read_import(handle)
            except UnicodeDecodeError:
                raise CommandError(f"{file} is not UTF-8 text: save it as CSV UTF-8") from None

    def _test(self, accounts: list[JabberAccount]) -> int:
        results = actions.do_test_accounts(
            acting_user=None,
            accounts=accounts,
            progress=ProgressPrinter(self.stderr, "Testing") if len(accounts) > 1 else None,
        )
        failing = 0
        for account, result in results:
            if result.outcome == Outcome.OK:
                self.stdout.write(f"ok       {account.jid}")
            else:
                failing += 1
                self.stdout.write(f"{result.outcome.value:<8} {account.jid}: {result.detail}")
        return failing
