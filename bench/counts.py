"""Counts (issue 9 §4): the API's counts, answered by the stream, beside the same count in SQL, same run.

The stack runs as `make run` starts it. Two users: a light one (--light events) and a heavy one
(--heavy events; 50,000 is the busiest user of the 1M-row audit benchmark). Their events are outbox
rows in the shape the web writes, so the relay publishes them and the worker audits and counts
them as it does any task change. Four figures, each sampled in turn so all see the same load:
- api: `GET /api/<user>/audit/counts` as a user asks it, checked to be answered by the stream;
- api-sql: the same request to a second gunicorn of the same app and settings whose WORKER_URL
  nobody listens on, so it answers from its database fallback (checked): the same count in SQL
  behind the same HTTP, auth and Flask (plus one refused connect, ~0.1 ms);
- worker: the worker's own `/counts/<user>/` view (the API adds auth, HTTP and Flask to it);
- sql: `web.audit.services.count_events` (that fallback) timed in-process, with no HTTP and no auth.
Phases: idle (everything drained), then while bench.load's open-loop mix runs at --rate (100
operations/s, issue 9 §2) in a process of its own. Goal: api p99 <= 10 ms and below the SQL
count's p99, in-process (sql) and behind the same API (api-sql); each verdict is printed.
Run: .venv/bin/python -m bench.counts [--heavy 50000] [--light 100] [--rate 100] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
from sqlalchemy.orm import Session

from bench import load
from bench.stack import ROOT, Stack, gunicorn_argv, running_stack, seed_users, stop_stack, wait_ready
from devstack.kafka import free_port
from shared.db import make_engine
from shared.settings import load_settings
from web.audit.services import count_events
from web.outbox.repository import CHANNEL

GOAL_P99_MS = 10.0
# `count` created events for one user, as the web's outbox rows (the relay's input), in one statement.
SEED_EVENTS = """
INSERT INTO outbox (event_id, user_id, event_type, payload)
SELECT e, %(user)s::text, 'created', jsonb_build_object(
    'event_id', e::text, 'event_type', 'created',
    'timestamp', to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'user_id', %(user)s::text, 'task_id', i,
    'task_data', jsonb_build_object('title', 'Task ' || i, 'description', '', 'completed', false))
FROM (SELECT gen_random_uuid() AS e, i FROM generate_series(1, %(count)s) AS i) AS events
"""


def seed_events(stack: Stack, counts: dict[str, int], timeout: float = 300.0) -> float:
    """Write each user's events to the outbox; seconds until the worker's counts hold them all."""
    started = time.monotonic()
    with psycopg.connect(stack.database_url) as conn:
        for user_id, count in counts.items():
            conn.execute(SEED_EVENTS, {"user": user_id, "count": count})
        conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
    with httpx.Client() as http:
        for user_id, count in counts.items():
            while http.get(f"{stack.env['WORKER_URL']}/counts/{user_id}/").json().get("created") != count:
                if time.monotonic() - started > timeout:
                    raise SystemExit(
                        f"the worker did not count {count} events for {user_id} in {timeout:.0f} s"
                    )
                time.sleep(0.5)
    return time.monotonic() - started


@contextmanager
def sql_answering_web(stack: Stack) -> Iterator[str]:
    """A second gunicorn of the product, whose worker never answers: its counts come from SQL."""
    port = free_port()
    env = {**stack.env, "WORKER_URL": f"http://127.0.0.1:{free_port()}", "RELAY_ENABLED": "false"}
    argv = gunicorn_argv(env, port=port, access_log=False)
    web = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", web)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_stack(web)


def api_call(http: httpx.Client, url: str, token: str, source: str) -> Callable[[], object]:
    """GET the counts; fail loudly unless `source` answered."""
    headers = {"Authorization": f"Bearer {token}"}

    def call() -> object:
        body = http.get(url, headers=headers).raise_for_status().json()
        if body.get("source") != source:
            raise SystemExit(f"counts did not come from the {source}: {body}")
        return body

    return call


def probes(
    stack: Stack, sql_web: str, user: tuple[str, str], http: httpx.Client, session: Session
) -> dict[str, Callable[[], object]]:
    """The four ways to get one user's counts, each a call that fails loudly."""
    user_id, token = user
    path = f"/api/{user_id}/audit/counts"
    return {
        "api": api_call(http, stack.base_url + path, token, "stream"),
        "api-sql": api_call(http, sql_web + path, token, "database"),
        "worker": lambda: http.get(f"{stack.env['WORKER_URL']}/counts/{user_id}/").raise_for_status(),
        "sql": lambda: count_events(session=session, user_id=user_id),
    }


def sample(
    calls: dict[str, Callable[[], object]], until: Callable[[int], bool], gap: float
) -> dict[str, list[float]]:
    """Milliseconds of each call, taken in turn until `until(rounds)` (after 10 warm-up rounds)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    rounds = -10
    while not until(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            if rounds >= 0:
                samples[name].append((time.perf_counter() - started) * 1000)
        rounds += 1
        time.sleep(gap)
    return samples


def summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """p50 and p99 of each figure, and whether the API met the goal."""
    figures: dict[str, dict[str, float]] = {}
    for name, values in samples.items():
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        figures[name] = {"p50_ms": round(cuts[49], 2), "p99_ms": round(cuts[98], 2), "n": len(values)}
    return figures


def verdicts(figures: dict[str, dict[str, float]]) -> dict[str, bool]:
    """The goal's parts: API p99 within 10 ms, and below the SQL count's p99 in-process and via the API."""
    api = figures["api"]["p99_ms"]
    parts = {
        "p99_within_10_ms": api <= GOAL_P99_MS,
        "faster_than_sql": api < figures["sql"]["p99_ms"],
        "faster_than_api_sql": api < figures["api-sql"]["p99_ms"],
    }
    return {**parts, "meets_goal": all(parts.values())}


def run_load(
    base_url: str, users: list[tuple[str, str]], rate: float, seconds: float, out: multiprocessing.Queue
) -> None:
    """bench.load's open-loop mix in this process; puts what happened on `out`."""
    accounts = [load.User(user_id=uid, headers={"Authorization": f"Bearer {token}"}) for uid, token in users]
    outcome = asyncio.run(load.drive(base_url, accounts, rate, seconds, seed=0))
    errors = sum(
        n for status, n in outcome.statuses.items() if not status.isdigit() or status.startswith("5")
    )
    out.put({"statuses": outcome.statuses, "http_p99_ms": load.ms(outcome.latencies, 99), "errors": errors})


def phase(
    stack: Stack, sql_web: str, users: dict[str, tuple[str, str]], until: Callable[[int], bool], gap: float
) -> dict:
    """Every figure for every user, sampled until `until` says stop."""
    engine = make_engine(load_settings({"DATABASE_URL": stack.database_url}))
    results: dict[str, dict[str, Any]] = {}
    try:
        with httpx.Client() as http, Session(engine) as session:
            calls = {}
            for label, user in users.items():
                for name, call in probes(stack, sql_web, user, http, session).items():
                    calls[f"{label} {name}"] = call
            samples = sample(calls, until, gap)
        for label in users:
            figures = summary(
                {name: samples[f"{label} {name}"] for name in ("api", "api-sql", "worker", "sql")}
            )
            results[label] = {**figures, **verdicts(figures)}
    finally:
        engine.dispose()
    return results


def report(name: str, results: dict[str, dict[str, Any]]) -> None:
    """One line per user."""
    for label, figures in results.items():
        cells = "  ".join(
            f"{k} {v['p50_ms']:6.2f}/{v['p99_ms']:6.2f}" for k, v in figures.items() if isinstance(v, dict)
        )
        said = " ".join(f"{k}={'yes' if v else 'NO'}" for k, v in figures.items() if isinstance(v, bool))
        print(f"{name:<10} {label:<6} p50/p99 ms: {cells}  {said}", flush=True)


def main() -> None:
    """Start the stack, seed the two users' events, measure idle and under load."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heavy", type=int, default=50_000, help="events of the heavy user")
    parser.add_argument("--light", type=int, default=100, help="events of the light user")
    parser.add_argument("--repeat", type=int, default=300, help="idle samples of each figure")
    parser.add_argument("--rate", type=float, default=100.0, help="background operations/s in the load phase")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load phase")
    parser.add_argument("--load-users", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="server to create the bench database on")
    args = parser.parse_args()
    with running_stack(args.database_url) as stack, sql_answering_web(stack) as sql_web:
        heavy, light, *others = seed_users(stack, 2 + args.load_users)
        users = {"heavy": heavy, "light": light}
        took = seed_events(stack, {heavy[0]: args.heavy, light[0]: args.light})
        print(
            f"seeded {args.heavy} + {args.light} events through the relay and worker in {took:.1f} s",
            flush=True,
        )
        idle = phase(stack, sql_web, users, lambda rounds: rounds >= args.repeat, gap=0.0)
        report("idle", idle)
        out: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        loader = multiprocessing.get_context("spawn").Process(
            target=run_load, args=(stack.base_url, others, args.rate, args.seconds, out)
        )
        loader.start()
        loaded = phase(stack, sql_web, users, lambda _: not loader.is_alive() or not out.empty(), gap=0.01)
        background = out.get(timeout=120)
        loader.join()
        report(f"{args.rate:.0f} ops/s", loaded)
        print(f"background load: {background}", flush=True)
    print(json.dumps({"heavy_events": args.heavy, "light_events": args.light, "idle": idle,
                      "under_load": {"rate": args.rate, **loaded, "background": background},
                      "goal": f"api p99 <= {GOAL_P99_MS} ms and below sql p99"}))  # fmt: skip


if __name__ == "__main__":
    main()
