"""Writing tables once per take of several messages, each write on its user's partition.

The tally and the hourly activity write each user's entry once per take of counts messages, not once
per message: every write is a changelog record of up to a few KB through Faust's producer, and those
records were the worker's largest single cost (issue 9). Faust places a table write by the message
being processed: its changelog record goes to that message's partition, and the RocksDB store writes
that partition's database. A take has no message being processed, so its messages are written
partition by partition, each group as the event of its last message: every update on a counts
partition is for a user whose entries live on that partition (streams/counts.py: counts_partition).
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from faust import streams
from faust.types import EventT


def write_per_partition(events: Iterable[EventT], write: Callable[[list[EventT]], None]) -> None:
    """Write a take partition by partition, in order, each group's table writes on its partition."""
    groups: dict[int, list[EventT]] = defaultdict(list)
    for event in events:
        groups[event.message.partition].append(event)
    for group in groups.values():
        with writing_as(group[-1]):
            write(group)


@contextmanager
def writing_as(event: EventT) -> Iterator[None]:
    """Table writes in this block are placed as if Faust were processing `event`.

    Faust keeps the event being processed in a context variable (faust.streams.current_event reads
    it); setting it here is what its own stream iteration does for every message.
    """
    token = streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        streams._current_event.reset(token)
