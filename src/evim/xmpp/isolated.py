"""Run a coroutine on an event loop of its own, in a thread of its own: :func:`run_isolated`.

Used for every slixmpp connection evim makes for a short job (a connection test): when
the job ends, its loop is finished off — remaining tasks cancelled and awaited, the loop
closed — so nothing slixmpp started (tasks, timers, sockets) can outlive it or pile up on
the caller's loop, whatever state the server left the client in.  The worker's default
executor (where host names are resolved) is shut down without waiting: a host-name lookup
stuck in the system resolver cannot hold the result back past the job's own time limit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

logger = logging.getLogger("evim.xmpp")

T = TypeVar("T")

#: How long the caller waits for the worker thread to end once it has delivered.
_JOIN_TIMEOUT = 1.0


async def run_isolated(factory: Callable[[], Coroutine[Any, Any, T]], *, name: str) -> T:
    """Await ``factory()`` run on a new event loop in a new thread named ``name``.

    Its result or exception comes back to the caller.  Cancelling the caller cancels the
    coroutine in its thread, waits for it to finish, and re-raises ``CancelledError``."""
    outer = asyncio.get_running_loop()
    finished: asyncio.Future[T] = outer.create_future()
    lock = threading.Lock()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[T]]] = []
    cancel_requested = threading.Event()

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        with lock:
            running.append((asyncio.get_running_loop(), task))
        if cancel_requested.is_set():
            raise asyncio.CancelledError
        return await factory()

    def deliver(outcome: Callable[[], object]) -> None:
        def apply() -> None:
            if not finished.done():
                outcome()

        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
            outer.call_soon_threadsafe(apply)

    def work() -> None:
        try:
            value = _run_loop(main)
        except asyncio.CancelledError:
            deliver(finished.cancel)
        except BaseException as error:
            deliver(functools.partial(finished.set_exception, error))
        else:
            deliver(functools.partial(finished.set_result, value))

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        result = await asyncio.shield(finished)
    except asyncio.CancelledError:
        if finished.done() and not finished.cancelled():
            raise  # the worker had finished: nothing to stop
        cancel_requested.set()
        with lock:
            for loop, task in running:
                with contextlib.suppress(RuntimeError):  # its loop is already closed
                    loop.call_soon_threadsafe(task.cancel)
        await asyncio.wait({finished})
        if not finished.cancelled():
            finished.exception()  # retrieved: no "exception never retrieved" warning
        thread.join(_JOIN_TIMEOUT)
        raise
    except BaseException:
        thread.join(_JOIN_TIMEOUT)
        raise
    thread.join(_JOIN_TIMEOUT)  # it has delivered: it ends at once
    return result


def _run_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())``, except that the default executor is not waited for."""
    loop = asyncio.new_event_loop()
    executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=2, thread_name_prefix=f"{threading.current_thread().name} resolver"
    )
    loop.set_default_executor(executor)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main())
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does with the tasks still pending at the end."""
    pending = asyncio.all_tasks(loop)
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    for task in pending:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception in an evim.xmpp job's task",
                    "exception": task.exception(),
                    "task": task,
                }
            )
