"""What the service settings add to the back office: their page in the Paramétrage menu,
the service's block on the login page, what it says of the reverse proxy's login (HTTP
authentication), and the visit tracker of every page when
administrators turned it on (with the origin it reports to, in the page's policy)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from evim.backoffice.extensions import (
    PagePart,
    csp_additions,
    login_notices,
    login_parts,
    page_heads,
    settings_menu_entries,
)
from evim.backoffice.menu import MenuEntry
from evim.backoffice.models import User
from evim.service import http_auth
from evim.service.current import service
from evim.service.tracking import tracker_head, tracker_policy


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
    login_notices.append(PagePart("service/http_auth_notice.html", http_auth.notice))
    page_heads.append(PagePart("service/tracker_head.html", tracker_head))
    csp_additions.append(tracker_policy)
