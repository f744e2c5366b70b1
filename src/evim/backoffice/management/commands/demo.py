"""``evim demo``: ``evim run`` with a demo structure, its users and where to log in."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from evim.backoffice.demo.seed import DemoLogin, seed_demo
from evim.backoffice.management.commands.run import Command as RunCommand
from evim.lib.event_loop import run_event_loop
from evim.managed_server.errors import ManagedServerError
from evim.messaging.actions import do_provision_accounts, users_without_account
from evim.messaging.models import JabberAccount
from evim.messaging.sync import do_sync


class Command(RunCommand):
    help = (
        "Run evim with a demo structure (a fictional theatre, an administrator and "
        "colleagues) in its own data directory, and print where to log in."
    )

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        self.prepare()
        logins = seed_demo(passwords_file=settings.EVIM_DATA_DIR / "demo-logins.json")
        run_event_loop(
            self.serve(
                host=host,
                port=port,
                on_ready=lambda: self.announce(host, port, logins),
                on_xmpp_ready=sync_to_async(self.provision_accounts),
            )
        )

    def provision_accounts(self) -> None:
        """Every demo user gets an account on the managed server (once)."""
        if settings.EVIM_XMPP_SERVER != "managed":
            return
        report = do_provision_accounts(acting_user=None, users=users_without_account())
        for account in report.created:
            self.stdout.write(f"Jabber account {account.jid} created for {account.user}.")
        for user, reason in report.failed:
            self.stderr.write(f"No Jabber account for {user}: {reason}")
        self.sync_spaces()

    def sync_spaces(self) -> None:
        """The structure's room, the common room, colleagues as contacts, bookmarks."""
        try:
            sync = do_sync(acting_user=None)
        except ManagedServerError as error:  # the demo still starts; `evim sync` retries
            self.stderr.write(f"Rooms, contacts and bookmarks not synchronised: {error}")
            return
        if sync.changed:
            self.stdout.write(f"Rooms, contacts and bookmarks: {len(sync.changes)} changes.")
        for line in sync.not_done:
            self.stderr.write(line)

    def announce(self, host: str, port: int, logins: list[DemoLogin]) -> None:
        width = max(len(login.username) for login in logins)
        lines = [
            "",
            f"  evim demo: {settings.EVIM_STRUCTURE_NAME}",
            f"  Log in at  http://{host}:{port}/login/",
            "",
        ]
        jids = dict(JabberAccount.objects.values_list("user__username", "jid"))
        for login in logins:
            role = "administrator" if login.is_administrator else "colleague"
            jid = jids.get(login.username, "no Jabber account")
            lines.append(
                f"    {login.username.ljust(width)}  {login.password}   {login.full_name} ({role})"
                f"  {jid}"
            )
        lines += [
            "",
            f"  Data: {settings.EVIM_DATA_DIR}   Stop: Ctrl+C",
            "",
        ]
        self.stdout.write("\n".join(lines))
