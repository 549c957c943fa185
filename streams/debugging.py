"""`kill -USR1 <worker pid>` logs where every piece of the worker's own code is waiting, and where
each task-events partition stands.

Faust's own SIGUSR1 dump (mode's `cry`) prints each asyncio task's stack, but the stack of a task
stops at the first async generator (`async for` over a stream), which is where every agent lives:
a stalled agent showed only `await coro`. This walks the live coroutines and async generators
instead, and logs each suspended frame of streams/ and shared/ with the line it waits on.

An idle worker with events left to read shows the same frames as a caught-up one, so the dump also
gives per partition the fetch position against the offset the fetch loop hands on next and the
committed one: a position past the cursor with nothing arriving is records fetched and dropped
(how the stall fixed in `streams.transport.Consumer._getmany` was found).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import types
from pathlib import Path
from typing import cast

from streams.app import app, settings
from streams.transport import Consumer

log = logging.getLogger(__name__)
OURS = tuple(str(Path(__file__).resolve().parents[1] / name) for name in ("streams", "shared"))


def suspended_frames() -> list[str]:
    """'file:line in function' for every suspended coroutine or async generator of our code."""
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, types.CoroutineType):
            frame = obj.cr_frame
        elif isinstance(obj, types.AsyncGeneratorType):
            frame = obj.ag_frame
        else:
            continue
        if frame is not None and frame.f_code.co_filename.startswith(OURS):
            found.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
    return sorted(found)


def partition_states() -> list[str]:
    """Per assigned task-events partition: fetch position, whether paused, cursor, committed offset.

    Read without the consumer thread's lock (a snapshot for a person, not for decisions).
    """
    consumer = cast(Consumer, app.consumer)
    aiokafka_consumer = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    subscription = aiokafka_consumer._subscription.subscription if aiokafka_consumer else None
    assignment = subscription.assignment if subscription else None
    cursors = getattr(consumer, "_cursors", {})
    lines = []
    for tp in sorted(tp for tp in consumer.assignment() if tp.topic == settings.task_events_topic):
        state = assignment.state_value(tp) if assignment else None
        position = state.position if state is not None and state.has_valid_position else None
        cursor = cursors.get(tp)
        lines.append(
            f"{tp.topic}[{tp.partition}] fetched to {position}, next to hand on"
            f" {cursor.next_offset if cursor else None}, committed {consumer._committed_offset.get(tp)},"
            f" paused {tp in consumer._paused_partitions or bool(state and state.paused)}"
        )
    return lines


def log_suspended_frames() -> None:
    """Two WARNING lines: where our code waits, and where each task-events partition stands."""
    frames = suspended_frames()
    log.warning("%d suspended frames of the worker's code:\n  %s", len(frames), "\n  ".join(frames))
    log.warning("task-events partitions:\n  %s", "\n  ".join(partition_states()))


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Answer SIGUSR1 with the dump above (replacing mode's, which stops short of the agents)."""
    loop.add_signal_handler(signal.SIGUSR1, log_suspended_frames)


@app.task
async def install_on_start() -> None:
    """Installed once the worker runs (after mode has set up its own signal handlers)."""
    install(asyncio.get_running_loop())
