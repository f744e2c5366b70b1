"""The service's "Force HTTPS": pages redirected to https, HSTS, secure cookies, and the
chat's streams over TLS only (wss, HTTPS BOSH).

It takes effect at once, from the settings page.  ``EVIM_HTTPS=1`` in the environment sets
its default and, in any case, keeps Django's own security settings on (the floor that
``evim check --deploy`` verifies); this middleware adds the same protections when an
administrator turns the option on without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect

from evim.service.current import service
from evim.service.watched import WatchedSwitch


def https_forced() -> bool:
    return bool(service().force_https)


#: The same, for the gateway's handlers, which run on the event loop and must not wait for
#: the database on each request (a BOSH request comes every few seconds per user): read
#: without waiting (see evim.service.watched), first when the server starts.
https_forced_on_loop = WatchedSwitch("force_https")


def stream_is_secure(scope: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    """A gateway request came over TLS: its scheme, or the trusted reverse proxy's word."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxied = settings.SECURE_PROXY_SSL_HEADER is not None
    return proxied and headers.get("x-forwarded-proto", "").lower() == "https"


class ForceHttpsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not https_forced():
            return self.get_response(request)
        if not request.is_secure() and not _local_scrape(request):
            return HttpResponsePermanentRedirect(
                f"https://{request.get_host()}{request.get_full_path()}"
            )
        response = self.get_response(request)
        response.headers.setdefault(
            "Strict-Transport-Security",
            f"max-age={settings.EVIM_HSTS_SECONDS}; includeSubDomains",
        )
        for morsel in response.cookies.values():
            morsel["secure"] = True
        return response


def _local_scrape(request: HttpRequest) -> bool:
    """A metrics scraper on this machine asks over plain HTTP, past the TLS proxy."""
    local = request.META.get("REMOTE_ADDR", "") in ("127.0.0.1", "::1")
    return local and request.path == "/metrics"
