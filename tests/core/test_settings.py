"""Settings come from the environment; evim refuses bad values with one clear line."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.fixtures.processes import evim_environment, run_evim


def test_defaults_keep_state_in_the_data_directory(tmp_path: Path) -> None:
    environment = evim_environment(tmp_path)
    result = run_evim(
        "shell",
        "--verbosity=0",
        "-c",
        "from django.conf import settings as s; print(s.DATABASES['default']['NAME']); "
        "print(s.LANGUAGE_CODE, s.EVIM_XMPP_SERVER, s.EVIM_XMPP_MUC_HOST)",
        environment=environment,
    )
    assert result.stdout.split("\n")[:2] == [
        str(tmp_path / "evim.sqlite3"),
        "fr managed conference.localhost",
    ]
    key = tmp_path / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_database_url_selects_postgresql(tmp_path: Path) -> None:
    environment = evim_environment(
        tmp_path, DATABASE_URL="postgresql://evim:pw@db.example:6543/evim_prod"
    )
    result = run_evim(
        "shell",
        "--verbosity=0",
        "-c",
        "from django.conf import settings as s; d = s.DATABASES['default']; "
        "print(d['ENGINE'], d['HOST'], d['PORT'], d['NAME'])",
        environment=environment,
    )
    assert result.stdout.strip() == "django.db.backends.postgresql db.example 6543 evim_prod"


def test_bad_database_url_is_one_clear_line(tmp_path: Path) -> None:
    environment = evim_environment(tmp_path, DATABASE_URL="mysql://u:p@h/db")
    result = run_evim("check", environment=environment, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("evim: error: DATABASE_URL: expected a postgresql://")
    assert "Traceback" not in result.stderr


def test_bad_port_is_one_clear_line(tmp_path: Path) -> None:
    environment = evim_environment(tmp_path, EVIM_PORT="eighty")
    result = run_evim("check", environment=environment, check=False)
    assert result.returncode == 2
    assert "EVIM_PORT: expected an integer between 1 and 65535, found 'eighty'" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x" * 20 + "-production-secret-key-with-enough-entropy-0123456789\n")
    environment = evim_environment(
        tmp_path,
        EVIM_HTTPS="1",
        EVIM_ALLOWED_HOSTS="bo.theatre.example",
        EVIM_SECRET_KEY_FILE=str(secret),
    )
    result = run_evim("check", "--deploy", "--fail-level", "WARNING", environment=environment)
    assert "System check identified no issues" in result.stdout


def test_check_deploy_complains_without_https(tmp_path: Path) -> None:
    result = run_evim(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        environment=evim_environment(tmp_path),
        check=False,
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # no HSTS
