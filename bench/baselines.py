"""The two designs the worker is measured against, each consuming task-events into audit_log.

- bare: an aiokafka consumer, each fetched batch COPYed into a temp table, one
  INSERT ... ON CONFLICT DO NOTHING, COMMIT, then the offsets committed (at least once).
- naive: the same consumer, but one INSERT and one COMMIT per event.
Both decode the envelope with json.loads and no validation: the bare machine, not a product.
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
