"""`kill -USR1 <worker pid>` logs where every piece of the worker's own code is waiting.

Faust's own SIGUSR1 dump (mode's `cry`) prints each asyncio task's stack, but the stack of a task
stops at the first async generator (`async for` over a stream), which is where every agent lives:
a stalled agent showed only `await coro`. This walks the live coroutines and async generators
instead, and logs each suspended frame of streams/ and shared/ with the line it waits on.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import types
from pathlib import Path

from streams.app import app

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


def log_suspended_frames() -> None:
    """One WARNING line listing where our code waits (an idle worker shows only its agents' loops)."""
    frames = suspended_frames()
    log.warning("%d suspended frames of the worker's code:\n  %s", len(frames), "\n  ".join(frames))


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Answer SIGUSR1 with the dump above (replacing mode's, which stops short of the agents)."""
    loop.add_signal_handler(signal.SIGUSR1, log_suspended_frames)


@app.task
async def install_on_start() -> None:
    """Installed once the worker runs (after mode has set up its own signal handlers)."""
    install(asyncio.get_running_loop())
