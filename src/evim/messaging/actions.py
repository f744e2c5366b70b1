"""State changes of the messaging module: each atomic, each with its audit row.

Views and commands parse, authorise and validate, then call one ``do_*`` function here.
Changes on the managed XMPP server (creating accounts, changing a password) are made before
the database is changed, so that a failure there leaves both as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evim.backoffice.models import AuditEntry, User
from evim.managed_server import provisioning
from evim.managed_server.layout import ServerLayout
from evim.managed_server.localparts import generate_password, localpart_for
from evim.messaging import encryption
from evim.messaging.jids import domain_of
from evim.messaging.models import (
    AccountEvent,
    ChatPreferences,
    JabberAccount,
    MessagingPreferences,
    RoomChoice,
)
from evim.service.current import service
from evim.xmpp.connection_test import ConnectionTestResult, test_many

logger = logging.getLogger("evim.messaging")

Progress = Callable[[int, int], None]


def kind_for(jid: str) -> JabberAccount.Kind:
    """Accounts of the managed server's domain are managed by evim; others are external."""
    if settings.EVIM_XMPP_SERVER == "managed" and domain_of(jid) == settings.EVIM_XMPP_DOMAIN:
        return JabberAccount.Kind.MANAGED
    return JabberAccount.Kind.EXTERNAL


def _audit(acting_user: User | None, event: AccountEvent, subject: str, **changes: Any) -> None:
    AuditEntry.objects.create(
        acting_user=acting_user, event=event.value, subject=subject, changes=changes
    )


@transaction.atomic
def do_create_account(
    *, acting_user: User | None, user: User, jid: str, password: str
) -> JabberAccount:
    """Map ``user`` to an existing Jabber account."""
    account = JabberAccount.objects.create(
        user=user,
        jid=jid,
        password_encrypted=encryption.encrypt_password(password),
        kind=kind_for(jid),
    )
    _audit(acting_user, AccountEvent.ACCOUNT_CREATED, user.username, jid=[None, jid])
    return account


def do_update_account(
    *,
    acting_user: User | None,
    account: JabberAccount,
    jid: str | None = None,
    password: str | None = None,
) -> list[str]:
    """Change the address and/or the password; returns the names of what changed.

    A new password of a managed account is set on the server first.
    """
    changes: dict[str, Any] = {}
    new_jid = jid if jid is not None and jid != account.jid else None
    if new_jid is not None:
        changes["jid"] = [account.jid, new_jid]
    if password:
        changes["password"] = "changed"  # noqa: S105 (a marker: the value is never written)
        if account.kind == JabberAccount.Kind.MANAGED and new_jid is None:
            async_to_sync(provisioning.set_password)(
                ServerLayout.from_settings(), localpart=account.localpart, password=password
            )
    if not changes:
        return []
    with transaction.atomic():
        locked = JabberAccount.objects.select_for_update().get(pk=account.pk)
        if new_jid is not None:
            locked.jid = new_jid
            locked.kind = kind_for(new_jid)
            locked.last_test_at = None
            locked.last_test_outcome = locked.last_test_detail = ""
        if password:
            locked.password_encrypted = encryption.encrypt_password(password)
        locked.save()
        _audit(acting_user, AccountEvent.ACCOUNT_CHANGED, locked.user.username, **changes)
    account.refresh_from_db()
    return list(changes)


def do_delete_account(
    *, acting_user: User | None, account: JabberAccount, delete_on_server: bool = False
) -> None:
    """Remove the mapping; with ``delete_on_server``, the managed account itself first."""
    if delete_on_server and account.kind == JabberAccount.Kind.MANAGED:
        async_to_sync(provisioning.delete_account)(
            ServerLayout.from_settings(), localpart=account.localpart
        )
    with transaction.atomic():
        username, jid = account.user.username, account.jid
        account.delete()
        _audit(
            acting_user,
            AccountEvent.ACCOUNT_DELETED,
            username,
            jid=[jid, None],
            deleted_on_server=delete_on_server and account.kind == JabberAccount.Kind.MANAGED,
        )


@dataclass
class ProvisioningReport:
    created: list[JabberAccount] = field(default_factory=list)
    failed: list[tuple[User, str]] = field(default_factory=list)
    skipped: list[User] = field(default_factory=list)  # they had an account already


def users_without_account() -> list[User]:
    return list(User.objects.filter(jabber_account__isnull=True, is_active=True))


def do_provision_accounts(
    *, acting_user: User | None, users: Iterable[User], progress: Progress | None = None
) -> ProvisioningReport:
    """Create an account on the managed server for each user, and map it.

    Localparts come from the usernames (collisions with existing server accounts and
    mappings resolved); passwords are random and strong; the full name becomes the
    account's display name.
    """
    if settings.EVIM_XMPP_SERVER != "managed":
        raise provisioning.ProvisioningError(
            "accounts can be created only on the managed server (EVIM_XMPP_SERVER=managed)"
        )
    layout = ServerLayout.from_settings()
    report = ProvisioningReport()
    candidates = list(users)
    mapped = set(
        JabberAccount.objects.filter(user__in=candidates).values_list("user_id", flat=True)
    )
    wanted: list[User] = []
    for user in candidates:
        (report.skipped if user.pk in mapped else wanted).append(user)
    if not wanted:
        return report
    taken = set(async_to_sync(provisioning.existing_accounts)(layout))
    taken |= {
        jid.rpartition("@")[0]
        for jid in JabberAccount.objects.filter(jid__endswith=f"@{layout.domain}").values_list(
            "jid", flat=True
        )
    }
    plan: list[tuple[User, provisioning.NewAccount]] = []
    for user in wanted:
        localpart = localpart_for(user.username, taken=taken)
        taken.add(localpart)
        plan.append((user, provisioning.NewAccount(localpart, generate_password(), str(user))))
    results = async_to_sync(provisioning.create_accounts)(
        layout, [new for _user, new in plan], progress=progress
    )
    for (user, new), result in zip(plan, results, strict=True):
        if not result.created:
            report.failed.append((user, result.reason or "not created"))
            continue
        jid = f"{new.localpart}@{layout.domain}"
        with transaction.atomic():
            account = JabberAccount.objects.create(
                user=user,
                jid=jid,
                password_encrypted=encryption.encrypt_password(new.password),
                kind=JabberAccount.Kind.MANAGED,
            )
            _audit(acting_user, AccountEvent.ACCOUNT_PROVISIONED, user.username, jid=[None, jid])
        report.created.append(account)
    return report


def may_create_own_account(user: User) -> bool:
    """Whether ``user`` may create their own chat account now: registration is allowed
    (service settings), on the managed server, and they have no Jabber account yet."""
    return (
        settings.EVIM_XMPP_SERVER == "managed"
        and service().registration_allowed
        and user.is_active
        and not JabberAccount.objects.filter(user=user).exists()
    )


def do_create_own_account(*, user: User) -> JabberAccount:
    """Registration allowed: ``user`` creates their own account on the managed server, as
    an administrator's provisioning would (login from the user name, random password kept
    encrypted, full name published), audited as made by ``user``.

    Raises :class:`~evim.managed_server.provisioning.ProvisioningError` with the reason
    when it is not allowed or the server refused it.
    """
    if not may_create_own_account(user):
        raise provisioning.ProvisioningError(
            "you cannot create a chat account: registration is not allowed, or you have one"
        )
    report = do_provision_accounts(acting_user=user, users=[user])
    if report.failed:
        _user, reason = report.failed[0]
        raise provisioning.ProvisioningError(f"the server did not create the account: {reason}")
    if not report.created:  # made meanwhile by someone else (another tab, an administrator)
        raise provisioning.ProvisioningError("you have a Jabber account already")
    return report.created[0]


def do_test_accounts(
    *,
    acting_user: User | None,
    accounts: Sequence[JabberAccount],
    progress: Progress | None = None,
) -> list[tuple[JabberAccount, ConnectionTestResult]]:
    """Log in to each account on its server (a few at a time); record each outcome."""
    credentials = [
        (account.jid, encryption.decrypt_password(account.password_encrypted))
        for account in accounts
    ]
    results = async_to_sync(test_many)(credentials, progress=progress)
    now = timezone.now()
    with transaction.atomic():
        for account, result in zip(accounts, results, strict=True):
            account.last_test_at = now
            account.last_test_outcome = result.outcome.value
            account.last_test_detail = result.detail[:500]
            account.save(update_fields=["last_test_at", "last_test_outcome", "last_test_detail"])
            _audit(
                acting_user,
                AccountEvent.ACCOUNT_TESTED,
                account.user.username,
                outcome=result.outcome.value,
            )
    return list(zip(accounts, results, strict=True))


@transaction.atomic
def do_set_self_service(*, acting_user: User | None, enabled: bool) -> None:
    preferences = MessagingPreferences.current()
    if preferences.self_service != enabled:
        _audit(
            acting_user,
            AccountEvent.SELF_SERVICE_CHANGED,
            "messaging",
            self_service=[preferences.self_service, enabled],
        )
        preferences.self_service = enabled
        preferences.save()


@transaction.atomic
def do_set_desktop_notifications(*, acting_user: User | None, user: User, enabled: bool) -> bool:
    """Turn the user's desktop notifications on or off; returns whether that changed."""
    preferences, _created = ChatPreferences.objects.select_for_update().get_or_create(user=user)
    if preferences.desktop_notifications == enabled:
        return False
    _audit(
        acting_user,
        AccountEvent.CHAT_PREFERENCES_CHANGED,
        user.username,
        desktop_notifications=[preferences.desktop_notifications, enabled],
    )
    preferences.desktop_notifications = enabled
    preferences.save(update_fields=["desktop_notifications"])
    return True


@transaction.atomic
def do_choose_room(*, user: User, room: str, joined: bool) -> bool:
    """Remember the user's answer to an offered room; returns whether it changed."""
    choice = RoomChoice.objects.select_for_update().filter(user=user, room=room).first()
    if choice is not None and choice.joined == joined:
        return False
    before = None if choice is None else choice.joined
    RoomChoice.objects.update_or_create(user=user, room=room, defaults={"joined": joined})
    _audit(user, AccountEvent.ROOM_CHOSEN, user.username, room=room, joined=[before, joined])
    return True


def do_rotate_keys(*, acting_user: User | None, keep_old_keys: bool = False) -> int:
    """Encrypt every password with a new key; returns how many were re-encrypted.

    With a key file: a new key is put first, everything is re-encrypted in one transaction,
    then the old keys are dropped (unless ``keep_old_keys``).  A failure leaves the file
    with every key, so that every password stays readable.  With EVIM_ACCOUNT_KEYS (set in
    the environment) the administrator puts the new key first; this re-encrypts with it.
    """
    keys = encryption.load_keys()
    path = settings.EVIM_ACCOUNT_KEYS_PATH
    from_file = not settings.EVIM_ACCOUNT_KEYS
    if from_file:
        new_key = encryption.new_key()
        encryption.write_key_file(path, [new_key, *keys])
    with transaction.atomic():
        accounts = list(JabberAccount.objects.select_for_update())
        for account in accounts:
            account.password_encrypted = encryption.reencrypt(account.password_encrypted)
        JabberAccount.objects.bulk_update(accounts, ["password_encrypted"])
        _audit(
            acting_user,
            AccountEvent.KEYS_ROTATED,
            "messaging",
            reencrypted=len(accounts),
            source="key file" if from_file else "EVIM_ACCOUNT_KEYS",
        )
    if from_file and not keep_old_keys:
        encryption.write_key_file(path, [new_key])
    return len(accounts)
