"""Who sees which menu entry: Paramétrage > Général > Messagerie only for administrators,
and only when messaging is enabled in project.yml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from evim.backoffice.models import User
from evim.messaging.project_config import get_messaging_config
from tests.fixtures.users import client_for

ENABLED = "all:\n  messaging:\n    enable: true\n    chatrooms: [lilas@conference.localhost]\n"
DISABLED = "all:\n  messaging:\n    enable: false\n"


@pytest.fixture
def project_yml(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "project.yml"
    with override_settings(EVIM_PROJECT_YML=path, EVIM_ENV="prod"):
        get_messaging_config.cache_clear()
        yield path
    get_messaging_config.cache_clear()


def menu_entries(user: User) -> set[str]:
    page = client_for(user).get("/").content.decode()
    return {
        entry
        for entry in ("users", "messaging-settings", "profile", "home")
        if f'data-menu="{entry}"' in page
    }


def test_administrator_sees_messaging_when_enabled(camille: User, project_yml: Path) -> None:
    project_yml.write_text(ENABLED)
    assert menu_entries(camille) == {"home", "users", "messaging-settings", "profile"}


def test_administrator_without_messaging_sees_no_messaging(
    camille: User, project_yml: Path
) -> None:
    project_yml.write_text(DISABLED)
    assert menu_entries(camille) == {"home", "users", "profile"}


def test_missing_project_yml_means_no_messaging(camille: User, project_yml: Path) -> None:
    assert not project_yml.exists()
    assert menu_entries(camille) == {"home", "users", "profile"}


def test_colleague_never_sees_settings_of_others(jeanne: User, project_yml: Path) -> None:
    project_yml.write_text(ENABLED)
    assert menu_entries(jeanne) == {"home", "profile"}


def test_menu_is_laid_out_like_e_venement(camille: User, project_yml: Path) -> None:
    project_yml.write_text(ENABLED)
    page = client_for(camille).get("/").content.decode()
    settings_at = page.index("Paramétrage")
    general_at = page.index("Général", settings_at)
    assert page.index('data-menu="messaging-settings"', general_at) > general_at
    assert ">Messagerie<" in page


def test_messaging_page_exists_only_when_enabled(camille: User, project_yml: Path) -> None:
    project_yml.write_text(DISABLED)
    assert client_for(camille).get("/messaging/settings/").status_code == 404
    project_yml.write_text(ENABLED)
    get_messaging_config.cache_clear()
    response = client_for(camille).get("/messaging/settings/")
    assert response.status_code == 200
    assert "lilas@conference.localhost" in response.content.decode()


def test_messaging_page_is_for_administrators(jeanne: User, project_yml: Path) -> None:
    project_yml.write_text(ENABLED)
    assert client_for(jeanne).get("/messaging/settings/").status_code == 403
    assert client_for(jeanne).post("/messaging/settings/").status_code == 403
