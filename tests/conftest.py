from __future__ import annotations

import pytest
from django.core.cache import cache
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.service import current as service_settings

pytest_plugins = [
    "tests.fixtures.prosody",
    "tests.fixtures.live_evim",
    "tests.fixtures.browser",
    "tests.fixtures.postgresql",
    "tests.fixtures.users",
    "tests.fixtures.messaging",
]


@pytest.fixture(autouse=True)
def _test_settings(settings: SettingsWrapper) -> None:
    """Django's test client renders pages without running collectstatic first (the real
    server of tests/fixtures/live_evim.py keeps the hashed, manifest storage), and a fast
    password hasher spares each test a second of PBKDF2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # login failures counted by one test must not block the next
    service_settings.forget()  # nor one test's service settings show in the next
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
