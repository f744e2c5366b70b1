"""evim on PostgreSQL, as in production: migrations, users, sessions, audit rows."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.postgresql import PostgresServer
from tests.fixtures.processes import evim_environment, run_evim

LOGIN_ROUND_TRIP = """
from django.test import Client
from evim.backoffice import actions
actions.do_create_user(acting_user=None, username="jeanne", password="a-long-pass-phrase-9",
                       first_name="Jeanne", last_name="Durand")
client = Client(HTTP_HOST="localhost")
page = client.post("/login/", {"username": "jeanne", "password": "a-long-pass-phrase-9"},
                   follow=True).content.decode()
print("logged-in" if "Bonjour, Jeanne" in page else "login failed")
"""


def test_migrate_and_log_in_on_postgresql(postgresql: PostgresServer, tmp_path: Path) -> None:
    url = postgresql.create_database("evim_test_pg")
    environment = evim_environment(tmp_path, DATABASE_URL=url)
    run_evim("migrate", "--no-input", environment=environment)
    run_evim("collectstatic", "--no-input", environment=environment)  # pages need the manifest
    tables = postgresql.psql("evim_test_pg", "select tablename from pg_tables order by 1")
    assert "backoffice_user" in tables.split()
    assert "backoffice_auditentry" in tables.split()

    result = run_evim("shell", "--verbosity=0", "-c", LOGIN_ROUND_TRIP, environment=environment)
    assert result.stdout.strip() == "logged-in"
    assert postgresql.psql("evim_test_pg", "select count(*) from django_session").strip() == "1"
    audit = postgresql.psql("evim_test_pg", "select event, subject from backoffice_auditentry")
    assert audit.strip() == "user_created|jeanne"
    # Nothing of evim's state went to a SQLite file.
    assert not (tmp_path / "evim.sqlite3").exists()
