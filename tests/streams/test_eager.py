"""Stepping a delivery eagerly: the first step at once, the rest driven exactly as its task would have.

The fetch loop relies on two things: a delivery that never waits is finished by its first step (no
task, no race), and one that waits can still be abandoned, so that what it waited to do never happens.
"""

from __future__ import annotations

import asyncio

import pytest

from streams.eager import step_eagerly


async def put(queue: asyncio.Queue[int], item: int) -> str:
    await queue.put(item)
    return "put"


def test_a_coroutine_that_never_waits_is_finished_by_its_first_step() -> None:
    async def scenario() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        tasks_before = len(asyncio.all_tasks())
        assert step_eagerly(put(queue, 1)) == (True, "put")
        assert queue.get_nowait() == 1
        assert len(asyncio.all_tasks()) == tasks_before, "no task was needed"

    asyncio.run(scenario())


async def put_waiting_for_room(queue: asyncio.Queue[int]) -> asyncio.Future[str]:
    """Fill the queue, step a put of 1 into it eagerly, and drive the rest: it waits for room."""
    queue.put_nowait(0)
    finished, rest = step_eagerly(put(queue, 1))
    assert not finished
    driving = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    assert not driving.done(), "still waiting for room"
    return driving


def test_a_coroutine_that_waits_is_finished_by_driving_the_rest() -> None:
    async def scenario() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        driving = await put_waiting_for_room(queue)
        assert queue.get_nowait() == 0
        assert await driving == "put"
        assert queue.get_nowait() == 1

    asyncio.run(scenario())


def test_abandoning_the_rest_cancels_what_the_coroutine_waited_to_do() -> None:
    async def scenario() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        driving = await put_waiting_for_room(queue)
        driving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await driving
        assert queue.get_nowait() == 0
        await asyncio.sleep(0)
        assert queue.empty(), "the abandoned put never happened"

    asyncio.run(scenario())


def test_a_cancellation_after_the_awaited_future_finished_still_reaches_the_coroutine() -> None:
    async def scenario() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        seen: list[str] = []

        async def waits() -> int:
            try:
                value = await future
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise
            seen.append("resumed")
            return value

        finished, rest = step_eagerly(waits())
        assert not finished
        driving = asyncio.ensure_future(rest)
        await asyncio.sleep(0)
        future.set_result(7)
        driving.cancel()  # the future is done: the cancellation cannot go through it
        with pytest.raises(asyncio.CancelledError):
            await driving
        assert seen == ["cancelled"]

    asyncio.run(scenario())


def test_the_awaited_futures_exception_is_the_coroutines_to_handle() -> None:
    async def scenario() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def handles() -> str:
            try:
                await future
            except KeyError:
                await asyncio.sleep(0)  # a bare yield on the way is driven too
                return "handled"
            return "not raised"

        finished, rest = step_eagerly(handles())
        assert not finished
        future.set_exception(KeyError("x"))
        assert await rest == "handled"

    asyncio.run(scenario())


def test_errors_of_either_step_reach_the_caller() -> None:
    async def fails_at_once() -> None:
        raise ValueError("first step")

    async def fails_later(future: asyncio.Future[None]) -> None:
        await future
        raise ValueError("later step")

    async def scenario() -> None:
        with pytest.raises(ValueError, match="first step"):
            step_eagerly(fails_at_once())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        finished, rest = step_eagerly(fails_later(future))
        assert not finished
        future.set_result(None)
        with pytest.raises(ValueError, match="later step"):
            await rest

    asyncio.run(scenario())


def test_a_coroutine_yielding_what_no_task_could_wait_for_is_refused() -> None:
    class Odd:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield 5

    async def odd() -> None:
        await Odd()

    async def scenario() -> None:
        finished, rest = step_eagerly(odd())
        assert not finished
        with pytest.raises(RuntimeError, match="yielded 5"):
            await rest

    asyncio.run(scenario())
