"""Automatic synchronisation of the spaces, off the request path.

Changes of users and Jabber accounts (signals, :func:`connect`) ask for a sync when their
transaction commits (``transaction.on_commit``); :class:`SyncWorker` runs it in a
background thread of the process.  Requests arriving while one is waiting or running are
coalesced: a burst (an import of 200 accounts, a page saving several things) costs one
sync after it, :data:`QUIET_SECONDS` after the last request (at most
:data:`LONGEST_WAIT_SECONDS` after the first).  Errors are logged, never raised: a request
that triggered a sync never fails because of it, and the next change (or ``evim sync``)
tries again.  Before the ``evim`` command line exits (a command such as ``evim accounts
provision``, or ``evim run`` stopping) it lets the sync it asked for finish
(:meth:`SyncWorker.finish_pending`, :data:`AT_EXIT_SECONDS` at most): the thread is a
daemon, which the interpreter would stop half-way, and by the time ``atexit`` handlers run
the executors a sync needs are shut down.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models.signals import post_delete, post_save

logger = logging.getLogger("evim.messaging")

#: A sync starts once no request came for this long...
QUIET_SECONDS = 0.5
#: ... or this long after the first request of a burst.
LONGEST_WAIT_SECONDS = 5.0
#: How long an exiting process waits for the sync it asked for.
AT_EXIT_SECONDS = 120.0


class SyncWorker:
    """A background thread running :func:`evim.messaging.sync.do_sync` on request."""

    def __init__(self, *, quiet: float = QUIET_SECONDS, longest: float = LONGEST_WAIT_SECONDS):
        self.quiet = quiet
        self.longest = longest
        self._condition = threading.Condition()
        self._requested = 0  # requests so far
        self._completed = 0  # requests served by a finished sync (successful or not)
        self._last_request = 0.0
        self._thread: threading.Thread | None = None
        #: The number of syncs run, and the last error (for tests and diagnostics).
        self.runs = 0
        self.last_error: BaseException | None = None

    def request(self) -> None:
        """Ask for a sync soon (returns at once)."""
        with self._condition:
            self._requested += 1
            self._last_request = time.monotonic()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="evim sync", daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every request so far has been served; False on time-out."""
        with self._condition:
            return self._condition.wait_for(
                lambda: self._completed >= self._requested, timeout=timeout
            )

    def finish_pending(self) -> None:
        """Let the requested sync finish (the process is about to exit)."""
        with self._condition:
            pending = self._completed < self._requested
        if pending:
            logger.info("finishing the synchronisation of the rooms and contacts…")
            if not self.wait_idle(timeout=AT_EXIT_SECONDS):
                logger.warning(
                    "the synchronisation of the rooms and contacts did not finish; "
                    "run evim sync to complete it"
                )

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._condition.wait_for(
                    lambda: self._requested > self._completed, timeout=60
                ):
                    self._thread = None
                    return  # idle: a later request starts a new thread
                first = time.monotonic()
                # Coalesce: wait for a quiet moment (not for a condition: for time to pass).
                while True:
                    now = time.monotonic()
                    remaining = min(
                        self._last_request + self.quiet - now, first + self.longest - now
                    )
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                target = self._requested
            self._sync_once()
            with self._condition:
                self._completed = target
                self._condition.notify_all()

    def _sync_once(self) -> None:
        from evim.messaging.sync import do_sync

        self.runs += 1
        try:
            close_old_connections()
            report = do_sync(acting_user=None)
            self.last_error = None
            for line in report.not_done:
                logger.warning("automatic sync: %s", line)
        except Exception as error:  # logged: the next change (or evim sync) tries again
            self.last_error = error
            logger.error("automatic sync of the rooms and contacts failed: %s", error)
        finally:
            connections.close_all()


#: The process's worker.
worker = SyncWorker()


def request_sync() -> None:
    """Ask for a sync once the current transaction commits (now, outside one)."""
    if settings.EVIM_SYNC_AUTOMATIC:
        transaction.on_commit(worker.request)


def _user_saved(update_fields: Any = None, **_kwargs: Any) -> None:
    # A login updates last_login; a password change changes nothing in the spaces.
    if update_fields is not None and set(update_fields) <= {"last_login", "password"}:
        return
    request_sync()


def _changed(**_kwargs: Any) -> None:
    request_sync()


def connect() -> None:
    """Ask for a sync after every change of a user or a Jabber account."""
    from evim.backoffice.models import User
    from evim.messaging.models import JabberAccount

    post_save.connect(_user_saved, sender=User, dispatch_uid="evim.sync.user_saved")
    post_delete.connect(_changed, sender=User, dispatch_uid="evim.sync.user_deleted")
    for signal, name in ((post_save, "saved"), (post_delete, "deleted")):
        signal.connect(_changed, sender=JabberAccount, dispatch_uid=f"evim.sync.account_{name}")
