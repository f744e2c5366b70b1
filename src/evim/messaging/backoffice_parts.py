"""What the messaging module adds to back-office pages (registered in apps.ready())."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from evim.backoffice.extensions import (
    PagePart,
    csp_additions,
    header_items,
    home_cards,
    page_heads,
    profile_sections,
    settings_menu_entries,
)
from evim.backoffice.menu import MenuEntry
from evim.backoffice.models import User
from evim.messaging.actions import may_create_own_account
from evim.messaging.chat import chat_settings, encryption_policy, has_chat
from evim.messaging.models import ChatPreferences, JabberAccount, MessagingPreferences
from evim.messaging.project_config import get_messaging_config


def settings_entry(user: User) -> MenuEntry | None:
    """Paramétrage > Général > Messagerie, for administrators, when messaging is enabled."""
    if user.is_administrator and get_messaging_config().enabled:
        return MenuEntry(_("Messaging"), reverse("messaging:settings"), "messaging-settings")
    return None


def guest_links_entry(user: User) -> MenuEntry | None:
    """Paramétrage > Général > Guest links, for administrators, in anonymous mode."""
    from evim.messaging.guests import anonymous_mode_available

    if user.is_administrator and anonymous_mode_available():
        return MenuEntry(_("Guest links"), reverse("messaging:guest_links"), "guest-links")
    return None


def home_card(request: HttpRequest) -> dict[str, Any] | None:
    if not getattr(request.user, "is_administrator", False):
        return None
    enabled = get_messaging_config().enabled
    return {"enabled": enabled, "accounts": JabberAccount.objects.count() if enabled else 0}


def profile_section(request: HttpRequest) -> dict[str, Any] | None:
    """The user's own JID, read-only (and self-service when the administrators allow it)."""
    if not isinstance(request.user, User) or not get_messaging_config().enabled:
        return None
    account = JabberAccount.objects.filter(user=request.user).first()
    self_service = MessagingPreferences.current().self_service and (
        account is None or account.kind == JabberAccount.Kind.EXTERNAL
    )
    preferences = ChatPreferences.of(request.user) if has_chat(request.user) else None
    return {
        "account": account,
        "self_service": self_service,
        "chat_preferences": preferences,
        # Registration allowed (managed server): “Create my chat account”.
        "may_register": account is None and may_create_own_account(request.user),
    }


def chat_head(request: HttpRequest) -> dict[str, Any] | None:
    """The chat on every page, for users with a Jabber account; nothing for the others."""
    settings = chat_settings(request)
    return None if settings is None else {"chat": settings}


def chat_header(request: HttpRequest) -> dict[str, Any] | None:
    """The top bar's unread count (filled in by messaging/chat.js), for users with the chat."""
    return {} if chat_settings(request) is not None else None


def register() -> None:
    settings_menu_entries.append(settings_entry)
    settings_menu_entries.append(guest_links_entry)
    home_cards.append(PagePart("messaging/home_card.html", home_card))
    profile_sections.append(PagePart("messaging/profile_section.html", profile_section))
    page_heads.append(PagePart("messaging/chat_head.html", chat_head))
    header_items.append(PagePart("messaging/chat_header.html", chat_header))
    csp_additions.append(encryption_policy)
