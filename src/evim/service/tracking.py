"""Visit tracking: the options ``track_visits``, ``tracker_url`` and ``tracker_site_id``.

When an administrator turns it on, every back-office page (the login page included) loads
``service/tracker.js``, which reports one page view to the Matomo server with Matomo's HTTP
Tracking API (``matomo.php``); that page's Content-Security-Policy then allows connections
to the Matomo server's origin, and nothing more.  Off: no tracker, no change to the policy.

Why not Matomo's own ``matomo.js``: it would have to run a script from another server in
pages that hold the chat and the administration forms (``script-src`` widened: whoever
controls the Matomo server could run code in the back office), and it keeps a visitor id in
a cookie and reports the screen, the plugins and the referrer.  Our module sends a single
request, without cookie nor referrer, which needs ``connect-src`` only.

What is sent: the site id and the page's address without its query string or fragment
(they may hold a search typed into a form or a ``next`` address), and as its title the name
of the page's view (``backoffice / user_edit``), never the page's own title: titles name
people ("Edit Inès Moreau", "Jabber account of …").  Never a message, a Jabber address, a
user name, a cookie.  The addresses hold numeric ids at most.

Browsers whose user asked not to be tracked (``DNT: 1``, or Global Privacy Control's
``Sec-GPC: 1``) get no tracker at all: the request says so, the page is made without it.
Nor do pages served over HTTPS when the Matomo server's address is http:// (the browser
would refuse to send to it).
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest

from evim.service.current import ServiceSettings, service

# What a Content-Security-Policy source expression may be made of here: scheme, ASCII host,
# port.  Anything else (a quote, a space, a semicolon) would change the policy's meaning.
_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Tracker:
    #: Where page views are sent (``<tracker_url>/matomo.php``).
    endpoint: str
    #: The endpoint's origin, as a Content-Security-Policy source.
    origin: str
    site_id: int


def tracker_of(values: ServiceSettings) -> Tracker | None:
    """The tracker the options describe, or None when tracking is off (or the address is
    not one the policy can name: the settings form accepts none such)."""
    if not values.track_visits or not values.tracker_url or not values.tracker_site_id:
        return None
    parts = urlsplit(values.tracker_url)
    try:
        host = (parts.hostname or "").encode("idna").decode("ascii")
        port = parts.port
    except (UnicodeError, ValueError):
        return None
    origin = f"{parts.scheme}://{host}"
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        origin += f":{port}"
    if not _ORIGIN.fullmatch(origin):
        return None
    path = parts.path
    # The address of the server (the usual case), or of its tracking endpoint itself
    # (matomo.php, or piwik.php on old servers).
    if not path.endswith(".php"):
        path = path.rstrip("/") + "/matomo.php"
    return Tracker(f"{origin}{path}", origin, values.tracker_site_id)


def does_not_want_tracking(request: HttpRequest) -> bool:
    return request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"


def tracker_head(request: HttpRequest) -> dict[str, Any] | None:
    """The tracker's part of the page's ``<head>``: its settings and its module."""
    tracker = tracker_of(service())
    if tracker is None or does_not_want_tracking(request):
        return None
    if request.is_secure() and tracker.origin.startswith("http:"):
        return None  # the browser would block it (mixed content) and say so in the console
    # Kept for this request's policy: the very tracker the page carries, even if the
    # options change between the page and its headers.
    _TRACKED[request] = tracker
    match = request.resolver_match
    return {
        "tracker": {
            "endpoint": tracker.endpoint,
            "site_id": tracker.site_id,
            # The same for every reader whatever their language, and free of names; a
            # Matomo that groups titles by category shows user_edit under backoffice.
            "action_name": match.view_name.replace(":", " / ") if match else "",
        }
    }


_TRACKED: weakref.WeakKeyDictionary[HttpRequest, Tracker] = weakref.WeakKeyDictionary()


def tracker_policy(request: HttpRequest) -> dict[str, list[str]]:
    """What the page's Content-Security-Policy must allow for its tracker: connections to the
    Matomo server, on the pages that carry the tracker only."""
    tracker = _TRACKED.get(request)
    return {"connect-src": [tracker.origin]} if tracker is not None else {}
