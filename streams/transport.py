"""Faust's aiokafka transport, registered under its own URL scheme, with three changes.

**Fetch wait.** Faust builds its consumer with `fetch_max_wait_ms=1500` and no setting to change it.
Real Kafka answers a waiting fetch as soon as data arrives, but Tansu (the dev and test broker) holds
a fetch over several partitions for the whole wait, so an event sat ~750 ms on average before the
worker saw it (measured in tests/e2e/test_pipeline.py). WORKER_FETCH_MAX_WAIT_MS bounds that wait.

**Every record, once, in order.** Faust's fetch loop (`Consumer._drain_messages`) skipped records
after a rebalance under backpressure and then committed past them; the kill test
(tests/faults/test_worker_killed.py) found 16 of 20,000 events never audited and completion mails
never sent. The ways in, each seen in a traced worker:
- a delivery cancelled by the rebalance's flow suspension still counted as read;
- a fetch returned before the seek to the committed offsets was handed on after it, so the
  offsets between were recorded as a "gap" (treated as processed) and their refetch was dropped;
- aiokafka does not seek a partition whose committed offset is 0 or none, so records handed to
  the agents' queues (which the rebalance empties) were never fetched again;
- `getmany` leaves out the records of a partition paused mid-fetch, and the fetch position has
  moved past them;
- while nothing was committed, an acknowledged record let the commit jump over earlier ones;
- a fetch handed the consumer thread Faust's live set of active partitions, and aiokafka reads an
  empty set as "every partition": when recovery paused the last changelog partitions while a fetch
  waited (the stream partitions stay paused until the seek), it returned the stream partitions'
  records too, and Faust's loop dropped them as inactive with the fetch position past them. A
  fetch now gets a frozen copy (`Consumer._getmany`).
Our loop keeps, per partition of an acknowledged topic, the offset it must hand on next
(`PartitionCursor`): a record behind it is a duplicate and is dropped, a record ahead of it means
something was skipped and the partition is sought back to it, and only a record at it is handed on
and moves it. So per-partition order (per-user order: events are keyed by user) holds, and no
record is skipped. Commits start exactly where the last one ended (`committable_offset`).

Changelog topics are compacted and not acknowledged: Faust's own handling is kept for them. On our
topics a hole in the offsets is not expected, but one that is real (retention or compaction removed
the records) is accepted after the seek back finds the same hole again, with a warning.

**Room for a take's table writes.** Table writes queue in Faust's producer buffer, which sends them
one at a time; while it holds more than `max_messages` (100), every incoming message of every agent
waits until 100 more have gone ("producer buffer full"). The tally and the hourly activity write a
thousand entries or more per take (streams/table_writes.py), so each take stopped the audit path
for a second or more. TABLE_WRITE_BUFFER lets a take's writes drain while intake goes on; the
commit still waits for every one of them (Faust flushes the producer before committing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, cast

import aiokafka
from faust.agents import current_agent
from faust.transport.consumer import CONSUMER_FETCHING, RecordMap
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message
from mode import ServiceT

from shared.settings import get_settings
from streams.crashes import crashes
from streams.eager import step_eagerly

SCHEME = "todo-kafka"
# Table records (each up to a few KB) the producer buffer holds before intake waits for it: a few takes.
TABLE_WRITE_BUFFER = 5000
log = logging.getLogger(__name__)


class Place(Enum):
    """Where a fetched record stands against the offset its partition must hand on next."""

    NEXT = "next"  # hand it on
    BEHIND = "behind"  # already handed on: drop it
    AHEAD = "ahead"  # records before it were skipped: fetch them


@dataclass
class PartitionCursor:
    """The offset one partition must hand on next, and a hole already confirmed at it.

    `next_offset` is None while unknown (a topic we do not check); then every record is NEXT.
    """

    next_offset: int | None = None
    sought_back_to: int | None = field(default=None, repr=False)

    def place(self, offset: int) -> Place:
        """Where a record at `offset` stands."""
        if self.next_offset is None or offset == self.next_offset:
            return Place.NEXT
        return Place.BEHIND if offset < self.next_offset else Place.AHEAD

    def hole_confirmed(self) -> bool:
        """True when we already sought back to next_offset and the broker still starts after it."""
        return self.sought_back_to is not None and self.sought_back_to == self.next_offset

    def handed_on(self, offset: int) -> None:
        """A record at `offset` reached the agents: the next one must follow it."""
        self.next_offset = offset + 1
        self.sought_back_to = None

    def sought_back(self) -> None:
        """We asked the broker for next_offset again."""
        self.sought_back_to = self.next_offset


def committable_offset(acked: list[int], head: int | None) -> tuple[int | None, int]:
    """The offset to commit from sorted acknowledged offsets, and how many of them it covers.

    `head` is the first offset not yet committed. Nothing is committable until the record at the
    head is acknowledged: a later record acknowledged first must not carry the commit past it.
    """
    if not acked or (head is not None and acked[0] > head):
        return None, 0
    run = 1
    while run < len(acked) and acked[run] == acked[run - 1] + 1:
        run += 1
    return acked[run - 1] + 1, run


def take_holes_before(holes: list[tuple[int, int]], upto: int) -> list[int]:
    """The offsets of confirmed holes ([start, end) ranges) below `upto`, taken out of `holes`.

    They count as done: the broker no longer holds them. What lies at or past `upto` stays.
    """
    taken: list[int] = []
    kept: list[tuple[int, int]] = []
    for start, end in sorted(holes):
        taken.extend(range(start, min(end, upto)))
        if end > upto:
            kept.append((max(start, upto), end))
    holes[:] = kept
    return taken


class FetchWaitConsumerThread(driver.AIOKafkaConsumerThread):
    """The aiokafka consumer thread, its fetch wait taken from the settings."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        """Faust's worker consumer with our fetch wait (aiokafka reads it when it starts fetching)."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = get_settings().worker_fetch_max_wait_ms
        return consumer


class Consumer(driver.Consumer):
    """Faust's aiokafka consumer with our fetch wait, and a fetch loop that skips nothing.

    See the module docstring for why the loop is ours.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self._cursors: dict[TP, PartitionCursor] = {}
        # Where commits start on a partition nothing was committed on yet (its first offset).
        self._start_offset: dict[TP, int] = {}
        # Offsets the broker no longer holds ([start, end)), confirmed by seeking back to them.
        self._holes: dict[TP, list[tuple[int, int]]] = {}

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        """The consumer thread that applies our fetch wait."""
        return FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    # -- where each partition starts -----------------------------------------------------------

    async def perform_seek(self) -> None:
        """Seek every partition to its committed offset (Faust, after each rebalance), or its start.

        aiokafka leaves a partition with no commit (or a commit at 0) where its fetch position was:
        past records the rebalance took out of the agents' queues. Those are sought to the first
        offset the broker holds (the worker reads from the earliest, `consumer_auto_offset_reset`).
        """
        await super().perform_seek()
        assigned = {tp for tp in self.assignment() if self._checked(tp)}
        uncommitted = [tp for tp in assigned if self._committed_offset[tp] is None]
        starts = dict(await self.earliest_offsets(*uncommitted)) if uncommitted else {}
        if starts:
            await self._thread.seek_wait(starts)
        self._start_offset = {tp: starts[tp] for tp in uncommitted if tp in starts}
        self._cursors = {tp: PartitionCursor(self._head(tp)) for tp in assigned}

    async def seek(self, partition: TP, offset: int) -> None:
        """Faust's seek; the partition then hands on from `offset`."""
        await super().seek(partition, offset)
        self._cursors[partition] = PartitionCursor(offset)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Faust's bookkeeping for revoked partitions, and ours."""
        for tp in revoked:
            self._cursors.pop(tp, None)
            self._start_offset.pop(tp, None)
            self._holes.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def _checked(self, tp: TP) -> bool:
        """Whether tp's offsets are checked: acknowledged topics, not (compacted) changelogs."""
        return self.app.topics.acks_enabled_for(tp.topic) and not self._is_changelog_tp(tp)

    def _head(self, tp: TP) -> int | None:
        """The first offset of tp not committed yet, where known."""
        committed = self._committed_offset[tp]
        return committed if committed is not None else self._start_offset.get(tp)

    # -- the fetch loop ------------------------------------------------------------------------

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> RecordMap:
        """One fetch, of the partitions active when it starts and no others.

        Faust passes its live set, which recovery empties while the fetch waits in the consumer
        thread; aiokafka then returns every partition's buffered records, and Faust's loop drops
        those of the partitions still paused. The fetch position is past them by then, so nothing
        after shows the gap on a quiet partition: the restarted worker in the kill test sat ready
        and idle with the partition's tail unaudited, 8 runs of 8 on a busy CPU.
        """
        if active_partitions is None:  # a client-only app: every partition is meant
            return await super()._getmany(None, timeout)
        asked = frozenset(active_partitions)
        if not asked:
            return {}
        return await super()._getmany(cast(set[TP], asked), timeout)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Hand fetched records to the agents until the consumer or the fetcher stops.

        Like Faust's loop it ends only then, and lets a cancellation through (the fetcher restarts
        itself after a rebalance from that).
        """
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):  # type: ignore[attr-defined]
                self.diag.set_flag(CONSUMER_FETCHING)
                records = self.getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    await self._hand_on_fetch(records)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        except Exception:
            log.exception("the fetch loop failed")  # as Faust's loop does, before its supervisor acts
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _hand_on_fetch(self, records: AsyncIterator[tuple[TP, Message]]) -> None:
        """Hand on one fetch's records; a partition that must be fetched again sits out the rest."""
        sitting_out: set[TP] = set()
        handed = 0
        async for tp, message in records:
            handed += 1
            if handed % 100 == 0:
                await asyncio.sleep(0)  # let health checks and commits run during a large fetch
            if tp in sitting_out:
                continue
            cursor = self._cursors.setdefault(tp, PartitionCursor())
            place = cursor.place(message.offset) if self._checked(tp) else Place.NEXT
            if place is Place.BEHIND:
                continue
            if place is Place.AHEAD and not cursor.hole_confirmed():
                sitting_out.add(tp)
                await self._seek_back(tp, cursor)
                continue
            if place is Place.AHEAD:
                self._accept_hole(tp, cursor, message.offset)
            if not await self._deliver(message):
                sitting_out.add(tp)  # cut short by a rebalance: the cursor still points at it
                continue
            cursor.handed_on(message.offset)

    async def _deliver(self, message: Message) -> bool:
        """Give one record to the agents; False if a rebalance's flow suspension cut that short.

        Nothing is handed on while the flow is suspended. A delivery that finishes without waiting
        (the agents' queues have room: almost always) cannot be cut short, so only one that waits is
        raced against the suspension (streams/eager.py says why that matters).
        """
        await self._maybe_commit()
        if self.suspend_flow.is_set():
            return False
        # Faust's callback is the conductor's `on_message`, a coroutine function.
        finished, rest = step_eagerly(cast(Coroutine[Any, Any, None], self.callback(message)))
        if finished:
            return True
        outcome = await self.wait_first(rest, self.suspend_flow.wait())
        return rest in outcome.done

    async def _seek_back(self, tp: TP, cursor: PartitionCursor) -> None:
        """Ask the broker for tp's records again from the cursor (while tp is still ours)."""
        if tp not in self.assignment():
            return
        offset = cursor.next_offset
        assert offset is not None  # AHEAD needs a known offset
        try:
            await self._thread.seek_wait({tp: offset})
        except Exception as exc:  # tp went away between the check and the seek: its next owner reads it
            log.info("not seeking %s back to %d: %s", tp, offset, exc)
            return
        cursor.sought_back()

    def _accept_hole(self, tp: TP, cursor: PartitionCursor, offset: int) -> None:
        """The broker no longer holds tp's records before `offset`: go on from it, saying so."""
        start = cursor.next_offset
        assert start is not None
        log.warning("%s has no records at offsets %d to %d (retention or compaction); going on", tp, start,
                    offset - 1)  # fmt: skip
        # Ours, not Faust's _add_gap: that one starts a hole one past the committed offset, which
        # would leave the head unacknowledged for good.
        self._holes.setdefault(tp, []).append((start, offset))

    async def _maybe_commit(self) -> None:
        """Commit every broker_commit_every acknowledged records, as Faust's loop does."""
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()

    # -- agents crashing ------------------------------------------------------------------------

    async def on_task_error(self, exc: BaseException) -> None:
        """An agent crashed (Faust restarts it): count it against the agent (streams/crashes.py)."""
        agent = current_agent()
        crashes.record(agent.name if agent is not None else "unknown", exc)
        await super().on_task_error(exc)

    # -- commits -------------------------------------------------------------------------------

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for tp: past the run of acknowledged records from the head only."""
        acked = self._acked[tp]
        if not acked:
            return None
        acked.extend(take_holes_before(self._holes.get(tp, []), max(acked)))
        acked.sort()
        offset, covered = committable_offset(acked, self._head(tp))
        if offset is None:
            return None
        self._acked_index[tp].difference_update(acked[:covered])
        del acked[:covered]
        return offset


class Producer(driver.Producer):
    """Faust's aiokafka producer, its buffer of table writes allowed TABLE_WRITE_BUFFER records."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer.max_messages = TABLE_WRITE_BUFFER


class Transport(driver.Transport):
    """Faust's aiokafka transport with our consumer and producer."""

    Consumer = Consumer
    Producer = Producer


def broker_urls(bootstrap_servers: str) -> list[str]:
    """KAFKA_BOOTSTRAP_SERVERS as broker URLs for this transport."""
    return [f"{SCHEME}://{server.strip()}" for server in bootstrap_servers.split(",")]


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
