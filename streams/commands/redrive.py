"""Redriving dead letters to the topic each came from exactly once each, even when killed half-way.

Each letter goes back to its destination (streams/commands/destination.py): task-events for what the
audit agent dead-lettered, the worker's completions topic for what the mail path did. Sending a copy
and then marking the letter leaves a window: a redrive killed between the two leaves the copy on its
destination and no mark, and the next redrive would send it again. The audit row and the mail are
idempotent per event_id, but the tally recognises a repeated event only among a user's last
RECENT_EVENT_IDS, so counts and hourly activity could double. So a redrive, before it sends:

1. writes an intent to the DLQ naming the letters it is about to send and the end offset of every
   partition of each of their destinations at that moment (each copy lands at or after them);
2. then per letter sends the copy carrying `x-dlq-redriven-from: <dlq>:P:N` (the letter's own
   position: every redrive of a letter carries the same marker) and, once its destination has it,
   writes the letter's mark (`x-dlq-redriven`).

Why that is exactly once: a marked letter is never sent again, and a mark is written only after its
copy is acknowledged, so marked means sent. An unmarked letter with no intent was never sent. An
unmarked letter named by an intent (`interrupted`) was killed somewhere between 1 and its mark; the
next redrive reads the letter's destination from the intent's offsets for its marker. Found: it went
back, so the mark is written and nothing is sent. Not found: the kill came before the copy reached
the broker, so it is sent now, under a new intent. Each path leaves one copy on the destination.

Out of reach: a copy still in flight when its sender died that the broker appends only after the
next redrive has looked (milliseconds, against the seconds a command takes to start), and two
redrives at the same time, which nothing here serialises: run one at a time. When retention has
removed messages of the destination from where an intent began, the question has no answer; such a
letter is reported in doubt and left alone rather than guessed at.
"""

from __future__ import annotations

from collections import Counter, defaultdict
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
from streams.commands.destination import destination
from streams.commands.reading import Start, open_consumer, partitions, plan_read, read

INTENT_FORMAT = b"1"


@dataclass
class Outcome:
    """What a redrive did with the letters it was given."""

    sent: Counter[str] = field(default_factory=Counter)
    already: int = 0
    truncated: list[DeadLetter] = field(default_factory=list)
    in_doubt: list[DeadLetter] = field(default_factory=list)
    nowhere: list[DeadLetter] = field(default_factory=list)


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
    interrupted: Sequence[DeadLetter], found: Letters, topic: str, kept_from: Mapping[int, int]
) -> set[str]:
    """The interrupted letters whose copy may have been where their topic no longer keeps messages."""
    return {
        letter.position
        for letter in interrupted
        if any(first > starts(found, letter, topic).get(p, 0) for p, first in kept_from.items())
    }


def starts(found: Letters, letter: DeadLetter, topic: str) -> dict[int, int]:
    """Per partition of topic, where an interrupted redrive's copy of this letter would be (none: 0)."""
    return found.intended.get(letter.position, {}).get(topic, {})


async def find_copies_on(
    consumer: AIOKafkaConsumer, topic: str, interrupted: Sequence[DeadLetter], found: Letters, dlq: str
) -> tuple[set[str], set[str]]:
    """Of the letters interrupted on their way to topic: those whose copy is there, those unknowable."""
    tps = await partitions(consumer, topic)
    kept_from = {tp.partition: offset for tp, offset in (await consumer.beginning_offsets(tps)).items()}
    unknowable = beyond_retention(interrupted, found, topic, kept_from)
    looking = [letter for letter in interrupted if letter.position not in unknowable]
    if not looking:
        return set(), unknowable
    wanted = {marker(letter, dlq): letter.position for letter in looking}
    begin = {tp.partition: min(starts(found, le, topic).get(tp.partition, 0) for le in looking) for tp in tps}
    plan = await plan_read(consumer, topic, Start(offsets=begin))
    there: set[str] = set()
    with progress(total=sum(end - first for first, end in plan.values()), what=f"{topic} checked") as bar:
        async for record in read(consumer, plan):
            there.update(wanted[value] for name, value in record.headers if name == REDRIVEN_FROM_HEADER
                         and value in wanted)  # fmt: skip
            bar.update(1)
    return there, unknowable


async def find_copies(
    consumer: AIOKafkaConsumer, bound: Mapping[str, Sequence[DeadLetter]], found: Letters, settings: Settings
) -> tuple[set[str], set[str]]:
    """Of the interrupted letters, by destination: those whose copy is there, those unknowable."""
    there: set[str] = set()
    unknowable: set[str] = set()
    for topic, interrupted in bound.items():
        found_there, unsure = await find_copies_on(
            consumer, topic, interrupted, found, settings.task_events_dlq_topic
        )
        there |= found_there
        unknowable |= unsure
    return there, unknowable


async def write_intent(
    sending: AIOKafkaProducer, consumer: AIOKafkaConsumer, letters: Sequence[DeadLetter], settings: Settings
) -> None:
    """Record, before any of them is sent, which letters go back and where each destination ends now."""
    ends: dict[str, dict[int, int]] = {}
    for topic in sorted({destination(letter, settings) or "" for letter in letters} - {""}):
        tps = await partitions(consumer, topic)
        ends[topic] = {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
    value = intent_value([letter.position for letter in letters], ends)
    await sending.send_and_wait(
        settings.task_events_dlq_topic, value, headers=[(INTENT_HEADER, INTENT_FORMAT)]
    )


async def mark(sending: AIOKafkaProducer, letter: DeadLetter, settings: Settings) -> None:
    """Mark a letter redriven in the DLQ (its copy is on its destination)."""
    headers = [(REDRIVEN_HEADER, letter.position.encode())]
    await sending.send_and_wait(settings.task_events_dlq_topic, b"", key=letter.key, headers=headers)


async def send_back(sending: AIOKafkaProducer, letter: DeadLetter, topic: str, settings: Settings) -> None:
    """Send one letter's copy to topic and, only once the broker has it, mark the letter."""
    headers = redrive_headers(letter, settings.task_events_dlq_topic)
    await sending.send_and_wait(topic, letter.value, key=letter.key, headers=headers)
    await mark(sending, letter, settings)


def by_destination(letters: Sequence[DeadLetter], settings: Settings) -> dict[str, list[DeadLetter]]:
    """The letters grouped by the topic each goes back to (letters with none left out)."""
    grouped: dict[str, list[DeadLetter]] = defaultdict(list)
    for letter in letters:
        topic = destination(letter, settings)
        if topic is not None:
            grouped[topic].append(letter)
    return grouped


async def redrive_letters(found: Letters, chosen: Sequence[DeadLetter], settings: Settings) -> Outcome:
    """Send each chosen letter back unless it went already; finish what an interrupted redrive began."""
    waiting = [letter for letter in chosen if found.state(letter) != "redriven"]
    outcome = Outcome(already=len(chosen) - len(waiting), truncated=[le for le in waiting if le.truncated])
    bound = {
        le.position: topic for le in waiting if not le.truncated and (topic := destination(le, settings))
    }
    outcome.nowhere = [le for le in waiting if not le.truncated and le.position not in bound]
    sendable = [letter for letter in waiting if letter.position in bound]
    interrupted = [letter for letter in sendable if found.state(letter) == "interrupted"]
    # A consumer of its own: the one that read the DLQ keeps metadata for the DLQ only.
    async with open_consumer(settings) as consumer, producer(settings) as sending:
        there, unknowable = await find_copies(
            consumer, by_destination(interrupted, settings), found, settings
        )
        outcome.in_doubt = [letter for letter in sendable if letter.position in unknowable]
        to_send = [letter for letter in sendable if letter.position not in there | unknowable]
        for letter in sendable:
            if letter.position in there:
                await mark(sending, letter, settings)
        if to_send:
            await write_intent(sending, consumer, to_send, settings)
        for letter in progress(to_send, what="letters sent back"):
            await send_back(sending, letter, bound[letter.position], settings)
            outcome.sent[bound[letter.position]] += 1
    outcome.already += len(there)
    return outcome
