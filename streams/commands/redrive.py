"""Redriving dead letters to task-events exactly once each, even when a redrive is killed half-way.

Sending a copy and then marking the letter leaves a window: a redrive killed between the two leaves
the copy on task-events and no mark, and the next redrive would send it again. The audit row and
the mail are idempotent per event_id, but the tally recognises a repeated event only among a user's
last RECENT_EVENT_IDS, so counts and hourly activity could double. So a redrive, before it sends:

1. writes an intent to the DLQ naming the letters it is about to send and the end offset of every
   task-events partition at that moment (each copy it sends lands at or after them);
2. then per letter sends the copy carrying `x-dlq-redriven-from: <dlq>:P:N` (the letter's own
   position: every redrive of a letter carries the same marker) and, once task-events has it,
   writes the letter's mark (`x-dlq-redriven`).

Why that is exactly once: a marked letter is never sent again, and a mark is written only after its
copy is acknowledged, so marked means sent. An unmarked letter with no intent was never sent. An
unmarked letter named by an intent (`interrupted`) was killed somewhere between 1 and its mark; the
next redrive reads task-events from the intent's offsets for its marker. Found: it went back, so the
mark is written and nothing is sent. Not found: the kill came before the copy reached the broker,
so it is sent now, under a new intent. Each path leaves one copy on task-events.

Out of reach: a copy still in flight when its sender died that the broker appends only after the
next redrive has looked (milliseconds, against the seconds a command takes to start), and two
redrives at the same time, which nothing here serialises: run one at a time. When retention has
removed task-events messages from where an intent began, the question has no answer; such a letter
is reported in doubt and left alone rather than guessed at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.kafka import client_options
from shared.settings import Settings
from streams.commands.base import progress
from streams.commands.dead_letters import (
    INTENT_HEADER,
    REDRIVEN_FROM_HEADER,
    REDRIVEN_HEADER,
    DeadLetter,
    Letters,
    intent_value,
    marker,
    redrive_headers,
)
from streams.commands.reading import Start, open_consumer, partitions, plan_read, read

INTENT_FORMAT = b"1"


@dataclass
class Outcome:
    """What a redrive did with the letters it was given."""

    sent: int = 0
    already: int = 0
    truncated: list[DeadLetter] = field(default_factory=list)
    in_doubt: list[DeadLetter] = field(default_factory=list)


@asynccontextmanager
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer on the shared connection that waits for every replica."""
    options = client_options(settings)
    started = AIOKafkaProducer(**options, acks="all", enable_idempotence=settings.idempotent_producer)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


def beyond_retention(
    interrupted: Sequence[DeadLetter], found: Letters, kept_from: Mapping[int, int]
) -> set[str]:
    """The interrupted letters whose copy may have been where task-events no longer keeps messages."""
    return {
        letter.position
        for letter in interrupted
        if any(first > found.intended[letter.position].get(p, 0) for p, first in kept_from.items())
    }


async def find_copies(
    consumer: AIOKafkaConsumer, interrupted: Sequence[DeadLetter], found: Letters, settings: Settings
) -> tuple[set[str], set[str]]:
    """Of the interrupted letters: those whose copy is on task-events, and those that cannot be told."""
    if not interrupted:
        return set(), set()
    tps = await partitions(consumer, settings.task_events_topic)
    kept_from = {tp.partition: offset for tp, offset in (await consumer.beginning_offsets(tps)).items()}
    unknowable = beyond_retention(interrupted, found, kept_from)
    wanted = {
        marker(letter, settings.task_events_dlq_topic): letter.position
        for letter in interrupted
        if letter.position not in unknowable
    }
    if not wanted:
        return set(), unknowable
    starts = {
        tp.partition: min(found.intended[position].get(tp.partition, 0) for position in wanted.values())
        for tp in tps
    }
    plan = await plan_read(consumer, settings.task_events_topic, Start(offsets=starts))
    there: set[str] = set()
    with progress(total=sum(end - begin for begin, end in plan.values()), what="task-events checked") as bar:
        async for record in read(consumer, plan):
            there.update(wanted[value] for name, value in record.headers if name == REDRIVEN_FROM_HEADER
                         and value in wanted)  # fmt: skip
            bar.update(1)
    return there, unknowable


async def write_intent(
    sending: AIOKafkaProducer, consumer: AIOKafkaConsumer, letters: Sequence[DeadLetter], settings: Settings
) -> None:
    """Record, before any of them is sent, which letters go back and where task-events ends now."""
    tps = await partitions(consumer, settings.task_events_topic)
    ends = await consumer.end_offsets(tps)
    value = intent_value([letter.position for letter in letters], {tp.partition: ends[tp] for tp in tps})
    await sending.send_and_wait(
        settings.task_events_dlq_topic, value, headers=[(INTENT_HEADER, INTENT_FORMAT)]
    )


async def mark(sending: AIOKafkaProducer, letter: DeadLetter, settings: Settings) -> None:
    """Mark a letter redriven in the DLQ (its copy is on task-events)."""
    headers = [(REDRIVEN_HEADER, letter.position.encode())]
    await sending.send_and_wait(settings.task_events_dlq_topic, b"", key=letter.key, headers=headers)


async def send_back(sending: AIOKafkaProducer, letter: DeadLetter, settings: Settings) -> None:
    """Send one letter's copy to task-events and, only once the broker has it, mark the letter."""
    headers = redrive_headers(letter, settings.task_events_dlq_topic)
    await sending.send_and_wait(settings.task_events_topic, letter.value, key=letter.key, headers=headers)
    await mark(sending, letter, settings)


async def redrive_letters(found: Letters, chosen: Sequence[DeadLetter], settings: Settings) -> Outcome:
    """Send each chosen letter back unless it went already; finish what an interrupted redrive began."""
    waiting = [letter for letter in chosen if found.state(letter) != "redriven"]
    outcome = Outcome(already=len(chosen) - len(waiting), truncated=[le for le in waiting if le.truncated])
    sendable = [letter for letter in waiting if not letter.truncated]
    interrupted = [letter for letter in sendable if found.state(letter) == "interrupted"]
    # A consumer of its own: the one that read the DLQ keeps metadata for the DLQ only.
    async with open_consumer(settings) as consumer, producer(settings) as sending:
        there, unknowable = await find_copies(consumer, interrupted, found, settings)
        outcome.in_doubt = [letter for letter in sendable if letter.position in unknowable]
        to_send = [letter for letter in sendable if letter.position not in there | unknowable]
        for letter in sendable:
            if letter.position in there:
                await mark(sending, letter, settings)
        if to_send:
            await write_intent(sending, consumer, to_send, settings)
        for letter in progress(to_send, what="letters sent back"):
            await send_back(sending, letter, settings)
    outcome.already += len(there)
    outcome.sent = len(to_send)
    return outcome
