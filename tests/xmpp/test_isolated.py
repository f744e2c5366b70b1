"""run_isolated: a coroutine on its own loop and thread, results, errors and cancellation."""

from __future__ import annotations

import asyncio
import threading

import pytest

from evim.xmpp.isolated import run_isolated


def test_result_comes_from_another_thread_and_loop() -> None:
    async def job() -> tuple[str, int]:
        await asyncio.sleep(0)
        return threading.current_thread().name, id(asyncio.get_running_loop())

    async def caller() -> tuple[tuple[str, int], int]:
        return await run_isolated(job, name="isolated-test"), id(asyncio.get_running_loop())

    (thread_name, inner_loop), outer_loop = asyncio.run(caller())
    assert thread_name == "isolated-test"
    assert inner_loop != outer_loop


def test_exception_is_raised_in_the_caller() -> None:
    async def job() -> None:
        raise LookupError("from the worker")

    with pytest.raises(LookupError, match="from the worker"):
        asyncio.run(run_isolated(job, name="isolated-test"))


def test_tasks_left_behind_are_cancelled_and_the_caller_cancels_the_job() -> None:
    left_behind_cancelled = threading.Event()
    job_cancelled = threading.Event()

    async def orphan() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            left_behind_cancelled.set()
            raise

    async def finished_job() -> int:
        asyncio.get_running_loop().create_task(orphan())
        await asyncio.sleep(0)
        return 7

    assert asyncio.run(run_isolated(finished_job, name="isolated-test")) == 7
    assert left_behind_cancelled.is_set()

    started = threading.Event()

    async def endless_job() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            job_cancelled.set()
            raise

    async def caller() -> None:
        task = asyncio.create_task(run_isolated(endless_job, name="isolated-test"))
        assert await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(caller())
    assert job_cancelled.is_set()
    assert not [thread for thread in threading.enumerate() if thread.name == "isolated-test"]
