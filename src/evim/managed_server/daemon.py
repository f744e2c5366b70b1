"""Who runs the managed Prosody: a detached supervisor, or ``evim run`` itself.

One process at a time supervises the Prosody of a directory: it holds an exclusive
``flock`` on ``supervisor.lock`` (released by the kernel however that process ends, so a
stale pid file never fools anyone) and keeps ``supervisor.json`` current (owner, pids,
ports, readiness).

Public API:

- :func:`server_status` (``layout``) → :class:`ServerStatus` — running or not, which
  process owns it, the pids and the layout it runs with.
- :func:`start_daemon` (``layout, *, timeout``) → ``(started, ServerStatus)`` — spawns
  ``evim xmpp supervise`` detached (own session, output appended to
  ``supervisor.log``) and waits until Prosody accepts connections; ``started`` is False if
  one was already running.  Raises :class:`ManagedServerError` subclasses on failure.
- :func:`stop_daemon` (``layout, *, timeout``) → ``bool`` — SIGTERMs the detached
  supervisor (which stops Prosody cleanly) and waits for it; False if nothing was running.
- :func:`supervise_in_foreground` (``layout, *, ready_fd``) → exit code — the body of the
  hidden ``evim xmpp supervise`` command.
- :class:`SupervisorLock`, :class:`SupervisionSession`: the lock and state file, also used
  by :mod:`evim.managed_server.control` when ``evim run`` supervises Prosody itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evim.managed_server.errors import ManagedServerError, ProsodyStartError
from evim.managed_server.files import write_atomically
from evim.managed_server.layout import ServerLayout
from evim.managed_server.programs import require_program
from evim.managed_server.reconfigure import service_settings_source
from evim.managed_server.supervisor import ProsodySupervisor, check_ports

logger = logging.getLogger(__name__)

OWNER_DAEMON = "daemon"
OWNER_IN_PROCESS = "in-process"
#: Time for the supervisor process itself to start (Python, Django) on top of Prosody's.
PROCESS_START_MARGIN = 15.0
STOP_TIMEOUT = 15.0


# --- the lock ---------------------------------------------------------------------------------


class SupervisorLock:
    """The exclusive, non-blocking ``flock`` owned by the supervising process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; True on success."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock


def lock_is_held(layout: ServerLayout) -> bool:
    """True if some process (this one included) supervises ``layout``'s Prosody."""
    if not layout.lock_path.exists():
        return False
    probe = SupervisorLock(layout.lock_path)
    if probe.acquire():
        probe.release()
        return False
    return True


# --- state --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerStatus:
    """What ``evim xmpp status`` reports.  ``layout`` is the running instance's own."""

    running: bool
    layout: ServerLayout
    owner: str | None = None
    supervisor_pid: int | None = None
    prosody_pid: int | None = None
    ready: bool = False
    restart_count: int = 0


def _read_state(layout: ServerLayout) -> dict[str, Any] | None:
    try:
        data = json.loads(layout.state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def server_status(layout: ServerLayout) -> ServerStatus:
    """Whether a supervisor runs ``layout``'s Prosody, and its details."""
    if not lock_is_held(layout):
        return ServerStatus(running=False, layout=layout)
    state = _read_state(layout) or {}
    running_layout = layout
    with contextlib.suppress(KeyError, TypeError, ValueError):
        running_layout = ServerLayout.from_json(json.dumps(state["layout"]))
    return ServerStatus(
        running=True,
        layout=running_layout,
        owner=state.get("owner"),
        supervisor_pid=state.get("supervisor_pid"),
        prosody_pid=state.get("prosody_pid"),
        ready=bool(state.get("ready")),
        restart_count=int(state.get("restart_count") or 0),
    )


class SupervisionSession:
    """A held lock plus the state file, for one supervising process.

    Pass :meth:`on_change` to the :class:`ProsodySupervisor`: it keeps the state file
    current and, once the supervisor stops, removes it and releases the lock.
    """

    def __init__(self, layout: ServerLayout, lock: SupervisorLock, owner: str) -> None:
        self.layout = layout
        self.lock = lock
        self.owner = owner
        self.write_state(None)

    def write_state(self, supervisor: ProsodySupervisor | None) -> None:
        state = {
            "owner": self.owner,
            "supervisor_pid": os.getpid(),
            "prosody_pid": supervisor.pid if supervisor else None,
            "ready": supervisor.ready if supervisor else False,
            "restart_count": supervisor.restart_count if supervisor else 0,
            "failure": str(supervisor.failure) if supervisor and supervisor.failure else None,
            "layout": json.loads(self.layout.to_json()),
        }
        write_atomically(
            self.layout.state_path, (json.dumps(state, indent=2) + "\n").encode(), mode=0o644
        )

    def on_change(self, supervisor: ProsodySupervisor) -> None:
        if supervisor.stopped:
            self.close()
        elif self.lock.held:
            self.write_state(supervisor)

    def close(self) -> None:
        if self.lock.held:
            with contextlib.suppress(FileNotFoundError):
                self.layout.state_path.unlink()
            self.lock.release()


# --- waiting for processes -------------------------------------------------------------------


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` has exited; False on timeout.  Uses a pidfd (no polling)."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (OSError, AttributeError):  # no pidfd (old kernel): poll with a short backoff
        deadline = time.monotonic() + timeout
        delay = 0.01
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        return False
    try:
        readable, _, _ = select.select([descriptor], [], [], timeout)
        return bool(readable)
    finally:
        os.close(descriptor)


# --- the detached supervisor -------------------------------------------------------------------


def _report(ready_fd: int | None, message: dict[str, Any]) -> None:
    if ready_fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(ready_fd, (json.dumps(message) + "\n").encode())
    with contextlib.suppress(OSError):
        os.close(ready_fd)


async def supervise_in_foreground(
    layout: ServerLayout, *, ready_fd: int | None = None, follow_settings: bool = False
) -> int:
    """Run Prosody under a supervisor until SIGTERM/SIGINT; the process exit code.

    ``ready_fd``, if given, receives one JSON line once Prosody is ready (``{"ok": true}``)
    or failed (``{"ok": false, "error": ...}``), then is closed.  ``follow_settings``:
    each start of Prosody reads the service settings from the database (``evim xmpp
    supervise`` does).
    """
    layout.prepare_directories()
    lock = SupervisorLock(layout.lock_path)
    if not lock.acquire():
        status = server_status(layout)
        _report(ready_fd, {"ok": True, "already": True, "pid": status.supervisor_pid})
        return 0
    session = SupervisionSession(layout, lock, OWNER_DAEMON)
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop_requested.set)
    supervisor = ProsodySupervisor(
        layout,
        on_change=session.on_change,
        layout_source=service_settings_source(layout) if follow_settings else None,
    )
    try:
        try:
            await supervisor.start()
        except ManagedServerError as error:
            logger.error("%s", error)
            _report(ready_fd, {"ok": False, "error": str(error)})
            return 1
        _report(ready_fd, {"ok": True, "prosody_pid": supervisor.pid})
        finished = asyncio.create_task(supervisor.wait())
        stop = asyncio.create_task(stop_requested.wait())
        await asyncio.wait({finished, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not finished.done():
            logger.info("Stopping the managed Prosody")
            await supervisor.stop()
        try:
            await finished
        except ManagedServerError as error:
            logger.error("%s", error)
            return 1
        return 0
    finally:
        await supervisor.stop()
        session.close()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)


def _read_report(descriptor: int, timeout: float) -> dict[str, Any] | None:
    """The supervisor's JSON line, or None if it closed the pipe without one or timed out."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        readable, _, _ = select.select([descriptor], [], [], remaining)
        if not readable:
            raise TimeoutError
        chunk = os.read(descriptor, 65536)
        if not chunk:
            break
        data += chunk
    try:
        message = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _log_tail(path: Path, count: int = 12) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n  ".join(line for line in lines[-count:] if line.strip())


def start_daemon(
    layout: ServerLayout, *, timeout: float | None = None
) -> tuple[bool, ServerStatus]:
    """Start a detached supervisor unless one runs; ``(started_now, status)``."""
    status = server_status(layout)
    if status.running:
        return False, status
    # The usual mistakes are reported at once, without a process start; the supervisor
    # checks again (a port may be taken meanwhile).
    require_program(layout.prosody_bin, "EVIM_PROSODY_BIN")
    check_ports(layout)
    layout.prepare_directories()
    timeout = layout.start_timeout + PROCESS_START_MARGIN if timeout is None else timeout
    read_end, write_end = os.pipe()
    command = [
        sys.executable,
        "-m",
        "evim",
        "xmpp",
        "supervise",
        "--layout-json",
        layout.to_json(),
        "--ready-fd",
        str(write_end),
    ]
    try:
        with layout.supervisor_log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_end,),
                start_new_session=True,
            )
        os.close(write_end)
        write_end = -1
        try:
            report = _read_report(read_end, timeout)
        except TimeoutError:
            process.terminate()
            raise ProsodyStartError(
                f"the managed XMPP server did not become ready within {timeout:g} s; "
                f"see {layout.supervisor_log_path}"
            ) from None
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    if report is None:
        process.wait()
        tail = _log_tail(layout.supervisor_log_path)
        raise ProsodyStartError(
            f"the XMPP supervisor exited ({process.returncode}) before Prosody was ready"
            + (f"; its last messages:\n  {tail}" if tail else "")
        )
    if not report.get("ok"):
        process.wait()
        raise ManagedServerError(str(report.get("error") or "the managed server did not start"))
    return not report.get("already"), server_status(layout)


def stop_daemon(layout: ServerLayout, *, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the detached supervisor and its Prosody; False if none was running."""
    status = server_status(layout)
    if not status.running:
        return False
    pid = status.supervisor_pid
    if pid is None:
        raise ManagedServerError("the managed XMPP server is starting; try again in a moment")
    if status.owner == OWNER_IN_PROCESS:
        raise ManagedServerError(
            f"the managed XMPP server is run by an 'evim run' process (pid {pid}); "
            "stop that process instead"
        )
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_for_exit(pid, timeout):
        logger.warning(
            "The XMPP supervisor (pid %d) did not stop within %g s: killing it", pid, timeout
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid, 5.0)
    if status.prosody_pid is not None:  # normally already gone; else PDEATHSIG is on its way
        wait_for_exit(status.prosody_pid, timeout)
    if not lock_is_held(layout):
        with contextlib.suppress(FileNotFoundError):
            layout.state_path.unlink()
    return True
