"""The automatic sync's worker (evim.messaging.sync_worker): changes ask for a sync when they
commit, a burst of them costs one sync after it, and a change after that costs another.
Messaging is disabled here, so each sync is short: what is counted is the worker's runs."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice import actions
from evim.backoffice.models import User
from evim.messaging import sync_worker


@pytest.fixture
def worker(settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch) -> sync_worker.SyncWorker:
    """The process's worker, replaced by one that waits for 3 quiet seconds."""
    settings.EVIM_SYNC_AUTOMATIC = True
    fresh = sync_worker.SyncWorker(quiet=3.0, longest=120.0)
    monkeypatch.setattr(sync_worker, "worker", fresh)
    return fresh


def create(username: str) -> None:
    actions.do_create_user(acting_user=None, username=username, password=None)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_changes_costs_one_sync(worker: sync_worker.SyncWorker) -> None:
    for number in range(20):  # twenty transactions, one after the other
        create(f"user{number}")
    assert worker.wait_idle(timeout=120)
    assert worker.runs == 1
    assert worker.last_error is None

    create("latecomer")  # after the burst's sync: one more
    assert worker.wait_idle(timeout=120)
    assert worker.runs == 2


@pytest.mark.django_db(transaction=True)
def test_nothing_is_asked_before_the_transaction_commits(
    worker: sync_worker.SyncWorker,
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        create("never")
        raise RuntimeError("rolled back")
    assert worker.wait_idle(timeout=1)  # nothing was asked: idle at once
    assert worker.runs == 0

    with transaction.atomic():
        for number in range(5):
            create(f"user{number}")
    assert worker.wait_idle(timeout=120)
    assert worker.runs == 1


@pytest.mark.django_db(transaction=True)
def test_logging_in_asks_for_no_sync(worker: sync_worker.SyncWorker) -> None:
    create("camille")
    assert worker.wait_idle(timeout=120)
    assert worker.runs == 1
    user = User.objects.get(username="camille")
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    assert worker.wait_idle(timeout=120)  # had it asked, this would wait for a second run
    assert worker.runs == 1
