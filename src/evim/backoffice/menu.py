"""The e-venement-like menu: sections, groups and entries, filtered per user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from evim.backoffice.models import User


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


# Entries other modules add under Paramétrage > Général (see evim.backoffice.extensions).
settings_menu_entries: list[Callable[[User], MenuEntry | None]] = []


def build_menu(user: User | AnonymousUser) -> tuple[MenuSection, ...]:
    """What ``user`` may open, as e-venement lays it out (Paramétrage > Général > ...)."""
    if not isinstance(user, User):
        return ()
    general: list[MenuEntry] = []
    if user.is_administrator:
        general.append(MenuEntry(_("Users"), reverse("backoffice:user_list"), "users"))
    general += [entry for provider in settings_menu_entries if (entry := provider(user))]
    general.append(MenuEntry(_("My profile"), reverse("backoffice:profile"), "profile"))
    return (MenuSection(_("Settings"), "settings", (MenuGroup(_("General"), tuple(general)),)),)
