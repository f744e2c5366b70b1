"""Jabber addresses: normalised per RFC 7622, bare, with errors a person can act on."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from evim.messaging.jids import normalise_account_jid


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Jeanne@Example.ORG", "jeanne@example.org"),
        ("  jeanne@example.org  ", "jeanne@example.org"),
        ("jeanne@example.org.", "jeanne@example.org"),
        ("Inès@théâtre.example", "inès@théâtre.example"),
        ("ÉLODIE@example.org", "élodie@example.org"),
        ("a" * 1023 + "@example.org", "a" * 1023 + "@example.org"),
    ],
)
def test_normalised(given: str, expected: str) -> None:
    assert normalise_account_jid(given) == expected


@pytest.mark.parametrize(
    ("given", "code", "says"),
    [
        ("", "empty", "Enter a Jabber address"),
        ("   ", "empty", "Enter a Jabber address"),
        ("jeanne durand@example.org", "spaces", "has no spaces"),
        ("jeanne@example.org/laptop", "resource", "jeanne@example.org"),
        ("example.org", "no_localpart", "name@example.org"),
        ("@example.org", "empty_localpart", "before @ is empty"),
        ("jeanne@", "invalid", "not a valid Jabber address"),
        ("a" * 1024 + "@example.org", "too_long", "1023 bytes"),
        ("jeanne@" + "d" * 1024, "too_long", "1023 bytes"),
        ("jea<nne@example.org", "invalid", "not a valid Jabber address"),
        ("a@b@example.org", "invalid", "not a valid Jabber address"),
    ],
)
def test_refused_with_a_reason(given: str, code: str, says: str) -> None:
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        normalise_account_jid(given)
    assert caught.value.code == code
    with translation.override("en"):
        assert says in " ".join(caught.value.messages)
