"""`faust -A streams.app replay`: rebuild audit rows and stream counts from task-events, or check them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import click
from aiokafka import ConsumerRecord
from faust.cli import option

from shared.events import TaskEvent
from streams import counts
from streams.app import app, settings
from streams.audit.store import insert_audit_rows
from streams.commands.base import OK, PROBLEM, ToolCommand, Usage, progress
from streams.commands.counts_check import WorkerUnavailable, disagreements
from streams.commands.reading import Start, open_consumer, parse_position, parse_since, plan_read, read
from streams.commands.store import existing_event_ids
from streams.counts import CountUpdate
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
        return line


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


def count_update(record: ConsumerRecord[bytes, bytes], event: TaskEvent) -> CountUpdate:
    """The update the worker's audit agent forwards for this message."""
    return counts.count_update(event, partition=record.partition, offset=record.offset)


async def replay_counts(pairs: list[tuple[ConsumerRecord[bytes, bytes], TaskEvent]], tally: Tally) -> None:
    """Send the count updates as the audit agent does (one message per partition); the table skips repeats."""
    if not tally.dry_run:
        await app.maybe_start_producer()  # started on first use: a replay with nothing to send starts none
        await counts.forward_updates(count_update(record, event) for record, event in pairs)
    tally.counts_sent += len(pairs)


async def replay_batch(
    records: list[ConsumerRecord[bytes, bytes]], parts: tuple[str, ...], tally: Tally
) -> None:
    """Decode a batch; rebuild what was asked from its valid events (invalid ones are the DLQ's)."""
    pairs = []
    for record in records:
        decoded = try_decode(record.value, max_bytes=settings.max_event_bytes)
        if isinstance(decoded, DecodeError):
            tally.invalid += 1
        else:
            pairs.append((record, decoded))
    tally.read += len(records)
    if "audit" in parts and pairs:
        await replay_audit([event for _, event in pairs], tally)
    if "counts" in parts and pairs:
        await replay_counts(pairs, tally)


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


async def run_replay(start: Start, parts: tuple[str, ...], tally: Tally) -> str:
    """Read the planned range in batches, rebuilding as asked; returns the summary line."""
    topic = settings.task_events_topic
    async with open_consumer(settings) as consumer:
        plan = await plan_read(consumer, topic, start)
        total = sum(end - begin for begin, end in plan.values())
        batch: list[ConsumerRecord[bytes, bytes]] = []
        with progress(total=total, what="events") as bar:
            async for record in read(consumer, plan):
                batch.append(record)
                if len(batch) >= settings.audit_batch_size:
                    await replay_batch(batch, parts, tally)
                    bar.update(len(batch))
                    batch = []
            await replay_batch(batch, parts, tally)
            bar.update(len(batch))
    if tally.counts_sent and not tally.dry_run:
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
    up to where the topic ended when the replay began. Audit rows are inserted only where missing, and
    each count update carries its source offset so the worker's table skips what it already counted:
    running a replay twice changes nothing (a user whose table entry already counted a later event
    than a missing one keeps its counts; --check names such users). --check compares, for every
    user in audit_log, the counts the worker serves with those audit_log holds. Exit 0 when done,
    1 when --check finds users that disagree (or the worker does not answer) or --dry-run finds
    missing rows, 2 for bad usage.
    """
    if check:
        if from_beginning or since or from_offset or only or dry_run:
            raise Usage("--check takes no other option: it reads no events and changes nothing")
        return await run_check()
    start = start_from(from_beginning, since, from_offset)
    parts = (only,) if only else ("audit", "counts")
    tally = Tally(dry_run=dry_run)
    print(await run_replay(start, parts, tally))
    return PROBLEM if dry_run and tally.audit_added else OK
