"""The Content-Security-Policy header and what modules add to it for one response
(:data:`evim.backoffice.extensions.csp_additions`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.extensions import CspAddition, csp_additions
from evim.backoffice.middleware import ContentSecurityPolicyMiddleware

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
}
TODAY = "default-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'"


@pytest.fixture
def add() -> Iterator[Callable[[CspAddition], None]]:
    """Register additions for one test (the list is the back office's, shared)."""
    added: list[CspAddition] = []

    def register(addition: CspAddition) -> None:
        added.append(addition)
        csp_additions.append(addition)

    yield register
    for addition in added:
        csp_additions.remove(addition)


def header(settings: SettingsWrapper, response: HttpResponse | None = None) -> str:
    settings.EVIM_CONTENT_SECURITY_POLICY = POLICY
    middleware = ContentSecurityPolicyMiddleware(lambda _request: response or HttpResponse())
    policy: str = middleware(RequestFactory().get("/"))["Content-Security-Policy"]
    return policy


def test_without_additions_the_policy_of_the_settings(settings: SettingsWrapper) -> None:
    assert header(settings) == TODAY


def test_an_empty_addition_changes_nothing(
    settings: SettingsWrapper, add: Callable[[CspAddition], None]
) -> None:
    add(lambda _request: {})
    assert header(settings) == TODAY


def test_an_addition_widens_its_directive_only(
    settings: SettingsWrapper, add: Callable[[CspAddition], None]
) -> None:
    add(lambda _request: {"connect-src": ["https://stats.example.org", "'self'"]})
    add(lambda _request: {"connect-src": ["https://stats.example.org"]})
    assert header(settings) == (
        "default-src 'self'; script-src 'self'; "
        "connect-src 'self' https://stats.example.org; object-src 'none'"
    )


def test_a_directive_the_policy_leaves_to_default_src_keeps_what_it_allowed(
    settings: SettingsWrapper, add: Callable[[CspAddition], None]
) -> None:
    add(lambda _request: {"img-src": ["https://stats.example.org"]})
    add(lambda _request: {"object-src": ["https://stats.example.org"]})
    assert header(settings) == (
        "default-src 'self'; script-src 'self'; connect-src 'self'; "
        "object-src https://stats.example.org; img-src 'self' https://stats.example.org"
    )


def test_an_addition_sees_the_request_and_a_policy_set_by_the_view_is_kept(
    settings: SettingsWrapper, add: Callable[[CspAddition], None]
) -> None:
    seen: list[HttpRequest] = []

    def addition(request: HttpRequest) -> dict[str, list[str]]:
        seen.append(request)
        return {"connect-src": ["https://a.example"]}

    add(addition)
    assert "https://a.example" in header(settings)
    assert [request.path for request in seen] == ["/"]
    own = HttpResponse()
    own["Content-Security-Policy"] = "default-src 'none'"
    assert header(settings, own) == "default-src 'none'"
    assert len(seen) == 1  # not even asked
