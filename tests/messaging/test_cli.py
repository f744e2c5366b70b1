"""``evim accounts`` and ``evim keys`` as an administrator runs them."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evim.backoffice.models import User
from evim.messaging import actions, encryption
from evim.messaging.models import JabberAccount
from tests.fixtures.prosody import RunningProsody

GOOD_AND_BAD = """username,jid,password
jeanne,jeanne@jabber.example,pw-1
nobody,nobody@jabber.example,pw-2
oliver,oliver@jabber.example/phone,pw-3
ines,,pw-4
camille,camille@jabber.example,
oliver,oliver@jabber.example,pw-5
ines,JEANNE@jabber.example,pw-6
only,two
"""


def run(*arguments: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("accounts", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def everyone(
    camille: User, jeanne: User, oliver: User, ines: User, messaging_enabled: Path
) -> None:
    return None


def test_import_reports_every_bad_row_and_imports_nothing(everyone: None, tmp_path: Path) -> None:
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text(GOOD_AND_BAD)
    with pytest.raises(CommandError, match="6 bad rows: nothing imported") as caught:
        run("import", str(csv_file))
    assert JabberAccount.objects.count() == 0
    assert "--skip-bad" in str(caught.value)


def test_import_names_line_and_reason(
    everyone: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text(GOOD_AND_BAD)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("accounts", "import", str(csv_file), stderr=err)
    lines = err.getvalue().splitlines()
    assert lines == [
        f"{csv_file}: line 3: no back-office user 'nobody'",
        f"{csv_file}: line 4: oliver@jabber.example/phone names a device (the part after /): "
        "give the address without it, such as oliver@jabber.example.",
        f"{csv_file}: line 5: Enter a Jabber address such as jeanne@example.org.",
        f"{csv_file}: line 6: the password is empty",
        f"{csv_file}: line 8: jeanne@jabber.example is already on line 2",
        f"{csv_file}: line 9: 2 fields; expected 3 (username,jid,password)",
    ]


def test_import_dry_run_and_skip_bad(everyone: None, tmp_path: Path) -> None:
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text(GOOD_AND_BAD)
    out, _ = run("import", str(csv_file), "--dry-run", "--skip-bad")
    assert "Dry run: 2 accounts would be imported." in out
    assert JabberAccount.objects.count() == 0
    out, _ = run("import", str(csv_file), "--skip-bad")
    assert "Imported 2 accounts, 6 bad rows skipped." in out
    stored = dict(JabberAccount.objects.values_list("user__username", "jid"))
    assert stored == {"jeanne": "jeanne@jabber.example", "oliver": "oliver@jabber.example"}
    assert (
        encryption.decrypt_password(
            JabberAccount.objects.get(user__username="oliver").password_encrypted
        )
        == "pw-5"
    )


def test_import_refuses_a_wrong_header(everyone: None, tmp_path: Path) -> None:
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text("user;jid;password\njeanne;j@x.example;p\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("accounts", "import", str(csv_file), stderr=err)
    assert (
        "line 1: the header is 'user;jid;password'; expected username,jid,password"
        in err.getvalue()
    )


def test_export_has_no_password(everyone: None, jeanne: User) -> None:
    actions.do_create_account(
        acting_user=None, user=jeanne, jid="jeanne@jabber.example", password="pw-secret"
    )
    out, _ = run("export")
    assert out.splitlines() == [
        "username,full_name,jid,server,last_test,last_test_at",
        "jeanne,Jeanne Durand,jeanne@jabber.example,external,,",
    ]
    assert "pw-secret" not in out
    assert JabberAccount.objects.get().password_encrypted not in out


def test_add_and_remove(everyone: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("pw-from-stdin\n"))
    out, _ = run("add", "ines", "Ines@Jabber.Example", "--password-stdin", "--no-test")
    assert out.strip() == "ines now uses ines@jabber.example."
    account = JabberAccount.objects.get(user__username="ines")
    assert encryption.decrypt_password(account.password_encrypted) == "pw-from-stdin"
    with pytest.raises(CommandError, match="ines already has a Jabber account"):
        run("add", "ines", "other@jabber.example", "--password-stdin")
    out, _ = run("remove", "ines")
    assert "Removed ines@jabber.example from ines." in out
    with pytest.raises(CommandError, match="no back-office user 'ghost'"):
        run("remove", "ghost")


def test_provision_and_test_on_the_real_server(
    everyone: None, on_managed_prosody: RunningProsody
) -> None:
    out, err = run("provision", "--all")
    assert out.count("created  ") == 4
    assert "Creating accounts: 4/4 (100%)" in err
    out, err = run("test")
    assert out.count("ok       ") == 4
    assert "Testing: 4/4 (100%)" in err
    listing, _ = run("list")
    # Names follow the logins (with a suffix where the shared test server has them taken).
    assert re.search(r"^jeanne +jeanne(-\d+)?@evim.test +managed +ok$", listing, re.M)


def test_keys_rotate(everyone: None, jeanne: User, settings: object) -> None:
    account = actions.do_create_account(
        acting_user=None, user=jeanne, jid="jeanne@jabber.example", password="pw"
    )
    out = io.StringIO()
    call_command("keys", "rotate", stdout=out)
    assert "Re-encrypted 1 passwords with a new key" in out.getvalue()
    account.refresh_from_db()
    assert encryption.decrypt_password(account.password_encrypted) == "pw"
