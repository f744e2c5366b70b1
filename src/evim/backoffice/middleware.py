from __future__ import annotations

from collections.abc import Callable, Mapping

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from evim.backoffice.extensions import csp_additions


class UserLanguageMiddleware:
    """Serve each logged-in user in the language of their profile.

    Runs after LocaleMiddleware, which chose a language for anonymous visitors from the
    language cookie or the browser (French when neither says otherwise).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", translation.get_language())
        return response


class ContentSecurityPolicyMiddleware:
    """Every page may load only evim's own resources (settings.EVIM_CONTENT_SECURITY_POLICY).

    Nothing comes from a CDN or a third party: this header makes the browser enforce it.
    A module that adds something to a page talking to another origin (the visit tracker)
    widens that page's policy for that origin only, through
    :data:`evim.backoffice.extensions.csp_additions`; when none does, the header is the
    policy of the settings, unchanged.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.directives = settings.EVIM_CONTENT_SECURITY_POLICY
        self.policy = _header(self.directives)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = self.policy_for(request)
        return response

    def policy_for(self, request: HttpRequest) -> str:
        additions = [found for addition in csp_additions if (found := addition(request))]
        if not additions:
            return self.policy
        directives = {name: list(sources) for name, sources in self.directives.items()}
        for addition in additions:
            for directive, sources in addition.items():
                if directive not in directives:
                    fallback = directives.get("default-src")
                    if fallback is None:
                        continue  # nothing restricts this directive: nothing to widen
                    # Naming the directive replaces default-src for it: keep what it allowed.
                    directives[directive] = list(fallback)
                # 'none' is only meaningful alone: an allowed source replaces it.
                allowed = [source for source in directives[directive] if source != "'none'"]
                allowed += [source for source in sources if source not in allowed]
                directives[directive] = allowed
        return _header(directives)


def _header(directives: Mapping[str, list[str]]) -> str:
    return "; ".join(
        f"{directive} {' '.join(sources)}" for directive, sources in directives.items()
    )
