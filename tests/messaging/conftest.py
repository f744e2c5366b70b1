"""Messaging enabled, accounts' keys in a throw-away file, and a way to put evim on the
session's real Prosody."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.messaging.project_config import get_messaging_config
from tests.fixtures.prosody import RunningProsody

ENABLED = "all:\n  messaging:\n    enable: true\n    chatrooms: [lilas@conference.evim.test]\n"


@pytest.fixture
def messaging_enabled(tmp_path: Path, settings: SettingsWrapper) -> Iterator[Path]:
    path = tmp_path / "project.yml"
    path.write_text(ENABLED)
    settings.EVIM_ACCOUNT_KEYS = ""
    settings.EVIM_ACCOUNT_KEYS_PATH = tmp_path / "account-keys"
    with override_settings(EVIM_PROJECT_YML=path, EVIM_ENV="prod"):
        get_messaging_config.cache_clear()
        yield path
    get_messaging_config.cache_clear()


@pytest.fixture
def on_managed_prosody(
    messaging_enabled: Path, settings: SettingsWrapper, managed_prosody: RunningProsody
) -> RunningProsody:
    """evim's settings pointing at the session's managed Prosody (domain evim.test)."""
    layout = managed_prosody.layout
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_DATA_DIR = layout.directory.parent
    settings.EVIM_XMPP_DOMAIN = layout.domain
    settings.EVIM_XMPP_MUC_HOST = layout.muc_host
    settings.EVIM_XMPP_HOST = layout.c2s_host
    settings.EVIM_XMPP_C2S_PORT = layout.c2s_port
    settings.EVIM_XMPP_HTTP_PORT = layout.http_port
    return managed_prosody
