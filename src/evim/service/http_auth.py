"""The service's "HTTP authentication": the back office believes the login a reverse proxy
passes in a header, from the proxy's addresses only, and the chat then logs in by itself.

evim runs under ASGI, where there is no ``REMOTE_USER`` variable: the proxy (nginx, Apache,
a single sign-on gateway) authenticates the person and sets the header
(``http_auth_header``, ``X-Remote-User`` by default) on every request.  evim believes it
only when the connection itself comes from one of ``http_auth_proxies``: the TCP peer,
``REMOTE_ADDR``.  ``evim run`` starts uvicorn with ``proxy_headers=False``, so that address
is never taken from ``X-Forwarded-For``, which any browser can send.

:class:`HttpAuthMiddleware`, right after Django's ``AuthenticationMiddleware``:

- the header names an active user: the session is logged in as that user
  (``django.contrib.auth.login``: a new session key, ``user_logged_in``, ``last_login``) and
  the login is audited (:data:`HTTP_AUTH_LOGIN`, with the proxy's address); a session
  logged in as someone else is logged out first (``user_logged_out``: that user's chat
  streams end at once), then in as the proxy's user;
- the login is matched exactly, case included, as the login form matches it: ``Camille``
  is not ``camille``.  Two users may differ by case only (accounts copied from e-venement),
  and a proxy's directory that spells logins differently is better fixed in the proxy than
  guessed at here, where a guess would be a login as someone else;
- no active user has that login: the proxy logs nobody in, and the login page says why
  (:func:`notice`); the login form still works (a session logged in with a password stays
  as it is: the password proves who is there as well as the proxy would);
- the person logs out (the logout page) while the proxy still sends their login: they stay
  logged out in that browser session, and the login page offers to log in again as the
  proxy's user (:func:`resume`); otherwise the very next page would log them back in.  A
  different login from the proxy (someone else at the proxy) logs in at once;
- the header from any other address is ignored, and logged once per address (never its
  value); with the option off it is ignored entirely.

A session logged in this way is an ordinary back-office session: the chat's
``/im/credentials``, WebSocket and BOSH read it as they read any other.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from evim.backoffice.models import AuditEntry, User
from evim.service.current import service

logger = logging.getLogger("evim.service.http_auth")

#: The audit event of a login passed by the reverse proxy.
HTTP_AUTH_LOGIN = "http_auth_login"

#: In a session the person logged out of: the proxy's login not to log in again by itself.
SESSION_PAUSED = "evim_http_auth_paused"

_BACKEND = "django.contrib.auth.backends.ModelBackend"
#: The request's attribute holding its :class:`ProxyLogin`, for the login page.
_NOTICE = "evim_proxy_login"


@dataclass(frozen=True)
class ProxyLogin:
    """Why the proxy's login did not log this request in, for the login page."""

    username: str
    #: ``unknown``: no active user with that login; ``paused``: the person logged out.
    state: Literal["unknown", "paused"]


def notice(request: HttpRequest) -> dict[str, Any] | None:
    """The login page's notice about the proxy's login, when there is one to give."""
    found = getattr(request, _NOTICE, None)
    if not isinstance(found, ProxyLogin):
        return None
    return {"proxy_login": found, "next": request.GET.get("next", "")}


def trusted_proxy(address: str, proxies: list[str]) -> bool:
    """``address`` (a connection's own, ``REMOTE_ADDR``) is in one of ``proxies``."""
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return any(
        peer in network for network in _networks(tuple(proxies)) if network.version == peer.version
    )


@functools.lru_cache(maxsize=16)
def _networks(proxies: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(proxy) for proxy in proxies]


def _header_values(request: HttpRequest, header: str) -> list[str]:
    """Every value sent for ``header``, decoded as UTF-8 (a login may hold accents).

    Under ASGI, from the request's own headers, counting the names a server would confuse
    with it (``X_Remote_User`` for ``X-Remote-User``): Django joins such duplicates with a
    comma into one value, which must not pass for the proxy's."""
    wanted = header.lower()
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):
        return [
            value.decode("utf-8", "replace")
            for name, value in scope.get("headers", [])
            if name.decode("latin-1").lower().replace("_", "-") == wanted
        ]
    # The test client and WSGI: the value as Django keeps it (latin-1 decoded bytes).
    value = request.META.get("HTTP_" + header.upper().replace("-", "_"))
    if value is None:
        return []
    try:
        return [value.encode("latin-1").decode("utf-8")]
    except UnicodeError:
        return [value]


_warned: set[tuple[str, ...]] = set()
_warned_lock = threading.Lock()


def _warn_once(key: tuple[str, ...], message: str, *args: object) -> None:
    """Log ``message`` the first time ``key`` is seen in this process (a proxy sends the
    header on every request: the log would be nothing else)."""
    with _warned_lock:
        if key in _warned:
            return
        if len(_warned) >= 1024:
            _warned.clear()
        _warned.add(key)
    logger.warning(message, *args)


def proxy_username(request: HttpRequest) -> str | None:
    """The login the trusted proxy passes in this request, or None (option off, no header,
    not from a trusted proxy, sent twice)."""
    values = service()
    if not values.http_auth or not values.http_auth_header:
        return None
    sent = _header_values(request, values.http_auth_header)
    if not sent:
        return None
    address = str(request.META.get("REMOTE_ADDR", ""))
    if not trusted_proxy(address, values.http_auth_proxies):
        _warn_once(
            ("untrusted", address),
            "HTTP authentication: a %s header came from %s, which is not a trusted proxy "
            "(service settings, Trusted proxies): ignored",
            values.http_auth_header,
            address,
        )
        return None
    if len(sent) > 1:
        _warn_once(
            ("repeated", address),
            "HTTP authentication: the %s header came %d times from %s (a browser's header "
            "passed on by the proxy?): ignored",
            values.http_auth_header,
            len(sent),
            address,
        )
        return None
    return sent[0].strip() or None


def do_log_in_from_proxy(request: HttpRequest, user: User, *, proxy: str) -> None:
    """Log ``request``'s session in as ``user``, on the word of the proxy at ``proxy``
    (logging out whoever it was logged in as first), and audit it."""
    replaced = request.user.get_username() if request.user.is_authenticated else None
    if replaced is not None:
        logout(request)  # user_logged_out: the former user's chat streams end at once
    with transaction.atomic():
        login(request, user, backend=_BACKEND)
        changes: dict[str, str] = {"proxy": proxy}
        if replaced is not None:
            changes["replaced"] = replaced
        AuditEntry.objects.create(
            acting_user=user, event=HTTP_AUTH_LOGIN, subject=user.username, changes=changes
        )
    logger.info(
        "HTTP authentication: %s logged in, as passed by the proxy at %s", user.username, proxy
    )


class HttpAuthMiddleware:
    """Logs requests in as the user the trusted reverse proxy names (see the module)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        username = proxy_username(request)
        if username is None:
            return self.get_response(request)
        self._follow(request, username)
        logged_in = request.user.is_authenticated
        response = self.get_response(request)
        if logged_in and not request.user.is_authenticated:
            # The view logged the person out (the logout page): keep them out, in this
            # browser session, while the proxy sends this same login.
            request.session[SESSION_PAUSED] = username
        return response

    def _follow(self, request: HttpRequest, username: str) -> None:
        paused = request.session.get(SESSION_PAUSED)
        if paused is not None and paused != username:
            del request.session[SESSION_PAUSED]  # someone else at the proxy now
            paused = None
        current = request.user
        if current.is_authenticated and current.get_username() == username:
            return
        if paused is not None:
            if not current.is_authenticated:
                setattr(request, _NOTICE, ProxyLogin(username, "paused"))
            return
        address = str(request.META.get("REMOTE_ADDR", ""))
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            setattr(request, _NOTICE, ProxyLogin(username, "unknown"))
            _warn_once(
                ("unknown", address, username),
                "HTTP authentication: the proxy at %s passed the login %r, which is no "
                "active back-office user: not logged in",
                address,
                username,
            )
            return
        do_log_in_from_proxy(request, user, proxy=address)


@login_not_required
@require_POST
def resume(request: HttpRequest) -> HttpResponse:
    """ "Log in again as …" after logging out: the proxy's login counts again."""
    request.session.pop(SESSION_PAUSED, None)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = resolve_url(settings.LOGIN_REDIRECT_URL)
    return HttpResponseRedirect(target)
