"""Jabber passwords are encrypted at rest, and the key can be rotated."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import AuditEntry, User
from evim.messaging import actions, encryption
from evim.messaging.models import AccountEvent, JabberAccount

SECRET = "s3cret-Jabber-password"


def raw_column(account: JabberAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password_encrypted FROM messaging_jabberaccount WHERE id = %s", [account.pk]
        )
        value: str = cursor.fetchone()[0]
        return value


@pytest.fixture
def account(jeanne: User, messaging_enabled: Path) -> JabberAccount:
    return actions.do_create_account(
        acting_user=None, user=jeanne, jid="jeanne@jabber.example", password=SECRET
    )


def test_the_database_never_holds_the_password(account: JabberAccount) -> None:
    stored = raw_column(account)
    assert SECRET not in stored
    assert SECRET.encode().hex() not in stored
    assert encryption.decrypt_password(stored) == SECRET


def test_the_key_file_is_made_private(account: JabberAccount, settings: SettingsWrapper) -> None:
    path = settings.EVIM_ACCOUNT_KEYS_PATH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().split()) == 1


def test_audit_rows_hold_no_secret(account: JabberAccount) -> None:
    actions.do_update_account(acting_user=None, account=account, password="another-secret")
    rows = list(AuditEntry.objects.filter(event__startswith="jabber_account"))
    assert [row.event for row in rows] == [
        AccountEvent.ACCOUNT_CHANGED.value,
        AccountEvent.ACCOUNT_CREATED.value,
    ]
    assert rows[0].changes == {"password": "changed"}
    assert all(SECRET not in str(row.changes) and "another" not in str(row.changes) for row in rows)


def test_rotation_reencrypts_with_a_new_key_and_drops_the_old(
    account: JabberAccount, settings: SettingsWrapper
) -> None:
    old_key = settings.EVIM_ACCOUNT_KEYS_PATH.read_bytes().strip()
    before = raw_column(account)
    assert actions.do_rotate_keys(acting_user=None) == 1
    keys = settings.EVIM_ACCOUNT_KEYS_PATH.read_bytes().split()
    assert len(keys) == 1 and keys[0] != old_key
    after = raw_column(account)
    assert after != before
    assert encryption.decrypt_password(after) == SECRET
    assert Fernet(keys[0]).decrypt(after.encode()).decode() == SECRET
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(after.encode())
    assert (
        AuditEntry.objects.filter(event=AccountEvent.KEYS_ROTATED.value)
        .get()
        .changes["reencrypted"]
        == 1
    )


def test_rotation_can_keep_the_old_keys(account: JabberAccount, settings: SettingsWrapper) -> None:
    old_key = settings.EVIM_ACCOUNT_KEYS_PATH.read_bytes().strip()
    actions.do_rotate_keys(acting_user=None, keep_old_keys=True)
    keys = settings.EVIM_ACCOUNT_KEYS_PATH.read_bytes().split()
    assert keys[1:] == [old_key]


def test_rotation_with_keys_from_the_environment(
    jeanne: User, messaging_enabled: Path, settings: SettingsWrapper
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.EVIM_ACCOUNT_KEYS = old
    account = actions.do_create_account(
        acting_user=None, user=jeanne, jid="jeanne@jabber.example", password=SECRET
    )
    settings.EVIM_ACCOUNT_KEYS = f"{new},{old}"  # the administrator puts the new key first
    actions.do_rotate_keys(acting_user=None)
    assert Fernet(new).decrypt(raw_column(account).encode()).decode() == SECRET
    assert not settings.EVIM_ACCOUNT_KEYS_PATH.exists()


def test_a_lost_key_is_a_clear_error(account: JabberAccount, settings: SettingsWrapper) -> None:
    settings.EVIM_ACCOUNT_KEYS = Fernet.generate_key().decode()
    with pytest.raises(encryption.AccountKeysError, match="cannot be decrypted"):
        encryption.decrypt_password(raw_column(account))


def test_a_malformed_key_is_a_clear_error(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.EVIM_ACCOUNT_KEYS = ""
    settings.EVIM_ACCOUNT_KEYS_PATH = tmp_path / "keys"
    settings.EVIM_ACCOUNT_KEYS_PATH.write_text("not-a-key\n")
    with pytest.raises(encryption.AccountKeysError, match="key 1 is not a Fernet key"):
        encryption.encrypt_password("x")
