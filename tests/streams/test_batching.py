"""take_ready: an agent gets what is waiting at once, what piled up while it worked as one batch, and
the stream takes in no more than one event while a batch is out (what a rebalance relies on).

Driven through Faust's test_context() on an app of its own (memory store, no broker), so the agents
here never join the product's app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

import faust
import pytest
from faust import Stream, StreamT

from streams.batching import take_ready

app = faust.App("test-batching", store="memory://", autodiscover=False)
LIMIT = 10.0  # seconds: a guard against hanging, never a measure


@dataclass
class Recorder:
    """What a batching agent saw: each batch, and how many values the stream took from its channel."""

    batches: list[list[int]] = field(default_factory=list)
    taken: int = 0
    releases: list[asyncio.Event] = field(default_factory=list)


def batching_agent(max_: int, *, gather: float = 0.0, held: int = 1) -> tuple[faust.types.AgentT, Recorder]:
    """An agent on its own channel recording each batch; it holds each of its first `held` until released."""
    seen = Recorder(releases=[asyncio.Event() for _ in range(held)])

    async def count_taken(value: Any) -> Any:
        seen.taken += 1
        return value

    async def body(stream: StreamT) -> None:
        concrete = stream_of(stream)
        concrete.add_processor(count_taken)  # runs before take_ready's own, so it counts held ones too
        async for events in take_ready(concrete, max_, gather=gather):
            seen.batches.append([cast(int, event.value) for event in events])
            if len(seen.batches) <= held:
                await seen.releases[len(seen.batches) - 1].wait()

    agent = app.agent(app.channel(), name=f"batching-{max_}-{gather}-{held}")(body)
    return agent, seen


def stream_of(stream: StreamT) -> Stream:
    """The concrete stream (take_ready uses its processor and drainer hooks)."""
    assert isinstance(stream, Stream)
    return stream


async def until(condition: Callable[[], bool]) -> None:
    """Wait, yielding to the loop, until condition holds (fail after LIMIT seconds)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), LIMIT)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run one scenario on a fresh event loop."""
    asyncio.run(scenario())


def test_a_lone_event_is_handed_over_alone_and_what_piles_up_comes_next_in_one_batch() -> None:
    async def scenario() -> None:
        agent, seen = batching_agent(max_=10)
        async with agent.test_context() as tested:
            await tested.put(1)
            await until(lambda: len(seen.batches) == 1)
            for value in range(2, 7):  # while the agent still works on the first batch
                await tested.put(value, wait=False)
            seen.releases[0].set()
            await until(lambda: len(seen.batches) == 2)
        assert seen.batches == [[1], [2, 3, 4, 5, 6]]

    run(scenario)


def test_while_a_batch_is_out_the_stream_takes_in_at_most_one_more_event() -> None:
    async def scenario() -> None:
        agent, seen = batching_agent(max_=10)
        async with agent.test_context() as tested:
            await tested.put(1)
            await until(lambda: len(seen.batches) == 1)
            for value in range(2, 7):
                await tested.put(value, wait=False)
            await asyncio.sleep(0.2)  # room for a drainer that would take more in
            # The rest stay in the channel, which a rebalance clears for the broker to redeliver.
            assert seen.taken == 2
            seen.releases[0].set()
            await until(lambda: seen.taken == 6)

    run(scenario)


def test_a_batch_never_exceeds_max_and_nothing_is_lost_or_reordered() -> None:
    async def scenario() -> None:
        agent, seen = batching_agent(max_=3)
        async with agent.test_context() as tested:
            await tested.put(1)
            await until(lambda: len(seen.batches) == 1)
            for value in range(2, 9):
                await tested.put(value, wait=False)
            seen.releases[0].set()
            await until(lambda: sum(map(len, seen.batches)) == 8)
        assert all(len(batch) <= 3 for batch in seen.batches)
        assert [value for batch in seen.batches for value in batch] == list(range(1, 9))

    run(scenario)


def test_a_batch_is_acked_when_the_agent_asks_for_the_next_one() -> None:
    async def scenario() -> None:
        agent, seen = batching_agent(max_=10, held=2)
        async with agent.test_context() as tested:
            first = await tested.put(1)
            await until(lambda: len(seen.batches) == 1)
            assert not first.message.acked  # the agent still works on it
            second = await tested.put(2, wait=False)
            seen.releases[0].set()
            await until(lambda: len(seen.batches) == 2)
            assert first.message.acked
            assert not second.message.acked
            seen.releases[1].set()
            await until(lambda: second.message.acked)

    run(scenario)


def test_gather_holds_a_batch_open_for_more_but_a_full_batch_goes_at_once() -> None:
    async def scenario() -> None:
        # A gather far longer than LIMIT: the batch can only be handed over because it filled up.
        agent, seen = batching_agent(max_=3, gather=LIMIT * 10)
        seen.releases[0].set()
        async with agent.test_context() as tested:
            for value in (1, 2, 3):
                await tested.put(value, wait=False)
            await until(lambda: len(seen.batches) == 1)
        assert seen.batches == [[1, 2, 3]]

    run(scenario)


@pytest.mark.parametrize("max_", [1, 2])
def test_max_of_one_or_two_still_hands_every_event_over(max_: int) -> None:
    async def scenario() -> None:
        agent, seen = batching_agent(max_=max_)
        seen.releases[0].set()
        async with agent.test_context() as tested:
            for value in range(5):
                await tested.put(value, wait=False)
            await until(lambda: sum(map(len, seen.batches)) == 5)
        assert [value for batch in seen.batches for value in batch] == list(range(5))

    run(scenario)
