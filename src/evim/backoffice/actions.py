"""State changes of the back office: each atomic, each with its audit row.

Views parse, authorise and validate, then call one ``do_*`` function here.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from evim.backoffice.models import AuditEntry, User

# Fields whose changes are written to the audit log (values included: none is secret).
AUDITED_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "language",
    "is_active",
    "is_superuser",
)


class LastAdministratorError(Exception):
    """The change would leave the back office without an active administrator."""


def _snapshot(user: User) -> dict[str, Any]:
    return {field: getattr(user, field) for field in AUDITED_FIELDS}


def _other_active_administrators(user: User) -> bool:
    return User.objects.filter(is_active=True, is_superuser=True).exclude(pk=user.pk).exists()


@transaction.atomic
def do_create_user(
    *,
    acting_user: User | None,
    username: str,
    password: str | None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    language: str = "fr",
    is_administrator: bool = False,
) -> User:
    user = User(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        language=language,
        is_superuser=is_administrator,
        is_staff=is_administrator,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    AuditEntry.objects.create(
        acting_user=acting_user,
        event=AuditEntry.Event.USER_CREATED,
        subject=user.username,
        changes={field: [None, value] for field, value in _snapshot(user).items()},
    )
    return user


@transaction.atomic
def do_update_user(
    *, acting_user: User | None, user: User, new_password: str | None = None, **fields: Any
) -> dict[str, list[Any]]:
    """Apply ``fields`` (among AUDITED_FIELDS) to ``user``; returns what changed."""
    unknown = set(fields) - set(AUDITED_FIELDS)
    if unknown:
        raise ValueError(f"not user fields: {sorted(unknown)}")
    locked = User.objects.select_for_update().get(pk=user.pk)
    before = _snapshot(locked)
    losing_admin = locked.is_administrator and (
        fields.get("is_superuser") is False or fields.get("is_active") is False
    )
    if losing_admin and not _other_active_administrators(locked):
        raise LastAdministratorError
    for field, value in fields.items():
        setattr(locked, field, value)
    locked.is_staff = locked.is_superuser
    if new_password:
        locked.set_password(new_password)
    locked.save()
    after = _snapshot(locked)
    changes = {
        key: [before[key], after[key]] for key in AUDITED_FIELDS if before[key] != after[key]
    }
    if changes:
        AuditEntry.objects.create(
            acting_user=acting_user,
            event=AuditEntry.Event.USER_CHANGED,
            subject=locked.username,
            changes=changes,
        )
    if new_password:
        AuditEntry.objects.create(
            acting_user=acting_user,
            event=AuditEntry.Event.PASSWORD_CHANGED,
            subject=locked.username,
        )
    user.refresh_from_db()
    return changes


@transaction.atomic
def do_delete_user(*, acting_user: User | None, user: User) -> None:
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.is_administrator and not _other_active_administrators(locked):
        raise LastAdministratorError
    username = locked.username
    locked.delete()
    AuditEntry.objects.create(
        acting_user=acting_user, event=AuditEntry.Event.USER_DELETED, subject=username
    )


@transaction.atomic
def do_change_own_password(*, user: User, new_password: str) -> None:
    user.set_password(new_password)
    user.save(update_fields=["password"])
    AuditEntry.objects.create(
        acting_user=user, event=AuditEntry.Event.PASSWORD_CHANGED, subject=user.username
    )
