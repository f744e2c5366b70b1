"""Where other modules add to the back office without the back office knowing them.

The messaging module registers, from its ``AppConfig.ready()``, its entry in the
Paramétrage > Général menu, its card on the home page, its part of the profile page, the
chat every page loads (a part of every page's ``<head>``, through ``{% page_head_parts %}``)
and the chat's unread count in the top bar (``{% header_parts %}``), and WebAssembly in the
policy of the pages whose chat offers encryption (:data:`csp_additions`).  The service module
registers its settings page in the menu, its block on the login page
(``{% login_parts %}``), what the login page says of the reverse proxy's login
(``{% login_page_notices %}``), and the visit tracker every page loads when administrators turn
it on, with the origin that tracker reports to (:data:`csp_additions`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from evim.backoffice.menu import settings_menu_entries


@dataclass(frozen=True)
class PagePart:
    """A template rendered into a back-office page when ``context`` returns a dict."""

    template: str
    context: Callable[[HttpRequest], dict[str, Any] | None]

    def render(self, request: HttpRequest) -> str | None:
        values = self.context(request)
        if values is None:
            return None
        return render_to_string(self.template, values, request=request)


__all__ = [
    "CspAddition",
    "PagePart",
    "csp_additions",
    "header_items",
    "home_cards",
    "login_notices",
    "login_parts",
    "page_heads",
    "profile_sections",
    "render_parts",
    "settings_menu_entries",
]

home_cards: list[PagePart] = []
profile_sections: list[PagePart] = []
# Rendered into the <head> of every page of the base layout (stylesheets, module scripts and
# their data): no inline script, the Content-Security-Policy forbids it.
page_heads: list[PagePart] = []
# Rendered into the top bar of every page of the base layout, before the user's name (small
# inline items: a count, a link).
header_items: list[PagePart] = []
# Rendered on the login page, under the form (who runs the service, its terms).
login_parts: list[PagePart] = []
# Rendered on the login page, above the form (what a module has to tell the person first:
# why they are not logged in by their reverse proxy).
login_notices: list[PagePart] = []

#: What a module needs the Content-Security-Policy of one response to allow in addition to
#: settings.EVIM_CONTENT_SECURITY_POLICY: sources by directive (``{"connect-src":
#: ["https://stats.example.org"]}``), or ``{}`` for nothing.  Called once per response, after
#: the view: a module widens the policy of the pages it added something to, and of no other.
CspAddition = Callable[[HttpRequest], dict[str, list[str]]]
csp_additions: list[CspAddition] = []


def render_parts(parts: list[PagePart], request: HttpRequest) -> list[SafeString]:
    rendered = (part.render(request) for part in parts)
    # Rendered by Django's template engine, which escaped the values already.
    return [mark_safe(html) for html in rendered if html is not None]  # noqa: S308
