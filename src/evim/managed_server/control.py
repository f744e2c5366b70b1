"""The managed XMPP server for ``evim run``: reuse a running one, or run it in-process.

Public API:

- ``async with managed_server_for_run(report=print) as supervisor:`` — for the duration
  of the block, the XMPP server evim needs is up:

  * ``EVIM_XMPP_SERVER=external``: nothing is started; yields None;
  * a supervisor already runs for the data directory (``evim xmpp start``, or another
    ``evim run``): it is reused once it accepts connections; yields None;
  * otherwise a :class:`ProsodySupervisor` is started in the current event loop and
    yielded; it is stopped (SIGTERM, wait) when the block exits.

  ``report`` receives one human-readable line saying which case applied.  Failures raise
  :class:`~evim.managed_server.errors.ManagedServerError` subclasses (``EvimError``: one
  clear line).  If Prosody keeps crashing while evim runs, the supervisor gives up and
  ``await supervisor.wait()`` raises ``ProsodyCrashLoopError``.
- :func:`ensure_running_in_process` (``layout, *, timeout``) →
  ``ProsodySupervisor | None`` — the same without the context manager: None when an
  existing supervisor is reused, else a started supervisor the caller must ``stop()``.
- :func:`running_server` (``layout=None, *, timeout``) — the context manager with an
  explicit layout (tests), without reporting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from evim.managed_server.daemon import (
    OWNER_IN_PROCESS,
    SupervisionSession,
    SupervisorLock,
    server_status,
)
from evim.managed_server.errors import ManagedServerError, ProsodyStartError
from evim.managed_server.layout import ServerLayout
from evim.managed_server.ports import accepts_connections
from evim.managed_server.reconfigure import apply_current_settings, service_settings_source
from evim.managed_server.supervisor import ProsodySupervisor

logger = logging.getLogger(__name__)


def _comparable(layout: ServerLayout) -> ServerLayout:
    # The service settings are the database's, the same for every process: not compared.
    return dataclasses.replace(layout.without_service_settings(), start_timeout=1.0)


async def ensure_running_in_process(
    layout: ServerLayout, *, timeout: float | None = None, follow_settings: bool = False
) -> ProsodySupervisor | None:
    """Reuse a running supervisor (returns None) or start one in this event loop.

    The returned supervisor must be stopped by the caller (``await supervisor.stop()``).
    Raises :class:`ManagedServerError` subclasses when Prosody cannot be started, or when
    the one already running uses other settings (ports, domain) than ``layout``.
    ``follow_settings``: Prosody gets the service settings of the database (read before
    each start; applied to one already running) — what ``evim run`` does.
    """
    timeout = layout.start_timeout if timeout is None else timeout
    layout.prepare_directories()
    lock = SupervisorLock(layout.lock_path)
    if lock.acquire():
        session = SupervisionSession(layout, lock, OWNER_IN_PROCESS)
        supervisor = ProsodySupervisor(
            layout,
            on_change=session.on_change,
            layout_source=service_settings_source(layout) if follow_settings else None,
        )
        try:
            await supervisor.start(timeout=timeout)
        except BaseException:
            session.close()
            raise
        return supervisor
    status = server_status(layout)
    if _comparable(status.layout) != _comparable(layout):
        raise ManagedServerError(
            f"a managed XMPP server already runs from {layout.directory} (pid "
            f"{status.supervisor_pid}) with other settings (domain {status.layout.domain}, "
            f"port {status.layout.c2s_port}); stop it with 'evim xmpp stop' first"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.02
    while not await accepts_connections(layout.c2s_host, layout.c2s_port):
        if loop.time() >= deadline:
            raise ProsodyStartError(
                f"the managed XMPP server run by pid {status.supervisor_pid} does not accept "
                f"connections on {layout.c2s_host}:{layout.c2s_port}; see {layout.log_path}"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)
    logger.info("Using the managed XMPP server run by pid %s", status.supervisor_pid)
    if follow_settings:  # it may have started before a change of the service settings
        await apply_current_settings(layout)
    return None


@asynccontextmanager
async def running_server(
    layout: ServerLayout | None = None,
    *,
    timeout: float | None = None,
    follow_settings: bool | None = None,
) -> AsyncIterator[ProsodySupervisor | None]:
    """The managed Prosody for the duration of the block.

    Without ``layout``: nothing is started if ``EVIM_XMPP_SERVER`` is ``external``, else the
    layout comes from the settings.  Yields the supervisor started here, or None.
    ``follow_settings`` (see :func:`ensure_running_in_process`): by default, only when the
    layout comes from the settings.
    """
    if layout is None:
        from django.conf import settings

        if settings.EVIM_XMPP_SERVER != "managed":
            yield None
            return
        layout = ServerLayout.from_settings()
        if follow_settings is None:
            follow_settings = True
    supervisor = await ensure_running_in_process(
        layout, timeout=timeout, follow_settings=bool(follow_settings)
    )
    try:
        yield supervisor
    finally:
        if supervisor is not None:
            await supervisor.stop()


@asynccontextmanager
async def managed_server_for_run(
    *, report: Callable[[str], object] | None = None, timeout: float | None = None
) -> AsyncIterator[ProsodySupervisor | None]:
    """What ``evim run`` needs: see the module docstring."""
    from django.conf import settings

    def say(line: str) -> None:
        logger.info("%s", line)
        if report is not None:
            report(line)

    if settings.EVIM_XMPP_SERVER != "managed":
        host = settings.EVIM_XMPP_HOST or settings.EVIM_XMPP_DOMAIN
        say(
            f"XMPP server: external ({host}:{settings.EVIM_XMPP_C2S_PORT}, domain "
            f"{settings.EVIM_XMPP_DOMAIN}); evim starts nothing."
        )
        yield None
        return
    layout = ServerLayout.from_settings()
    async with running_server(layout, timeout=timeout, follow_settings=True) as supervisor:
        if supervisor is None:
            status = server_status(layout)
            say(
                f"XMPP server: using the managed Prosody already running (supervisor pid "
                f"{status.supervisor_pid}) on {layout.c2s_host}:{layout.c2s_port}."
            )
        else:
            say(
                f"XMPP server: started the managed Prosody (pid {supervisor.pid}) for "
                f"{layout.domain} on {layout.c2s_host}:{layout.c2s_port}, WebSocket "
                f"{layout.websocket_url}."
            )
        yield supervisor
