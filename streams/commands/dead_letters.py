"""The dead-letter topic as the dlq command sees it: letters, the marks of redriven ones, and redriving.

A redrive sends the original key, value and headers back to task-events with `x-dlq-redriven-from`,
then writes a mark to the DLQ itself (`x-dlq-redriven: P:N`, empty value) once task-events has the
message. A later redrive skips marked letters, so each goes back once; downstream, the audit insert,
the counts and the mail are idempotent per event_id should a redrive die between the two writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from shared.settings import Settings
from streams.commands.base import progress
from streams.commands.reading import Start, plan_read, read
from streams.deadletter import ERROR_HEADER, SIZE_HEADER, TRUNCATED_HEADER

REDRIVEN_HEADER = "x-dlq-redriven"
REDRIVEN_FROM_HEADER = "x-dlq-redriven-from"


@dataclass(frozen=True)
class DeadLetter:
    """One message in the DLQ and where it sits."""

    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def position(self) -> str:
        """PARTITION:OFFSET, as the commands take it."""
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> bytes | None:
        """The last value of a header, or None."""
        found = [value for key, value in self.headers if key == name]
        return found[-1] if found else None

    @property
    def reason(self) -> str:
        """Why the worker dead-lettered it (x-dlq-error)."""
        return (self.header(ERROR_HEADER) or b"-").decode("utf-8", "backslashreplace")

    @property
    def truncated(self) -> bool:
        """Whether this is a shortened copy (the original was too large for the DLQ)."""
        return self.header(TRUNCATED_HEADER) == b"true"

    @property
    def size(self) -> int:
        """The original message's size in bytes."""
        original = self.header(SIZE_HEADER)
        return int(original) if original and original.isdigit() else len(self.value or b"")


@dataclass
class Letters:
    """Everything in the DLQ: the letters, and the positions already redriven."""

    letters: list[DeadLetter]
    redriven: set[str]

    def find(self, position: str) -> DeadLetter | None:
        """The letter at PARTITION:OFFSET, if there is one."""
        return next((letter for letter in self.letters if letter.position == position), None)


def _letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    """A consumed DLQ record as a DeadLetter."""
    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        key=record.key,
        value=record.value,
        headers=tuple((name, bytes(value or b"")) for name, value in record.headers),
    )


async def load(consumer: AIOKafkaConsumer, settings: Settings) -> Letters:
    """Read the whole DLQ, separating letters from redrive marks."""
    plan = await plan_read(consumer, settings.task_events_dlq_topic, Start(beginning=True))
    found = Letters(letters=[], redriven=set())
    total = sum(end - begin for begin, end in plan.values())
    with progress(total=total, what="dead letters") as bar:
        async for record in read(consumer, plan):
            letter = _letter(record)
            mark = letter.header(REDRIVEN_HEADER)
            if mark is not None:
                found.redriven.add(mark.decode("ascii", "replace"))
            else:
                found.letters.append(letter)
            bar.update(1)
    return found


def redrive_headers(letter: DeadLetter, dlq_topic: str) -> list[tuple[str, bytes]]:
    """The original message's headers (the DLQ's own removed) and where it was redriven from."""
    original = [(name, value) for name, value in letter.headers if not name.startswith("x-dlq-")]
    return [*original, (REDRIVEN_FROM_HEADER, f"{dlq_topic}:{letter.position}".encode())]


async def redrive(producer: AIOKafkaProducer, letter: DeadLetter, settings: Settings) -> None:
    """Send one letter back to task-events, and only once the broker has it, mark it redriven."""
    await producer.send_and_wait(
        settings.task_events_topic,
        letter.value,
        key=letter.key,
        headers=redrive_headers(letter, settings.task_events_dlq_topic),
    )
    await producer.send_and_wait(
        settings.task_events_dlq_topic,
        b"",
        key=letter.key,
        headers=[(REDRIVEN_HEADER, letter.position.encode())],
    )
