"""The chat's settings for one page: what ``messaging/chat.js`` hands to Converse.js.

Rendered as JSON into the page (``json_script``): no script of the page is inline, and no
secret is in it — Converse fetches the JID and a one-time token from ``credentials_url``.
"""

from __future__ import annotations

import weakref
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from evim.backoffice.models import User
from evim.messaging import converse
from evim.messaging.jids import domain_of
from evim.messaging.models import ChatPreferences, JabberAccount, RoomChoice
from evim.messaging.project_config import get_messaging_config
from evim.service.current import service

#: The gateway's WebSocket endpoint (``evim.asgi.GATEWAY_WEBSOCKET_PATH``), on the page's host.
WEBSOCKET_PATH = "/im/ws"
#: The full-page client's URL name (every other page gets the chat bar).
FULL_PAGE = "chat:page"


def chat_account(user: object) -> JabberAccount | None:
    """The account the user's chat logs in with: messaging enabled, a Jabber account, and
    on the main host while the service's "lock host" is on."""
    if not isinstance(user, User) or not get_messaging_config().enabled:
        return None
    account = JabberAccount.objects.filter(user=user).first()
    if account is None or host_locked_out(account.jid):
        return None
    return account


def host_locked_out(jid: str) -> bool:
    """The service's "lock host" is on and ``jid`` is not on the main host."""
    return service().lock_host and domain_of(jid) != settings.EVIM_XMPP_DOMAIN


def has_chat(user: object) -> bool:
    """The user gets the chat (see :func:`chat_account`)."""
    return chat_account(user) is not None


def chat_settings(request: HttpRequest) -> dict[str, Any] | None:
    """The chat's settings for this page, or None when the user gets no chat (worked out
    once per request: the page's head and its top bar both ask)."""
    if request not in _SETTINGS_OF:
        _SETTINGS_OF[request] = _chat_settings(request)
    return _SETTINGS_OF[request]


_SETTINGS_OF: weakref.WeakKeyDictionary[HttpRequest, dict[str, Any] | None] = (
    weakref.WeakKeyDictionary()
)


def _chat_settings(request: HttpRequest) -> dict[str, Any] | None:
    user = request.user
    if not isinstance(user, User) or not has_chat(user):
        return None
    match = request.resolver_match
    full_page = match is not None and match.view_name == FULL_PAGE
    nickname = user.get_full_name() or user.get_username()
    client = "page" if full_page else "bar"
    return {
        "script": static(converse.SCRIPT),
        "stylesheet": static(converse.STYLESHEET),
        "assets_path": converse.assets_path(),
        "view_mode": "fullscreen" if full_page else "overlayed",
        "language": user.language,
        # Which client asks (the XMPP resource says it: evim-bar-…, evim-page-…).
        "credentials_url": f"{reverse('gateway:credentials')}?client={client}",
        "websocket_path": WEBSOCKET_PATH,
        "nickname": nickname,
        **_rooms(request, user),
        # Opt-in, from the profile page (ChatPreferences).
        "notifications": ChatPreferences.of(user).desktop_notifications,
        # The service's "encryption": Converse's OMEMO plugins (see encryption_policy), and
        # the WebAssembly of their library under its hashed name (cached for good).
        **_encryption(),
        # Where the page keeps the unread count for the next page (sessionStorage).
        "unread_key": f"evim-chat-unread-{user.pk}",
        # The service settings page's "Service" and "Others" sections: the chat's header.
        "service": _service_header(user),
        # Converse translates its own texts (i18n); these are evim's, in place of its login form.
        "texts": {
            "not_connected": _(
                "The chat is not connected. It connects by itself as soon as it can."
            ),
            "logged_out": _("You are logged out: log in again to use the chat."),
            # The top bar's unread count: "%(count)s" is replaced in the browser.
            "unread": {
                form: ngettext("%(count)s unread message", "%(count)s unread messages", number)
                for form, number in (("one", 1), ("other", 2))
            },
        },
    }


def _encryption() -> dict[str, Any]:
    if not service().encryption:
        return {"encryption": False}
    return {"encryption": True, "omemo_wasm": static(converse.OMEMO_WASM_PATH)}


def encryption_policy(request: HttpRequest) -> dict[str, list[str]]:
    """What the Content-Security-Policy of a page must allow for the chat's OMEMO: its
    library compiles WebAssembly (``'wasm-unsafe-eval'``, which allows no JavaScript
    ``eval``).  Only on the pages whose chat offers encryption; nothing on any other
    response (read from the settings the page was made with, not worked out again)."""
    carried = _SETTINGS_OF.get(request)
    return {"script-src": ["'wasm-unsafe-eval'"]} if carried and carried["encryption"] else {}


def _service_header(user: User) -> dict[str, str]:
    """What the chat shows above its rooms and contacts (evim.service's options)."""
    values = service()
    manager = values.manager_link and user.is_administrator
    return {
        "name": values.name,
        "description": values.description,
        "owner_name": values.owner_name,
        "owner_site": values.owner_site,
        "terms_url": values.terms_url,
        "terms_label": _("Terms of use"),
        "announcement": values.announcement,
        "manager_url": reverse("service:settings") if manager else "",
        "manager_label": _("Service settings"),
    }


def offered_rooms() -> list[str]:
    """project.yml's rooms, then those the administrators added (service settings)."""
    return list(dict.fromkeys([*get_messaging_config().chatrooms, *service().rooms_to_join]))


def _rooms(request: HttpRequest, user: User) -> dict[str, Any]:
    """The rooms the chat joins by itself and, with the service's "suggest rooms", those it
    offers (the user's answers are remembered: RoomChoice)."""
    rooms = offered_rooms()
    if not service().suggest_rooms:
        return {"rooms": rooms, "suggested_rooms": []}
    answers = dict(RoomChoice.objects.filter(user=user).values_list("room", "joined"))
    return {
        "rooms": [room for room in rooms if answers.get(room) is True],
        "suggested_rooms": [room for room in rooms if room not in answers],
        "room_choice_url": reverse("messaging:room_choice"),
        # The answer is a POST of the page's own: Django's CSRF token, as in any form.
        "csrf_token": get_token(request),
        "suggest_texts": {
            "title": _("Rooms for you"),
            "intro": _("Join them to follow the conversations; you can leave later."),
            "join": _("Join"),
            "skip": _("Skip"),
            "failed": _("Your answer could not be saved. Try again."),
        },
    }
