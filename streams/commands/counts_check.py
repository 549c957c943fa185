"""`replay --check`: every user's counts as the worker's table serves them against audit_log's.

Every user means those audit_log holds and those the table holds, so a user counted by the stream
but absent from the database is named too. The table's users are the keys of its changelog topic
(read whole, in no group); their counts are asked of the worker, which answers for the current
value whoever holds the partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import quote

import httpx

from shared.counts import COUNT_FIELDS, counts_from, parse_counts
from shared.settings import Settings
from streams.commands.base import progress
from streams.commands.reading import Start, open_consumer, plan_read, read
from streams.commands.safe import safe_text
from streams.commands.store import audit_counts
from streams.counts import user_to_counts
from streams.database import worker_sessions

# A tool may wait longer than a page does (COUNTS_TIMEOUT_SECONDS) for a busy worker.
WORKER_TIMEOUT_SECONDS = 10.0


class WorkerUnavailable(Exception):
    """The worker did not answer, so the stream side cannot be checked."""


async def stream_counts(client: httpx.AsyncClient, settings: Settings, user_id: str) -> dict[str, int]:
    """The worker's counts for one user (any worker answers, Faust routes to the owner)."""
    url = f"{settings.worker_url.rstrip('/')}/counts/{quote(user_id, safe='')}/"
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise WorkerUnavailable(f"the worker at {settings.worker_url} did not answer: {exc!r}") from None
    counts = parse_counts(response.json(), user_id) if response.status_code == 200 else None
    if counts is None:
        raise WorkerUnavailable(f"the worker answered {url} with {response.status_code} and no counts")
    return counts


async def table_users(settings: Settings) -> set[str]:
    """Every user the counts table holds: the keys of its changelog (none before it exists)."""
    users: set[str] = set()
    topic = user_to_counts.changelog_topic.get_topic_name()
    async with open_consumer(settings) as consumer:
        await consumer.topics()
        if not consumer.partitions_for_topic(topic):
            return users
        async for record in read(consumer, await plan_read(consumer, topic, Start(beginning=True))):
            with contextlib.suppress(ValueError):
                key = json.loads(record.key or b"")
                if isinstance(key, str):
                    users.add(key)
    return users


async def disagreements(settings: Settings) -> tuple[int, list[str]]:
    """How many users were checked, and one line for each whose stream and database counts differ."""
    database = await asyncio.to_thread(audit_counts, sessions=worker_sessions(settings))
    users = sorted(set(database) | await table_users(settings))
    nothing = counts_from({})
    lines = []
    async with httpx.AsyncClient(timeout=WORKER_TIMEOUT_SECONDS, trust_env=False) as client:
        for user_id in progress(users, what="users"):
            stream = await stream_counts(client, settings, user_id)
            stored = database.get(user_id, nothing)
            if stream != stored:
                lines.append(f"{safe_text(user_id)}: stream {describe(stream)}; database {describe(stored)}")
    return len(users), lines


def describe(counts: dict[str, int]) -> str:
    """created=1 updated=0 ... total=1."""
    return " ".join(f"{name}={counts[name]}" for name in COUNT_FIELDS)
