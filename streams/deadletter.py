"""The dead-letter queue: the original message plus headers saying what went wrong and where.

When the DLQ refuses the original for good (too large for the broker, or its headers are), a
truncated copy goes instead: the first TRUNCATED_BYTES of the value, the original size and its
SHA-256, and why the full copy was refused. If even that is refused (the topic missing, not
authorised), the worker logs one ERROR line with the source position, size, digest and both errors,
and moves on: the original stays on `task-events` at that offset for a replay. A broker that is
unreachable is none of these: that is retried, never skipped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import partial

from aiokafka.errors import UnknownTopicOrPartitionError
from faust.types import EventT

from streams.metrics import DEAD_LETTERS
from streams.retry import describe, retry_transient
from streams.topics import task_events_dlq

log = logging.getLogger(__name__)

ERROR_HEADER = "x-dlq-error"
MESSAGE_HEADER = "x-dlq-error-message"
TOPIC_HEADER = "x-dlq-source-topic"
PARTITION_HEADER = "x-dlq-source-partition"
OFFSET_HEADER = "x-dlq-source-offset"
TRUNCATED_HEADER = "x-dlq-truncated"
SIZE_HEADER = "x-dlq-original-size"
DIGEST_HEADER = "x-dlq-original-sha256"
REFUSED_HEADER = "x-dlq-write-error"
MAX_MESSAGE_BYTES = 1000
TRUNCATED_BYTES = 16 * 1024
MAX_KEY_BYTES = 1024

Headers = list[tuple[str, bytes]]


def _text(value: str) -> bytes:
    """UTF-8 bytes of any str, lone surrogates escaped rather than raising."""
    return value.encode("utf-8", "backslashreplace")


def _pairs(headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None) -> Headers:
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
) -> Headers:
    """The original headers followed by the error and the source position."""
    return [
        *_pairs(original),
        (ERROR_HEADER, _text(reason)),
        (MESSAGE_HEADER, _text(message)[:MAX_MESSAGE_BYTES]),
        (TOPIC_HEADER, _text(topic)),
        (PARTITION_HEADER, str(partition).encode()),
        (OFFSET_HEADER, str(offset).encode()),
    ]


def truncated_copy(
    *, key: bytes | None, value: bytes | None, headers: Headers, refused: BaseException
) -> tuple[bytes | None, bytes, Headers]:
    """What fits when the original was refused: a prefix, its size and digest, our headers only."""
    body = value or b""
    ours = [(name, data) for name, data in headers if name.startswith("x-dlq-")]
    return (
        None if key is None else key[:MAX_KEY_BYTES],
        body[:TRUNCATED_BYTES],
        [
            *ours,
            (TRUNCATED_HEADER, b"true"),
            (SIZE_HEADER, str(len(body)).encode()),
            (DIGEST_HEADER, hashlib.sha256(body).hexdigest().encode()),
            (REFUSED_HEADER, _text(describe(refused))[:MAX_MESSAGE_BYTES]),
        ],
    )


class DeadLetterTopicMissing(Exception):
    """The DLQ topic is not in the broker's metadata: refused for good, not a broker that is away."""


async def _send(key: bytes | None, value: bytes | None, headers: Headers) -> None:
    """Publish one record to the DLQ and wait until the broker has it."""
    try:
        # force=True sends now instead of attaching to the current offset: the caller acks right after.
        pending = await task_events_dlq.send(key=key, value=value, headers=headers, force=True)
        await pending
    except UnknownTopicOrPartitionError as exc:
        # aiokafka calls this retriable, but waiting for a topic nobody creates would stall the stream.
        raise DeadLetterTopicMissing(f"{task_events_dlq.get_topic_name()}: {exc}") from exc


async def dead_letter(event: EventT, *, reason: str, message: str, max_backoff: float) -> None:
    """Dead-letter one message: the original, else a truncated copy, else an ERROR log line."""
    source = event.message
    headers = dead_letter_headers(
        original=source.headers, reason=reason, message=message,
        topic=source.topic, partition=source.partition, offset=source.offset,
    )  # fmt: skip
    where = f"{source.topic}[{source.partition}]@{source.offset}"
    await _dead_letter(source.key, source.value, headers, where=where, reason=reason, max_backoff=max_backoff)


async def dead_letter_value(
    *, key: bytes | None, value: bytes, source: str, reason: str, message: str, max_backoff: float
) -> None:
    """Dead-letter a record that came from somewhere other than a topic (partition and offset -1)."""
    headers = dead_letter_headers(
        original=None, reason=reason, message=message, topic=source, partition=-1, offset=-1
    )
    await _dead_letter(key, value, headers, where=source, reason=reason, max_backoff=max_backoff)


async def _dead_letter(
    key: bytes | None, value: bytes | None, headers: Headers, *, where: str, reason: str, max_backoff: float
) -> None:
    """Send to the DLQ, retrying while the broker is away; on a refusal, the truncated copy."""
    log.warning("dead-lettering %s: %s", where, reason)
    retrying = partial(retry_transient, what=f"dead-letter {where}", max_backoff=max_backoff)
    try:
        await retrying(partial(_send, key, value, headers))
        DEAD_LETTERS.labels(reason).inc()
        return
    except Exception as exc:
        refused = exc
    log.warning("DLQ refused %s (%s); sending a truncated copy", where, describe(refused))
    copy = truncated_copy(key=key, value=value, headers=headers, refused=refused)
    try:
        await retrying(partial(_send, *copy))
        DEAD_LETTERS.labels(reason).inc()
    except Exception as exc:
        body = value or b""
        log.error(
            "could not dead-letter %s at all, moving on (replay it from there): reason %s; size %d; "
            "sha256 %s; original refused: %s; copy refused: %s",
            where, reason, len(body), hashlib.sha256(body).hexdigest(), describe(refused), describe(exc),
        )  # fmt: skip


async def dead_letter_all(bad: Sequence[tuple[EventT, str, str]], *, max_backoff: float) -> None:
    """Dead-letter each (event, reason, message); returns once every one is settled."""
    for event, reason, message in bad:
        await dead_letter(event, reason=reason, message=message, max_backoff=max_backoff)
