"""Audit ingestion rate: the worker's batch insert against two baselines measured in the same run.

Goals (see the developers' guide): >= 0.5x the idempotent-COPY rate (COPY into a temp table, then
INSERT ... ON CONFLICT DO NOTHING) and >= 10x one INSERT + COMMIT per event.
Run: .venv/bin/python -m bench.audit_ingest [--events N] [--batch N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence

import psycopg
from sqlalchemy.orm import Session, sessionmaker

from bench.common import bench_database, make_events
from shared.db import make_engine, make_sessionmaker
from shared.events import TaskEvent
from shared.settings import load_settings
from streams.audit.store import insert_audit_rows

COLUMNS = "event_id, event_type, user_id, task_id, event_data, timestamp, prev_hash, hash"
# The baselines store the same bytes per row as the worker but compute no chain.
UNCHAINED = bytes(32)


def _row(event: TaskEvent) -> tuple[object, ...]:
    """One audit row's values, with placeholder hashes (the baselines measure storage without the chain)."""
    return (
        event.event_id,
        event.event_type,
        event.user_id,
        event.task_id,
        event.to_json(),
        event.timestamp,
        UNCHAINED,
        UNCHAINED,
    )


def _batches(events: Sequence[TaskEvent], size: int) -> list[Sequence[TaskEvent]]:
    """The events cut into batches of `size`."""
    return [events[i : i + size] for i in range(0, len(events), size)]


def copy_baseline(url: str, events: Sequence[TaskEvent], batch: int) -> None:
    """COPY each batch into a temp table, then INSERT ... ON CONFLICT DO NOTHING, one commit per batch."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TEMP TABLE audit_stage (LIKE audit_log INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        conn.commit()
        for chunk in _batches(events, batch):
            with conn.cursor() as cur:
                with cur.copy(f"COPY audit_stage ({COLUMNS}) FROM STDIN") as copy:
                    for event in chunk:
                        copy.write_row(_row(event))
                cur.execute(
                    f"INSERT INTO audit_log ({COLUMNS}) SELECT {COLUMNS} FROM audit_stage "
                    "ON CONFLICT (event_id) DO NOTHING"
                )
            conn.commit()


def per_event_baseline(url: str, events: Sequence[TaskEvent], _batch: int) -> None:
    """One INSERT and one COMMIT per event."""
    with psycopg.connect(url) as conn:
        for event in events:
            conn.execute(
                f"INSERT INTO audit_log ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (event_id) DO NOTHING",
                _row(event),
            )
            conn.commit()


def worker_path(sessions: sessionmaker[Session]) -> Callable[[str, Sequence[TaskEvent], int], None]:
    """The stream worker's own batch insert (streams.audit.store.insert_audit_rows)."""

    def run(_url: str, events: Sequence[TaskEvent], batch: int) -> None:
        for chunk in _batches(events, batch):
            insert_audit_rows(sessions=sessions, events=chunk)

    return run


def _measure(
    name: str, run: Callable[[str, Sequence[TaskEvent], int], None], url: str, events, batch
) -> float:
    """Events per second of one method on an empty table; checks every row landed."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE audit_log")
    started = time.perf_counter()
    run(url, events, batch)
    elapsed = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM audit_log").fetchone() or (0,)
    if rows != len(events):
        raise SystemExit(f"{name}: {rows} rows for {len(events)} events")
    rate = len(events) / elapsed
    print(f"{name:<28} {len(events):>7} events in {elapsed:6.2f}s = {rate:>9,.0f} events/s")
    return rate


def main() -> None:
    """Measure the three methods and print the ratios against the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--baseline-events", type=int, default=5_000, help="events for the per-event baseline"
    )
    parser.add_argument("--batch", type=int, default=load_settings().audit_batch_size)
    args = parser.parse_args()
    events = make_events(args.events)
    with bench_database() as url:
        engine = make_engine(load_settings({"DATABASE_URL": url}))
        sessions = make_sessionmaker(engine)
        copy_rate = _measure("idempotent COPY (baseline)", copy_baseline, url, events, args.batch)
        single_rate = _measure(
            "INSERT+COMMIT (baseline)", per_event_baseline, url, events[: args.baseline_events], 1
        )
        ours = _measure("worker batch insert", worker_path(sessions), url, events, args.batch)
        engine.dispose()
    summary = {
        "batch": args.batch,
        "vs_copy": round(ours / copy_rate, 2),
        "vs_insert_commit": round(ours / single_rate, 1),
        "goals": {"vs_copy": 0.5, "vs_insert_commit": 10},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
