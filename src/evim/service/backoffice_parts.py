"""What the service settings add to the back office: their page in the Paramétrage menu,
and the service's block on the login page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from evim.backoffice.extensions import PagePart, login_parts, settings_menu_entries
from evim.backoffice.menu import MenuEntry
from evim.backoffice.models import User
from evim.service.current import service


def settings_entry(user: User) -> MenuEntry | None:
    """Paramétrage > Général > Service de messagerie, for administrators."""
    if user.is_administrator:
        return MenuEntry(_("Messaging service"), reverse("service:settings"), "service-settings")
    return None


def service_block(_request: HttpRequest) -> dict[str, Any]:
    return {"service": service()}


def register() -> None:
    settings_menu_entries.append(settings_entry)
    login_parts.append(PagePart("service/service_block.html", service_block))
