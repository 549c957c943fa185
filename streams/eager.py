"""Run a coroutine's first step at once, and make a task of the rest only if it has to wait.

Why: the fetch loop (streams/transport.py) hands every record to the agents through Faust's
`on_message` coroutine, and must be able to abandon a delivery that a rebalance's flow suspension
cuts short. Wrapping every delivery in tasks for that (Faust's `wait_first`: four tasks and an
`asyncio.wait` per record) was the largest single cost of the worker's fetch path (issue 9: 12% of
the worker's core, py-spy). A delivery almost never waits: the agents' queues have room and the
flow is on, so its first step is the whole of it. Only one that does wait needs the race.

This is what Python 3.12's eager tasks do for a task's first step; the worker runs on 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def step_eagerly(coro: Coroutine[Any, Any, T]) -> tuple[bool, Any]:
    """Run coro until it first waits: (True, its result) if it finished, else (False, the rest).

    The rest is a coroutine that drives coro to its end exactly as coro's own task would have:
    await it, or race it, and it returns coro's result or raises coro's exception. An exception
    raised by the first step is raised here.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, drive(coro, waiting_on)


async def drive(coro: Coroutine[Any, Any, T], waiting_on: Any) -> T:
    """Drive a started coroutine, which has just yielded `waiting_on` to its driver, to its end.

    As asyncio's Task steps a coroutine: `None` is a bare yield (give the loop a turn); anything else
    is the future it waits on, and it reads that future's outcome itself when resumed. A cancellation
    of this driver reaches the future (asyncio cancels what the driver awaits), so coro sees it from
    the future; if the future had already finished, the cancellation is thrown into coro instead, so
    it is never lost.
    """
    while True:
        if waiting_on is not None and not asyncio.isfuture(waiting_on):
            coro.close()
            raise RuntimeError(f"a coroutine driven like a task yielded {waiting_on!r}, not a future")
        cancelled: asyncio.CancelledError | None = None
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                # Taken over from the yield, as a task takes it: the future then lets us await it.
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except asyncio.CancelledError as exc:
            if waiting_on is None or not waiting_on.cancelled():
                cancelled = exc
        except BaseException:  # noqa: S110 - coro reads the future's exception itself
            pass
        try:
            waiting_on = coro.send(None) if cancelled is None else coro.throw(cancelled)
        except StopIteration as stop:
            return stop.value
