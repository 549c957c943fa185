"""The designs the worker is measured against, each consuming task-events into audit_log.

- bare: an aiokafka consumer, each fetched batch COPYed into a temp table, one
  INSERT ... ON CONFLICT DO NOTHING, COMMIT, then the offsets committed (at least once).
- naive: the same consumer, but one INSERT and one COMMIT per event.
Both decode the envelope with json.loads and no validation: the bare machine, not a product.
- chained: the same consumer feeding the worker's own audit write and nothing else: each record
  decoded and validated as the worker decodes it (streams.decoding), the batch inserted with the
  hash chain (streams.audit.store, issue 11) in a thread, as the worker runs it. No Faust, counts,
  mail or hand-on: what any worker that keeps the product's audit guarantees must at least do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from shared.settings import Settings
from streams.audit.store import insert_audit_rows
from streams.database import worker_sessions
from streams.decoding import DecodeError, try_decode

COLUMNS = "event_id, event_type, user_id, task_id, event_data, timestamp, prev_hash, hash"
# Like bench/audit_ingest.py: the baselines store the same bytes per row as the worker (two 32-byte
# hashes) but compute no chain.
UNCHAINED = bytes(32)
STAGE = "CREATE TEMP TABLE bare_stage (LIKE audit_log INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
INSERT = (
    f"INSERT INTO audit_log ({COLUMNS}) SELECT {COLUMNS} FROM bare_stage ON CONFLICT (event_id) DO NOTHING"
)
INSERT_ONE = (
    f"INSERT INTO audit_log ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)

Writer = Callable[[psycopg.AsyncConnection[Any], Sequence[ConsumerRecord]], Awaitable[None]]


def row(value: bytes) -> tuple[Any, ...]:
    """An audit row from a CloudEvents (or bare) message value."""
    obj = json.loads(value)
    event = obj.get("data", obj)
    return (
        event["event_id"],
        event["event_type"],
        event["user_id"],
        event["task_id"],
        json.dumps(event, separators=(",", ":")),
        event["timestamp"],
        UNCHAINED,
        UNCHAINED,
    )


async def copy_batch(conn: psycopg.AsyncConnection[Any], records: Sequence[ConsumerRecord]) -> None:
    """COPY the batch into the staging table, INSERT it idempotently, commit."""
    async with conn.cursor() as cursor:
        async with cursor.copy(f"COPY bare_stage ({COLUMNS}) FROM STDIN") as copy:
            for record in records:
                await copy.write_row(row(record.value))
        await cursor.execute(INSERT)
    await conn.commit()


async def insert_each(conn: psycopg.AsyncConnection[Any], records: Sequence[ConsumerRecord]) -> None:
    """One INSERT and one COMMIT per event."""
    for record in records:
        await conn.execute(INSERT_ONE, row(record.value))
        await conn.commit()


def chained(settings: Settings) -> Writer:
    """The worker's audit write alone: the validated decode, then the chained insert in a thread."""
    sessions = worker_sessions(settings)

    async def write(_conn: psycopg.AsyncConnection[Any], records: Sequence[ConsumerRecord]) -> None:
        decoded = [try_decode(record.value, max_bytes=settings.max_event_bytes) for record in records]
        events = [event for event in decoded if not isinstance(event, DecodeError)]
        if len(events) != len(records):
            raise ValueError(f"{len(records) - len(events)} records did not decode")
        await asyncio.to_thread(insert_audit_rows, sessions=sessions, events=events)

    return write


async def consume(
    *, bootstrap: str, topic: str, url: str, events: int, batch: int, write: Writer, group: str
) -> float:
    """Consume `events` messages through `write`; seconds from the first fetched batch to the last commit."""
    conn = await psycopg.AsyncConnection.connect(url)
    await conn.execute(STAGE)
    await conn.commit()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    done, started = 0, 0.0
    try:
        while done < events:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=batch)
            records = [r for partition in fetched.values() for r in partition][: events - done]
            if not records:
                continue
            started = started or time.perf_counter()
            await write(conn, records)
            await consumer.commit()
            done += len(records)
        return time.perf_counter() - started
    finally:
        await consumer.stop()
        await conn.close()


def run(**kwargs: Any) -> float:
    """Synchronous consume()."""
    return asyncio.run(consume(**kwargs))
