"""The e-venement-like menu: sections, groups and entries, filtered per user."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from evim.backoffice.models import User
from evim.messaging.project_config import get_messaging_config


@dataclass(frozen=True)
class MenuEntry:
    label: str | Promise
    url: str
    name: str  # stable identifier, used by tests and CSS


@dataclass(frozen=True)
class MenuGroup:
    label: str | Promise
    entries: tuple[MenuEntry, ...]


@dataclass(frozen=True)
class MenuSection:
    label: str | Promise
    name: str
    groups: tuple[MenuGroup, ...]


def build_menu(user: User) -> tuple[MenuSection, ...]:
    """What ``user`` may open, as e-venement lays it out (Paramétrage > Général > ...)."""
    if not user.is_authenticated:
        return ()
    sections: list[MenuSection] = []
    general: list[MenuEntry] = []
    if user.is_administrator:
        general.append(MenuEntry(_("Users"), reverse("backoffice:user_list"), "users"))
        if get_messaging_config().enabled:
            general.append(
                MenuEntry(_("Messaging"), reverse("messaging:settings"), "messaging-settings")
            )
    general.append(MenuEntry(_("My profile"), reverse("backoffice:profile"), "profile"))
    sections.append(
        MenuSection(_("Settings"), "settings", (MenuGroup(_("General"), tuple(general)),))
    )
    return tuple(sections)
