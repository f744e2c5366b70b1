"""Accounts created on the real managed Prosody from the Messagerie screen, tested, changed,
deleted — and usable by an external client (go-sendxmpp)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from evim.backoffice.models import AuditEntry, User
from evim.messaging import actions, encryption
from evim.messaging.models import JabberAccount
from evim.xmpp.connection_test import Outcome
from tests.fixtures.prosody import RunningProsody
from tests.fixtures.users import client_for

GO_SENDXMPP = "/usr/bin/go-sendxmpp"


def go_sendxmpp(prosody: RunningProsody, jid: str, password: str, to: str, home: Path) -> int:
    return subprocess.run(
        [GO_SENDXMPP, "-u", jid, "-p", password, "-j", f"127.0.0.1:{prosody.c2s_port}", "-n", to],
        input="Bonjour de la part d'evim",
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "HOME": str(home)},
    ).returncode


def test_provision_one_user_from_the_screen(
    camille: User, jeanne: User, on_managed_prosody: RunningProsody, tmp_path: Path
) -> None:
    page = client_for(camille).get("/messaging/settings/").content.decode()
    assert 'data-user="jeanne"' in page  # offered: Jeanne has no account
    response = client_for(camille).post("/messaging/accounts/provision/", {"user": jeanne.pk})
    assert response.status_code == 302
    account = JabberAccount.objects.get(user=jeanne)
    assert account.kind == JabberAccount.Kind.MANAGED
    assert account.jid.startswith("jeanne") and account.jid.endswith("@evim.test")
    password = encryption.decrypt_password(account.password_encrypted)
    assert len(password) >= 20
    # A real external client logs in with it.
    other = on_managed_prosody.register("provision-witness", "witness-password")
    assert go_sendxmpp(on_managed_prosody, account.jid, password, other, tmp_path) == 0
    assert AuditEntry.objects.filter(
        event="jabber_account_provisioned", acting_user=camille
    ).exists()


def test_provision_everyone_without_an_account(
    camille: User, oliver: User, ines: User, on_managed_prosody: RunningProsody
) -> None:
    on_managed_prosody.register("oliver", "taken-before-evim")  # a collision to resolve
    progress: list[tuple[int, int]] = []
    report = actions.do_provision_accounts(
        acting_user=camille,
        users=actions.users_without_account(),
        progress=lambda done, total: progress.append((done, total)),
    )
    jids = {account.user.username: account.jid for account in report.created}
    assert set(jids) == {"camille", "oliver", "ines"}
    assert jids["oliver"] != "oliver@evim.test"  # the existing account was not taken over
    assert jids["ines"].startswith("ines")
    assert progress[-1] == (3, 3)
    assert actions.users_without_account() == []


def test_connection_test_outcomes_on_the_screen(
    camille: User, jeanne: User, on_managed_prosody: RunningProsody
) -> None:
    jid = on_managed_prosody.register("jeanne-screen", "the-right-one")
    account = actions.do_create_account(
        acting_user=camille, user=jeanne, jid=jid, password="the-right-one"
    )
    client = client_for(camille)
    client.post(f"/messaging/accounts/{account.pk}/test/")
    account.refresh_from_db()
    assert account.last_test_outcome == Outcome.OK
    assert "connecté" in client.get("/messaging/settings/").content.decode()

    # The server's password changed behind evim's back (as when set in another client).
    account.password_encrypted = encryption.encrypt_password("a-wrong-one")
    account.save()
    response = client.post(f"/messaging/accounts/{account.pk}/test/", follow=True)
    account.refresh_from_db()
    assert account.last_test_outcome == Outcome.AUTH
    page = response.content.decode()
    assert "Mot de passe refusé" in page or "Mauvais mot de passe" in page
    assert "a-wrong-one" not in page and "the-right-one" not in page


def test_new_password_of_a_managed_account_is_set_on_the_server(
    camille: User, jeanne: User, on_managed_prosody: RunningProsody, tmp_path: Path
) -> None:
    report = actions.do_provision_accounts(acting_user=camille, users=[jeanne])
    account = report.created[0]
    old = encryption.decrypt_password(account.password_encrypted)
    client_for(camille).post(
        f"/messaging/accounts/{account.pk}/", {"jid": account.jid, "password": "changed-by-admin"}
    )
    witness = on_managed_prosody.register("password-witness", "witness-password")
    assert go_sendxmpp(on_managed_prosody, account.jid, "changed-by-admin", witness, tmp_path) == 0
    assert go_sendxmpp(on_managed_prosody, account.jid, old, witness, tmp_path) != 0


def test_delete_can_remove_the_server_account(
    camille: User, jeanne: User, on_managed_prosody: RunningProsody, tmp_path: Path
) -> None:
    account = actions.do_provision_accounts(acting_user=camille, users=[jeanne]).created[0]
    password = encryption.decrypt_password(account.password_encrypted)
    client = client_for(camille)
    assert (
        "delete_on_server"
        in client.get(f"/messaging/accounts/{account.pk}/delete/").content.decode()
    )
    client.post(f"/messaging/accounts/{account.pk}/delete/", {"delete_on_server": "on"})
    assert not JabberAccount.objects.exists()
    witness = on_managed_prosody.register("delete-witness", "witness-password")
    assert go_sendxmpp(on_managed_prosody, account.jid, password, witness, tmp_path) != 0
