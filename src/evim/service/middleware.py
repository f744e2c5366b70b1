"""The Compression option's effect on pages and JSON: :class:`CompressionMiddleware`."""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.gzip import GZipMiddleware

from evim.service.current import service


class CompressionMiddleware(GZipMiddleware):
    """Django's GZipMiddleware, while the service's Compression option is on.

    It compresses a response of 200 bytes or more, not already encoded, for a request whose
    ``Accept-Encoding`` names gzip, keeps it only when smaller, says ``Vary:
    Accept-Encoding`` and weakens a strong ETag.

    BREACH (a page's compressed size betraying a secret in it, guessed through input the
    page echoes): as Django 5.2 documents it, and does, (1) every response gets up to
    ``max_random_bytes`` (100) random bytes in its gzip header (Heal The Breach, Django
    4.2), so its size is noise over many requests; (2) the CSRF token in forms is masked
    anew on every page, so it is never the same bytes twice.  The other secret evim sends,
    the chat's one-time token (``/im/credentials``), is new on every request, in a response
    that echoes nothing.  Administrators who want no compression at all (a proxy that
    compresses already, a policy) turn the option off.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        # The settings are cached in the process: no query per response.  A streamed page
        # (the progress of a long operation) is left alone: gzip would hold its chunks back
        # until enough of them came, and the progress would show only at the end.
        if response.streaming or not service().compression:
            return response
        return super().process_response(request, response)
