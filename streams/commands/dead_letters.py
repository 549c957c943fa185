"""The dead-letter topic as the dlq command sees it: letters, and the records redrives leave beside them.

Besides the letters the worker wrote, the DLQ holds what `dlq redrive` writes (streams/commands/
redrive.py says why): an intent (`x-dlq-redrive-intent`, JSON naming the letters about to go back and
where each topic they go back to ended just before), and a mark per letter once its copy is there
(`x-dlq-redriven: P:N`, empty value). A letter named by an intent but never marked is `interrupted`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.settings import Settings
from streams.commands.base import progress
from streams.commands.reading import Start, plan_read, read
from streams.deadletter import ERROR_HEADER, SIZE_HEADER, TRUNCATED_HEADER

REDRIVEN_HEADER = "x-dlq-redriven"
REDRIVEN_FROM_HEADER = "x-dlq-redriven-from"
INTENT_HEADER = "x-dlq-redrive-intent"
State = Literal["pending", "interrupted", "redriven"]


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
    """Everything in the DLQ: the letters, the positions already redriven, and those a redrive began.

    `intended` maps a position named by an intent to, per topic the intent recorded, the offset per
    partition from which its copy would be found there (the earliest, when several interrupted
    redrives named it). A letter's copy is looked for on its own destination only.
    """

    letters: list[DeadLetter]
    redriven: set[str]
    intended: dict[str, dict[str, dict[int, int]]]

    def find(self, position: str) -> DeadLetter | None:
        """The letter at PARTITION:OFFSET, if there is one."""
        return next((letter for letter in self.letters if letter.position == position), None)

    def state(self, letter: DeadLetter) -> State:
        """Redriven (marked), interrupted (a redrive began it and died), or pending."""
        if letter.position in self.redriven:
            return "redriven"
        return "interrupted" if letter.position in self.intended else "pending"

    def add_intent(self, value: bytes | None, *, task_events: str) -> None:
        """Record an intent's letters and where each topic they went to ended when it was written.

        Intents from before redrives had several destinations hold `task_events_from` alone: their
        letters all went to task-events (named here, as the settings do).
        """
        try:
            body = json.loads(value or b"")
            named = body["topics_from"] if "topics_from" in body else {task_events: body["task_events_from"]}
            starts = {
                str(topic): {int(partition): int(offset) for partition, offset in ends.items()}
                for topic, ends in named.items()
            }
            positions = [str(position) for position in body["letters"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not one of ours: no letter is in doubt because of it
        for position in positions:
            known = self.intended.setdefault(position, {})
            for topic, ends in starts.items():
                before = known.get(topic)
                # A partition one intent does not name is scanned from its beginning (find_copies).
                known[topic] = (
                    ends if before is None else {p: min(o, before[p]) for p, o in ends.items() if p in before}
                )


def intent_value(positions: list[str], topics_from: dict[str, dict[int, int]]) -> bytes:
    """The body of an intent record: the letters about to go back, and where their topics ended."""
    starts = {
        topic: {str(partition): offset for partition, offset in sorted(ends.items())}
        for topic, ends in sorted(topics_from.items())
    }
    return json.dumps({"letters": positions, "topics_from": starts}).encode()


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
    """Read the whole DLQ, separating letters from redrive intents and marks."""
    plan = await plan_read(consumer, settings.task_events_dlq_topic, Start(beginning=True))
    found = Letters(letters=[], redriven=set(), intended={})
    total = sum(end - begin for begin, end in plan.values())
    with progress(total=total, what="dead letters") as bar:
        async for record in read(consumer, plan):
            letter = _letter(record)
            mark = letter.header(REDRIVEN_HEADER)
            if mark is not None:
                found.redriven.add(mark.decode("ascii", "replace"))
            elif letter.header(INTENT_HEADER) is not None:
                found.add_intent(letter.value, task_events=settings.task_events_topic)
            else:
                found.letters.append(letter)
            bar.update(1)
    return found


def marker(letter: DeadLetter, dlq_topic: str) -> bytes:
    """The `x-dlq-redriven-from` value of this letter's copy: the same for every redrive of it."""
    return f"{dlq_topic}:{letter.position}".encode()


def redrive_headers(letter: DeadLetter, dlq_topic: str) -> list[tuple[str, bytes]]:
    """The original message's headers (the DLQ's own removed) and where it was redriven from."""
    original = [(name, value) for name, value in letter.headers if not name.startswith("x-dlq-")]
    return [*original, (REDRIVEN_FROM_HEADER, marker(letter, dlq_topic))]
