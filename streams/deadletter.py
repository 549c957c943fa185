"""The dead-letter queue: the original message, untouched, plus headers saying what went wrong and where."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import partial

from faust.types import EventT

from streams.retry import retry_transient
from streams.topics import task_events_dlq

log = logging.getLogger(__name__)

ERROR_HEADER = "x-dlq-error"
MESSAGE_HEADER = "x-dlq-error-message"
TOPIC_HEADER = "x-dlq-source-topic"
PARTITION_HEADER = "x-dlq-source-partition"
OFFSET_HEADER = "x-dlq-source-offset"
MAX_MESSAGE_BYTES = 1000


def _pairs(headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None) -> list[tuple[str, bytes]]:
    """Message headers as a list of (name, bytes) pairs, whatever shape the client gave."""
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(name), bytes(value or b"")) for name, value in items]


def dead_letter_headers(
    *,
    original: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None,
    reason: str,
    message: str,
    topic: str,
    partition: int,
    offset: int,
) -> list[tuple[str, bytes]]:
    """The original headers followed by the error and the source position."""
    return [
        *_pairs(original),
        (ERROR_HEADER, reason.encode()),
        (MESSAGE_HEADER, message.encode()[:MAX_MESSAGE_BYTES]),
        (TOPIC_HEADER, topic.encode()),
        (PARTITION_HEADER, str(partition).encode()),
        (OFFSET_HEADER, str(offset).encode()),
    ]


async def dead_letter(event: EventT, *, reason: str, message: str) -> None:
    """Publish an event's original bytes to the DLQ and wait until the broker has them."""
    source = event.message
    headers = dead_letter_headers(
        original=source.headers,
        reason=reason,
        message=message,
        topic=source.topic,
        partition=source.partition,
        offset=source.offset,
    )
    where = f"{source.topic}[{source.partition}]@{source.offset}"
    log.warning("dead-lettering %s: %s: %s", where, reason, message)
    # force=True sends now instead of attaching to the current offset: the caller acks right after.
    pending = await task_events_dlq.send(key=source.key, value=source.value, headers=headers, force=True)
    await pending


async def dead_letter_all(bad: Sequence[tuple[EventT, str, str]], *, max_backoff: float) -> None:
    """Dead-letter each (event, reason, message), retrying while the broker refuses."""
    for event, reason, message in bad:
        await retry_transient(
            partial(dead_letter, event, reason=reason, message=message),
            is_transient=lambda _exc: True,
            what="dead-letter publish",
            max_backoff=max_backoff,
        )
