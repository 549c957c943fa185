"""`faust -A streams.app replay`: rebuild audit rows and stream counts from task-events, or check them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import click
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faust.cli import option

from shared.events import TaskEvent
from streams.app import app, settings
from streams.audit.store import insert_audit_rows
from streams.commands.base import OK, PROBLEM, ToolCommand, Usage, progress
from streams.commands.counts_check import WorkerUnavailable, disagreements
from streams.commands.reading import (
    Plan,
    Start,
    open_consumer,
    parse_position,
    parse_since,
    partitions,
    plan_read,
    read,
)
from streams.commands.recount import Ends, Pairs, Recount, catch_up, send_corrections, send_updates
from streams.commands.store import existing_event_ids
from streams.database import worker_sessions
from streams.decoding import DecodeError, try_decode


@dataclass
class Tally:
    """What one replay read and did, for its summary line."""

    dry_run: bool
    read: int = 0
    invalid: int = 0
    audit_added: int = 0
    audit_present: int = 0
    counts_sent: int = 0
    missing: set[Any] = field(default_factory=set)
    # Users with an event in the range asked for, whose totals the replay sets (recount.py).
    affected: set[str] = field(default_factory=set)
    totals_set: int = 0
    totals_refused: str = ""

    def summary(self, *, topic: str, partitions: int, parts: tuple[str, ...]) -> str:
        """The one line a replay ends with."""
        head = "replay (dry run)" if self.dry_run else "replay"
        line = f"{head}: {self.read} events read from {topic} ({partitions} partitions)"
        line += f", {self.invalid} invalid skipped"
        if "audit" in parts:
            added = "rows missing" if self.dry_run else "rows added"
            line += f"; audit_log: {self.audit_added} {added}, {self.audit_present} already there"
        if "counts" in parts:
            sent = "count updates to send" if self.dry_run else "count updates sent"
            line += f"; counts: {self.counts_sent} {sent}"
            if self.totals_refused:
                line += f", totals not set: the topic may lack events ({self.totals_refused})"
            else:
                users = f"{self.totals_set} user" + ("" if self.totals_set == 1 else "s")
                line += f", totals {'to set' if self.dry_run else 'set'} for {users}"
        return line


@dataclass
class Job:
    """One replay's parts, tally, recount (when counts are asked) and partitions read short."""

    parts: tuple[str, ...]
    tally: Tally
    recount: Recount | None
    short: set[TopicPartition] = field(default_factory=set)


def start_from(from_beginning: bool, since: str | None, from_offset: tuple[str, ...]) -> Start:
    """Exactly one starting point from the options, or a usage error naming them."""
    chosen = [bool(from_beginning), since is not None, bool(from_offset)]
    if sum(chosen) != 1:
        raise Usage(
            "say where to start: exactly one of --from-beginning, --since ISO-TIME, --from-offset P:N"
        )
    if since is not None:
        return Start(since=parse_since(since))
    if from_offset:
        positions = [parse_position(text, "--from-offset") for text in from_offset]
        return Start(offsets=dict(positions))
    return Start(beginning=True)


async def replay_audit(events: list[TaskEvent], tally: Tally) -> None:
    """Insert the batch's missing audit rows (ON CONFLICT: present ones stay as they are)."""
    sessions = worker_sessions(settings)
    if tally.dry_run:
        ids = {event.event_id for event in events}
        present = await asyncio.to_thread(existing_event_ids, sessions=sessions, event_ids=ids)
        tally.missing |= ids - present
        tally.audit_added, tally.audit_present = len(tally.missing), tally.audit_present + len(present)
        return
    added = await asyncio.to_thread(insert_audit_rows, sessions=sessions, events=events)
    tally.audit_added += added
    tally.audit_present += len(events) - added


def decoded(record: ConsumerRecord[bytes, bytes], tally: Tally) -> TaskEvent | None:
    """The record's event, or None (counted as invalid) when it is not one: those are the DLQ's."""
    tally.read += 1
    event = try_decode(record.value, max_bytes=settings.max_event_bytes)
    if isinstance(event, DecodeError):
        tally.invalid += 1
        return None
    return event


async def replay_batch(pairs: Pairs, parts: tuple[str, ...], tally: Tally) -> None:
    """Rebuild what was asked from a batch of valid events of the range."""
    tally.affected.update(event.user_id for _, event in pairs)
    if "audit" in parts and pairs:
        await replay_audit([event for _, event in pairs], tally)
    if "counts" in parts and pairs:
        if not tally.dry_run:
            await send_updates(pairs)
        tally.counts_sent += len(pairs)


async def run_check() -> int:
    """Report users whose stream and database counts differ; 1 when any do or the worker is away."""
    try:
        checked, lines = await disagreements(settings)
    except WorkerUnavailable as exc:
        print(f"replay --check: {exc}")
        return PROBLEM
    for line in lines:
        print(line)
    print(f"replay --check: {checked} users checked, {len(lines)} disagree")
    return PROBLEM if lines else OK


def in_range(record: ConsumerRecord[bytes, bytes], wanted: Plan) -> bool:
    """Whether the record lies in the range the replay was asked to rebuild."""
    span = wanted.get(TopicPartition(record.topic, record.partition))
    return span is not None and span[0] <= record.offset < span[1]


async def rebuild(consumer: AIOKafkaConsumer, plan: Plan, wanted: Plan, job: Job) -> None:
    """Read the plan once: every valid event into the recount, those in the range wanted rebuilt."""
    batch: Pairs = []
    with progress(total=sum(end - begin for begin, end in plan.values()), what="events") as bar:
        async for record in read(consumer, plan, job.short):
            bar.update(1)
            event = decoded(record, job.tally)
            if event is not None and job.recount is not None:
                job.recount.add(record, event)
            if event is not None and in_range(record, wanted):
                batch.append((record, event))
            if len(batch) >= settings.audit_batch_size:
                await replay_batch(batch, job.parts, job.tally)
                batch = []
        await replay_batch(batch, job.parts, job.tally)


async def set_totals(consumer: AIOKafkaConsumer, ends: Ends, recount: Recount, job: Job) -> None:
    """Catch up with the topic, then correct each user the range touched, if every event was read."""
    snapshot = await catch_up(consumer, ends, recount, job.short)
    recount.check_whole(await consumer.beginning_offsets(list(ends)), job.short)
    if recount.gaps:
        job.tally.totals_refused = "; ".join(recount.gaps)
        return
    corrections = recount.corrections(job.tally.affected, snapshot)
    if corrections and not job.tally.dry_run:
        await send_corrections(corrections)
    job.tally.totals_set = len(corrections)


async def run_replay(start: Start, parts: tuple[str, ...], tally: Tally) -> str:
    """Read the range asked for (the whole topic when counting), rebuilding as asked; the summary line."""
    topic = settings.task_events_topic
    job = Job(parts=parts, tally=tally, recount=Recount() if "counts" in parts else None)
    async with open_consumer(settings) as consumer:
        ends = await consumer.end_offsets(await partitions(consumer, topic))
        wanted = await plan_read(consumer, topic, start, ends)
        whole = Start(beginning=True)  # a user's totals need all their events, whatever range was asked
        plan = wanted if job.recount is None else await plan_read(consumer, topic, whole, ends)
        await rebuild(consumer, plan, wanted, job)
        if job.recount is not None:
            await set_totals(consumer, ends, job.recount, job)
    if (tally.counts_sent or tally.totals_set) and not tally.dry_run:
        await app.producer.flush()
    return tally.summary(topic=topic, partitions=len(plan), parts=parts)


@app.command(
    option("--from-beginning", is_flag=True, help="Read every partition from its first message."),
    option(
        "--since", metavar="ISO-TIME", help="Start at the first message at or after this time (give a zone)."
    ),
    option("--from-offset", metavar="P:N", multiple=True, help="Start partition P at offset N (repeatable)."),
    option(
        "--only", type=click.Choice(["audit", "counts"]), help="Rebuild only the audit rows or the counts."
    ),
    option(
        "--dry-run", is_flag=True, help="Say what would change, change nothing; exit 1 if rows are missing."
    ),
    option(
        "--check", is_flag=True, help="Compare every user's stream counts with audit_log; change nothing."
    ),
    base=ToolCommand,
)
async def replay(
    self: ToolCommand, from_beginning: bool, since: str | None, from_offset: tuple[str, ...],
    only: str | None, dry_run: bool, check: bool,
) -> int:  # fmt: skip
    """Rebuild missing audit rows and the stream counts from task-events, or --check them.

    Reads task-events with a consumer of its own (no group, nothing committed) from the chosen start
    up to where the topic ended when the replay began. Audit rows are inserted only where missing.
    The counts get the worker's count updates again (for the hourly activity; the table skips what
    it counted), then, for each user with an event in the range, a correction: the user's counts
    from the whole topic up to a snapshot of its ends, which the worker's tally sets, keeping what
    it counted live past the snapshot (recount.py, streams/count_entry.py). Running a replay twice
    changes nothing. --check compares, for every user in audit_log or in the worker's table, the
    counts the worker serves with those audit_log holds. Exit 0 when done, 1 when --check finds
    users that disagree (or the worker does not answer), --dry-run finds missing rows, or the topic
    no longer holds every event so the totals cannot be set; 2 for bad usage.
    """
    if check:
        if from_beginning or since or from_offset or only or dry_run:
            raise Usage("--check takes no other option: it reads no events and changes nothing")
        return await run_check()
    start = start_from(from_beginning, since, from_offset)
    parts = (only,) if only else ("audit", "counts")
    tally = Tally(dry_run=dry_run)
    print(await run_replay(start, parts, tally))
    return PROBLEM if (dry_run and tally.audit_added) or tally.totals_refused else OK
