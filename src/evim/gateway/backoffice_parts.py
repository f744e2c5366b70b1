"""What the gateway adds to the back office: the usage statistics page in the Paramétrage
menu, for administrators."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from evim.backoffice.extensions import settings_menu_entries
from evim.backoffice.menu import MenuEntry
from evim.backoffice.models import User


def statistics_entry(user: User) -> MenuEntry | None:
    """Paramétrage > Général > Statistiques d'utilisation, for administrators."""
    if user.is_administrator:
        return MenuEntry(_("Usage statistics"), reverse("statistics:usage"), "usage-statistics")
    return None


def register() -> None:
    settings_menu_entries.append(statistics_entry)
