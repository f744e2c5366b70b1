"""Running Prosody as a supervised child process: :class:`ProsodySupervisor` (asyncio).

Usage::

    supervisor = ProsodySupervisor(layout)
    await supervisor.start()          # config + certificate, spawn, wait until it accepts
    ...                               # supervisor.pid, supervisor.restart_count
    await supervisor.stop()           # SIGTERM, wait, SIGKILL if it hangs

or ``async with ProsodySupervisor(layout) as supervisor: ...``.

- Prosody runs in the foreground (``prosody -F --config FILE``) in its own process group,
  so a Ctrl-C in evim's terminal reaches evim, which then stops Prosody cleanly.  On Linux
  Prosody also gets SIGTERM when evim dies (``PR_SET_PDEATHSIG``), even after a
  ``kill -9``: no orphan Prosody keeps the ports.
- :meth:`ProsodySupervisor.start` returns when Prosody has written its pid file, both
  the client port and the HTTP port accept TCP connections and the admin socket
  (:mod:`~evim.managed_server.admin_shell`) accepts connections.  It fails early, with
  Prosody's own last messages, if Prosody exits first or reports a port already in use,
  and after ``layout.start_timeout``.
- If Prosody dies later it is restarted after a growing delay; more than ``max_restarts``
  deaths within ``restart_window`` seconds make the supervisor give up:
  :meth:`ProsodySupervisor.wait` then raises :class:`ProsodyCrashLoopError`.
- Tests await a restart with :meth:`ProsodySupervisor.wait_restarted`, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

from evim.managed_server.certificate import ensure_certificate
from evim.managed_server.config import write_config
from evim.managed_server.errors import (
    ManagedServerError,
    PortInUseError,
    ProsodyCrashLoopError,
    ProsodyStartError,
)
from evim.managed_server.layout import ServerLayout
from evim.managed_server.ports import (
    accepts_connections,
    accepts_unix_connections,
    port_is_free,
)
from evim.managed_server.programs import require_program

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
#: Prosody's message when it cannot listen (it then keeps running without the port).
PORT_FAILURE_MARK = "Failed to open server port"
#: Lines of Prosody's output kept to explain a failure.
OUTPUT_LINES_KEPT = 40
#: Lines quoted in an error message.
LINES_IN_ERRORS = 12


def _child_setup() -> Callable[[], None]:
    """A ``preexec_fn``: the child gets its own process group (signals to evim's terminal
    do not reach it; evim stops it itself) and, on Linux, a SIGTERM when its parent dies.

    Done here rather than with ``process_group=0``, which uvloop's loop does not accept.
    """
    prctl = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    death_signal = int(signal.SIGTERM)

    def preexec() -> None:  # runs in the child, between fork and exec
        os.setpgid(0, 0)
        if prctl is None:
            return
        prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: act as if just now
            os.kill(os.getpid(), death_signal)

    return preexec


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


def _tail(path: Path, count: int) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if line.strip()][-count:]


def _stale_prosody(layout: ServerLayout) -> int | None:
    """The pid of a live Prosody named by our pid file (left over by an earlier run)."""
    try:
        pid = int(layout.pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"prosody" in cmdline else None


def check_ports(layout: ServerLayout) -> None:
    """Raise a clear error if Prosody could not listen on the layout's ports now."""
    for host, port, setting in (
        (layout.c2s_host, layout.c2s_port, "EVIM_XMPP_C2S_PORT"),
        (layout.http_host, layout.http_port, "EVIM_XMPP_HTTP_PORT"),
    ):
        try:
            free = port_is_free(host, port)
        except OSError as error:
            raise ProsodyStartError(
                f"cannot listen on {host}:{port} ({error.strerror}); choose another port "
                f"with {setting}, or another address with EVIM_XMPP_HOST."
            ) from None
        if not free:
            stale = _stale_prosody(layout)
            detail = (
                f" (a Prosody left over from an earlier run, pid {stale}: stop it with "
                f"'kill {stale}')"
                if stale
                else ""
            )
            raise PortInUseError(host, port, setting, detail)


class ProsodySupervisor:
    """Runs, watches and restarts one Prosody for a :class:`ServerLayout`.

    Keyword options: ``max_restarts`` deaths allowed within ``restart_window`` seconds;
    ``restart_delay`` is the first delay before a restart (doubled for each recent death,
    up to ``max_restart_delay``); ``stop_timeout`` is how long a SIGTERM may take before
    SIGKILL; ``on_change(supervisor)`` is called after every change of state (ready,
    died, stopped, failed) — the daemon uses it to keep its state file current.
    ``layout_source()``, if given, is awaited before each start of Prosody (the first and
    every restart) and its layout replaces :attr:`layout`: evim passes one that reads the
    service settings again (:func:`evim.managed_server.reconfigure.service_settings_source`),
    so that Prosody always starts with the settings of the moment.  When it fails, the
    last layout is kept (and the failure logged).
    """

    def __init__(
        self,
        layout: ServerLayout,
        *,
        max_restarts: int = 5,
        restart_window: float = 60.0,
        restart_delay: float = 0.5,
        max_restart_delay: float = 10.0,
        stop_timeout: float = 10.0,
        on_change: Callable[[ProsodySupervisor], None] | None = None,
        layout_source: Callable[[], Awaitable[ServerLayout]] | None = None,
    ) -> None:
        self.layout = layout
        self.layout_source = layout_source
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.restart_delay = restart_delay
        self.max_restart_delay = max_restart_delay
        self.stop_timeout = stop_timeout
        self.on_change = on_change
        self._process: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Task[int] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._output: deque[str] = deque(maxlen=OUTPUT_LINES_KEPT)
        self._port_failure: str | None = None
        self._ready = False
        self._started = False
        self._stopping = False
        self._restart_count = 0
        self._recent_deaths: deque[float] = deque()
        self._failure: ManagedServerError | None = None
        self._done = asyncio.Event()
        self._changed = asyncio.Condition()

    # --- state --------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The pid of the running Prosody, or None between runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    @property
    def ready(self) -> bool:
        """True while a Prosody accepting connections is running."""
        return self._ready and self.pid is not None

    @property
    def restart_count(self) -> int:
        """How many times Prosody was restarted after dying."""
        return self._restart_count

    @property
    def stopped(self) -> bool:
        """True once stopped (by :meth:`stop`, or after giving up restarting)."""
        return self._done.is_set()

    @property
    def failure(self) -> ManagedServerError | None:
        """Why the supervisor gave up, if it did."""
        return self._failure

    def output_tail(self, count: int = LINES_IN_ERRORS) -> list[str]:
        """Prosody's last error lines; its log file's last lines if it printed none."""
        lines = [line for line in self._output if line.strip() and not line.startswith("****")]
        return lines[-count:] if lines else _tail(self.layout.log_path, count)

    async def _notify(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self)
            except Exception:
                logger.exception("The managed server's on_change callback failed")
        async with self._changed:
            self._changed.notify_all()

    # --- public operations ----------------------------------------------------------------------

    async def start(self, *, timeout: float | None = None) -> None:
        """Start Prosody and return once it accepts connections.

        Raises :class:`ProsodyNotFoundError`, :class:`PortInUseError` or
        :class:`ProsodyStartError` (with Prosody's last messages); nothing is left running
        then.
        """
        if self._started:
            raise RuntimeError("a ProsodySupervisor is started once")
        self._started = True
        try:
            await self._launch(timeout=timeout)
        except BaseException:
            self._done.set()
            raise
        self._monitor = asyncio.create_task(self._watch(), name="prosody-supervisor")
        await self._notify()

    async def stop(self, *, timeout: float | None = None) -> None:
        """Stop Prosody (SIGTERM, then SIGKILL after ``timeout``) and stop supervising."""
        if self._done.is_set() and self._process is None:
            return
        self._stopping = True
        monitor, self._monitor = self._monitor, None
        if monitor is not None and monitor is not asyncio.current_task():
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        await self._terminate(timeout=self.stop_timeout if timeout is None else timeout)
        self._ready = False
        self._done.set()
        await self._notify()

    async def wait(self) -> None:
        """Return when the supervisor has stopped; raise its failure if it gave up."""
        await self._done.wait()
        if self._failure is not None:
            raise self._failure

    async def wait_restarted(self, *, after: int, timeout: float | None = None) -> int:
        """Wait until ``restart_count > after`` and the new Prosody is ready; its pid.

        Raises :class:`TimeoutError` after ``timeout`` seconds, or the supervisor's failure
        if it stops instead.
        """

        def restarted() -> bool:
            return (self._restart_count > after and self.ready) or self._done.is_set()

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(restarted), timeout)
        if self._restart_count > after and self.ready and self.pid is not None:
            return self.pid
        raise self._failure or ManagedServerError("the managed Prosody was stopped")

    async def __aenter__(self) -> ProsodySupervisor:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- internals ----------------------------------------------------------------------------

    def _prepare(self) -> list[str]:
        program = require_program(self.layout.prosody_bin, "EVIM_PROSODY_BIN")
        write_config(self.layout)
        ensure_certificate(self.layout)
        check_ports(self.layout)
        return [program, "-F", "--config", str(self.layout.config_path)]

    async def _launch(self, *, timeout: float | None) -> None:
        """Spawn one Prosody and wait until it is ready; on failure, leave nothing running."""
        if self.layout_source is not None:
            try:
                self.layout = await self.layout_source()
            except Exception:
                logger.exception(
                    "Could not read the managed server's settings; starting Prosody with "
                    "the last ones"
                )
        command = self._prepare()
        self._output.clear()
        self._port_failure = None
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.layout.directory,
                preexec_fn=_child_setup(),
            )
        except OSError as error:
            raise ProsodyStartError(
                f"cannot run {command[0]} ({error.strerror}); check EVIM_PROSODY_BIN"
            ) from None
        self._process = process
        self._exited = asyncio.create_task(process.wait(), name=f"prosody-{process.pid}-exit")
        assert process.stdout is not None
        self._reader = asyncio.create_task(
            self._read_output(process.stdout), name=f"prosody-{process.pid}-output"
        )
        logger.info("Started Prosody (pid %d) with %s", process.pid, self.layout.config_path)
        try:
            await self._wait_ready(
                timeout=self.layout.start_timeout if timeout is None else timeout
            )
        except BaseException:
            await self._terminate(timeout=self.stop_timeout)
            raise
        self._ready = True
        logger.info(
            "Prosody (pid %d) accepts connections on %s:%d (HTTP %s:%d)",
            process.pid,
            self.layout.c2s_host,
            self.layout.c2s_port,
            self.layout.http_host,
            self.layout.http_port,
        )

    async def _read_output(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # an absurdly long line: keep what fits
                raw = await stream.read(65536)
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip()
            if not line:
                continue
            self._output.append(line)
            if PORT_FAILURE_MARK in line and self._port_failure is None:
                self._port_failure = line
            logger.warning("prosody: %s", line)

    def _last_messages(self, *, with_log: bool = True) -> str:
        """Prosody's last error output (or, ``with_log``, its log's last lines) to quote."""
        if with_log:
            lines = self.output_tail()
        else:
            lines = [line for line in self._output if line.strip()][-LINES_IN_ERRORS:]
        if not lines:
            return f" (see {self.layout.log_path})"
        return ". Its last messages:\n  " + "\n  ".join(lines)

    def _pidfile_names(self, pid: int) -> bool:
        try:
            return self.layout.pidfile.read_text().strip() == str(pid)
        except OSError:
            return False

    async def _wait_ready(self, *, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.01
        exited, process = self._exited, self._process
        assert exited is not None and process is not None
        process_id = process.pid
        while True:
            if exited.done():
                if self._reader is not None:  # collect its last words
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.shield(self._reader), 1.0)
                raise ProsodyStartError(
                    f"Prosody {describe_exit(exited.result())} while starting"
                    + self._last_messages()
                )
            if self._port_failure is not None:
                for host, port, setting in (
                    (self.layout.c2s_host, self.layout.c2s_port, "EVIM_XMPP_C2S_PORT"),
                    (self.layout.http_host, self.layout.http_port, "EVIM_XMPP_HTTP_PORT"),
                ):
                    if f"port {port} " in self._port_failure:
                        raise PortInUseError(host, port, setting)
                raise ProsodyStartError(f"Prosody could not listen: {self._port_failure}")
            # Prosody writes its pid file once started ("server-started"): with both ports
            # and the admin socket (provisioning) accepting connections, it is ready.  The
            # admin socket may come a few milliseconds after the ports.
            if (
                self._pidfile_names(process_id)
                and await accepts_connections(self.layout.c2s_host, self.layout.c2s_port)
                and await accepts_connections(self.layout.http_host, self.layout.http_port)
                and await accepts_unix_connections(self.layout.admin_socket)
            ):
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ProsodyStartError(
                    f"Prosody did not accept connections on {self.layout.c2s_host}:"
                    f"{self.layout.c2s_port} within {timeout:g} s (EVIM_XMPP_START_TIMEOUT)"
                    + self._last_messages()
                )
            await asyncio.wait({exited}, timeout=min(delay, remaining))
            delay = min(delay * 2, 0.25)

    async def _terminate(self, *, timeout: float) -> None:
        """Stop the current Prosody process, if any: SIGTERM, then SIGKILL after timeout."""
        process, exited, reader = self._process, self._exited, self._reader
        if process is None or exited is None:
            return
        if not exited.done():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            done, _pending = await asyncio.wait({exited}, timeout=timeout)
            if not done:
                logger.warning(
                    "Prosody (pid %d) did not stop within %g s: killing it", process.pid, timeout
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await exited
        if reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader, 1.0)
        self._process = None
        self._exited = None
        self._reader = None
        logger.info("Prosody (pid %d) %s", process.pid, describe_exit(exited.result()))

    async def _watch(self) -> None:
        """Restart Prosody whenever it dies, until stopped or too many deaths."""
        try:
            await self._restart_forever()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug must not leave a supervisor that supervises nothing
            logger.exception("The Prosody supervisor failed")
            self._failure = ManagedServerError(f"the Prosody supervisor failed: {error!r}")
            await self._terminate(timeout=self.stop_timeout)
            self._ready = False
            self._done.set()
            await self._notify()

    async def _restart_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            exited = self._exited
            assert exited is not None and self._process is not None
            returncode = await asyncio.shield(exited)
            if self._stopping:
                return
            pid = self._process.pid
            self._ready = False
            logger.warning(
                "Prosody (pid %d) %s%s",
                pid,
                describe_exit(returncode),
                self._last_messages(with_log=False),
            )
            await self._terminate(timeout=self.stop_timeout)  # collect its output, forget it
            await self._notify()
            last = f"it {describe_exit(returncode)}"
            while True:
                now = loop.time()
                self._recent_deaths.append(now)
                while self._recent_deaths and self._recent_deaths[0] < now - self.restart_window:
                    self._recent_deaths.popleft()
                if len(self._recent_deaths) > self.max_restarts:
                    self._failure = ProsodyCrashLoopError(
                        f"Prosody died {len(self._recent_deaths)} times within "
                        f"{self.restart_window:g} s, giving up (the last time {last}); "
                        f"see {self.layout.log_path}"
                    )
                    logger.error("%s", self._failure)
                    self._done.set()
                    await self._notify()
                    return
                delay = min(
                    self.restart_delay * 2 ** (len(self._recent_deaths) - 1),
                    self.max_restart_delay,
                )
                logger.warning("Restarting Prosody in %.2g s", delay)
                await asyncio.sleep(delay)
                try:
                    await self._launch(timeout=None)
                except (ManagedServerError, OSError) as error:
                    logger.error("Prosody did not restart: %s", error)
                    last = f"it did not restart: {error}"
                    continue
                break
            self._restart_count += 1
            await self._notify()
