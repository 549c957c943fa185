"""Keep Kafka offsets from advancing past events whose work is not yet durable.

`Stream.take_events()` acks a batch when the agent asks for the next one, and also in its
`finally` if the agent is cancelled mid-batch (shutdown, rebalance) — after which the consumer
commits those offsets on stop. An extra reference taken on each message before the work and
released only after it succeeded means a batch cut short is never acked, so it is redelivered.
"""

from __future__ import annotations

from collections.abc import Sequence

from faust.types import EventT


def hold(events: Sequence[EventT]) -> None:
    """Take one extra reference on each event's message so no other ack can complete it."""
    for event in events:
        event.message.incref()


def release(events: Sequence[EventT]) -> None:
    """Drop the extra reference once the work is committed, letting the offsets advance."""
    for event in events:
        event.ack()
