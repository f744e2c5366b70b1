"""Named users for back-office tests (as Zulip's test cases have hamlet and iago)."""

from __future__ import annotations

import pytest
from django.test import Client

from evim.backoffice import actions
from evim.backoffice.models import User

PASSWORD = "correct-horse-battery-42"


@pytest.fixture
def camille(db: None) -> User:
    """An administrator, French-speaking."""
    return actions.do_create_user(
        acting_user=None,
        username="camille",
        password=PASSWORD,
        first_name="Camille",
        last_name="Martin",
        language="fr",
        is_administrator=True,
    )


@pytest.fixture
def jeanne(db: None) -> User:
    """A colleague without administration rights, French-speaking."""
    return actions.do_create_user(
        acting_user=None,
        username="jeanne",
        password=PASSWORD,
        first_name="Jeanne",
        last_name="Durand",
        language="fr",
    )


@pytest.fixture
def oliver(db: None) -> User:
    """A colleague who reads the back office in English."""
    return actions.do_create_user(
        acting_user=None,
        username="oliver",
        password=PASSWORD,
        first_name="Oliver",
        last_name="Bennett",
        language="en",
    )


def client_for(user: User | None) -> Client:
    client = Client(enforce_csrf_checks=False)
    if user is not None:
        client.force_login(user)
    return client
