"""Changing the service settings: :func:`do_change_service_settings`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from evim.backoffice.models import AuditEntry, User
from evim.service import current
from evim.service.models import StoredOption
from evim.service.options import BY_NAME, Effect

#: The audit event of a change of the service settings.
SERVICE_SETTINGS_CHANGED = "service_settings_changed"

#: Sent once a change committed, with ``changed`` (the names of the options that changed):
#: the modules whose configuration follows an option (the managed server's) react to it.
service_settings_changed = Signal()


def do_change_service_settings(*, acting_user: User | None, values: Mapping[str, Any]) -> list[str]:
    """Store ``values`` (validated by the settings form); return the names of the options
    that changed.  An option set back to its default is stored no more: it follows its
    default again (evim's settings) from then on."""
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise ValueError(f"not service options: {', '.join(unknown)}")
    before = current.service()
    defaults = current.defaults()
    changed = [name for name, value in values.items() if value != getattr(before, name)]
    if not changed:
        return []
    with transaction.atomic():
        for name in changed:
            if values[name] == defaults[name]:
                StoredOption.objects.filter(name=name).delete()
            else:
                StoredOption.objects.update_or_create(name=name, defaults={"value": values[name]})
        AuditEntry.objects.create(
            acting_user=acting_user,
            event=SERVICE_SETTINGS_CHANGED,
            subject="service",
            changes={name: [getattr(before, name), values[name]] for name in changed},
        )

        current.forget()  # this transaction reads its own change at once...

        def after_commit() -> None:  # ... and everyone once it commits
            current.forget()
            service_settings_changed.send(sender=None, changed=changed)

        transaction.on_commit(after_commit)
    return changed


def needing_restart(names: list[str]) -> list[str]:
    """Those of ``names`` that take effect only when evim restarts."""
    return [name for name in names if BY_NAME[name].effect is Effect.ON_RESTART]
