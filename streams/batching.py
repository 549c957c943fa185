"""Batches of the events that are ready: no clock to wait out on a quiet stream, large batches under load.

Faust's `Stream.take_events(max_, within)` flushes its buffer on a clock: every `within` seconds, or
when `max_` events are in. An event arriving on a quiet stream therefore waits up to `within` (half
of it on average) before its agent sees it. Measured end to end at 10 task operations/s
(bench/load.py): commit-to-audit-row p50 78 ms with a 50 ms window, 46 ms with 5 ms, where the
shorter window woke the worker 200 times a second and shrank every batch under load alike.

`take_ready` hands the agent what has arrived as soon as it asks ("smart batching"): the first event
to arrive when nothing waits, or everything the stream has queued, up to `max_`, so batches grow
with the load by themselves. `gather` optionally holds a batch open a little after its first event.

While the agent works on a batch, the buffer takes nothing in, exactly as in take_events: newer
messages stay in the stream's channel, at most one waits inside the processor below. That matters
at a rebalance: Faust suspends the channels, clears their queues (the broker redelivers those
messages to the partition's next owner) and waits until every message it handed to a stream is
acked. A first version buffered up to `max_` events while the agent worked; after it landed, the
rebalance-and-kill cluster test timed out in two of three CI runs, and it was reverted. This one
holds no more unacked messages at a rebalance than take_events does.

Acknowledgement is take_events' own: a batch's events are acked when the agent asks for the next
batch, or when the generator is closed. Agents that must not ack a batch cut short hold it first
(streams/holding.py). Like take_events this adds a processor and a passive drainer to the stream
(Faust's own hooks for it); the stream's own acks are off, as take_events sets them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from faust import Stream
from faust.types import ChannelT, EventT


async def take_ready(stream: Stream, max_: int, *, gather: float = 0.0) -> AsyncIterator[list[EventT]]:
    """Yield lists of up to max_ events: all that the stream has ready, or the next one to arrive.

    With gather > 0, a batch that is not full when its first event is in waits up to gather
    seconds more for others.
    """
    waiting: list[EventT] = []
    arrived = asyncio.Event()  # set while events wait
    full = asyncio.Event()  # set while max_ events wait
    taking = asyncio.Event()  # set while the buffer takes events in: not full, no batch out
    taking.set()

    async def add_to_buffer(value: Any) -> Any:
        while not taking.is_set() and not stream.should_stop:
            await stream.wait(taking)  # type: ignore[arg-type]  # mode accepts any awaitable .wait()
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_ready found no current event for a value")
        waiting.append(event)
        arrived.set()
        if len(waiting) >= max_:
            full.set()
            taking.clear()
        return value

    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    # take_events' own passive drainer, over an iterator of the stream's channel as it makes one.
    stream._enable_passive(cast(ChannelT, aiter(stream.channel)))
    while not stream.should_stop:
        if not waiting:
            await stream.wait_for_stopped(arrived)  # type: ignore[arg-type]
        await _take_in_queued(waiting, max_)
        if gather > 0 and not full.is_set():
            await stream.wait_for_stopped(full, timeout=gather)  # type: ignore[arg-type]
        batch = list(waiting)
        waiting.clear()
        arrived.clear()
        full.clear()
        if not batch:
            continue
        taking.clear()
        try:
            yield batch
        finally:
            for event in batch:
                await stream.ack(event)
            taking.set()


async def _take_in_queued(waiting: list[EventT], max_: int) -> None:
    """Let the drainer move what the channel already holds into the buffer, until it stops growing."""
    size = -1
    while size != len(waiting) and len(waiting) < max_:
        size = len(waiting)
        await asyncio.sleep(0)
