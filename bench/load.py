"""End to end under open-loop load: task operations at fixed times against the stack as `make run` starts it.

Open loop: operation i is due at start + i / rate and is sent then whether or not earlier ones were
answered (no coordinated omission); its latency counts from the due time, so a late send counts too.
The mix is create/update/complete/delete over --users accounts; an operation on a task waits for no
other, but a task has at most one operation in flight (a user cannot edit what they have not seen).

Commit to audit row: a poller reads new audit_log rows every --poll-ms and takes the database's
clock_timestamp() at that read minus the event's own timestamp (set by the web process just before
its commit). That is an upper bound: it includes the commit itself and up to one poll interval.

Goal at 100 ops/s (developers' guide): every operation answered, HTTP p99 <= 100 ms, audit row
p99 <= 250 ms, no 5xx, no backlog. --rates 100,150,200 steps the rate up and reports the knee.
Backlog: outbox rows still unpublished once the audit-row budget (250 ms) has passed since the last
answer. The rows pending at the instant of the last answer are reported too ("in flight"): at
100 ops/s a stack that keeps up always has a few rows committed in the last tens of milliseconds,
and counting those made every step with one late commit a miss however fast it drained.
Run: .venv/bin/python -m bench.load [--rate 100] [--duration 60] [--users 200] [--rates 100,150,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg

from bench.stack import Stack, cpu_by_service, running_stack, seed_users

GOALS = {"http_p99_ms": 100.0, "audit_p99_ms": 250.0}
MIX = (("create", 0.35), ("update", 0.35), ("complete", 0.15), ("delete", 0.15))


@dataclass
class User:
    """One simulated account: its token and the tasks it can act on (none with an operation in flight)."""

    user_id: str
    headers: dict[str, str]
    idle: list[int] = field(default_factory=list)
    open_tasks: set[int] = field(default_factory=set)


@dataclass
class Outcome:
    """What happened to the operations of one run."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    send_lag: list[float] = field(default_factory=list)
    last_answer: float = 0.0

    def record(self, status: str, latency: float | None) -> None:
        """Count one answer (or failure) and its latency from the due time."""
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if latency is not None:
            self.latencies.append(latency)
        self.last_answer = time.monotonic()


def pick(user: User, rng: random.Random) -> tuple[str, int | None]:
    """The next operation for this user: the mix, falling back to a create when no task is idle."""
    kind = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
    if kind == "create" or not user.idle:
        return "create", None
    if kind == "complete":
        todo = [t for t in user.idle if t in user.open_tasks]
        if not todo:
            return "update", user.idle.pop(rng.randrange(len(user.idle)))
        task = rng.choice(todo)
        user.idle.remove(task)
        return "complete", task
    return kind, user.idle.pop(rng.randrange(len(user.idle)))


def request_for(kind: str, user: User, task: int | None, n: int) -> tuple[str, str, dict | None]:
    """Method, path and JSON body of one operation."""
    base = f"/api/{user.user_id}/tasks"
    body = {"title": f"Errand {n}", "description": "Bring the forms to the post office before noon"}
    return {
        "create": ("POST", base, body),
        "update": ("PUT", f"{base}/{task}", {**body, "title": f"Errand {n} (moved)"}),
        "complete": ("PATCH", f"{base}/{task}/complete", None),
        "delete": ("DELETE", f"{base}/{task}", None),
    }[kind]


async def operate(http: aiohttp.ClientSession, base: str, user: User, op: tuple[str, int | None],
                  n: int, due: float, outcome: Outcome) -> None:  # fmt: skip
    """Send one operation at its due time and return the task to the user's idle list afterwards."""
    kind, task = op
    method, path, body = request_for(kind, user, task, n)
    outcome.send_lag.append(time.monotonic() - due)
    try:
        async with http.request(method, base + path, json=body, headers=user.headers) as response:
            payload = await response.read()
            latency = time.monotonic() - due
            outcome.record(str(response.status), latency)
            if response.status == 201:
                created = json.loads(payload)["id"]
                user.idle.append(created)
                user.open_tasks.add(created)
            elif response.status < 300 and task is not None and kind != "delete":
                if kind == "complete":
                    user.open_tasks.discard(task)
                user.idle.append(task)
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome.record(type(exc).__name__, None)


async def drive(base: str, users: Sequence[User], rate: float, duration: float, seed: int) -> Outcome:
    """Schedule rate x duration operations at fixed times; wait for every answer (or its timeout)."""
    rng = random.Random(seed)
    outcome = Outcome()
    connector = aiohttp.TCPConnector(limit=2000)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        for n in range(int(rate * duration)):
            due = started + n / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            user = users[n % len(users)]
            task = asyncio.create_task(operate(http, base, user, pick(user, rng), n, due, outcome))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
    return outcome


async def poll_audit(url: str, stop: asyncio.Event, poll: float, after: int) -> tuple[list[float], int]:
    """Commit-to-row seconds of every audit row stored while polling, and the last id seen."""
    seen: list[float] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            rows = await (await conn.execute(
                "SELECT id, extract(epoch FROM clock_timestamp() - timestamp) FROM audit_log "
                "WHERE id > %s ORDER BY id", (after,),
            )).fetchall()  # fmt: skip
            for row_id, age in rows:
                seen.append(float(age))
                after = row_id
            if stop.is_set() and not rows:
                return seen, after
            await asyncio.sleep(poll)


def pending_outbox(url: str) -> int:
    """Outbox rows not yet published."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
        return int(row[0]) if row else 0


def audit_total(url: str) -> int:
    """Rows in audit_log."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        return int(row[0]) if row else 0


def audit_last_id(url: str) -> int:
    """The newest audit_log id (0 when empty)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()
        return int(row[0]) if row else 0


async def settle(url: str, expected: int, timeout: float) -> float:
    """Seconds until audit_log holds `expected` rows (or the timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout and await asyncio.to_thread(audit_total, url) < expected:
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def ms(values: Sequence[float], q: int) -> float:
    """The q-th percentile in milliseconds (0 when there are no values)."""
    if len(values) < 2:
        return round(values[0] * 1000, 1) if values else 0.0
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000, 1)


async def run_step(stack: Stack, users: Sequence[User], rate: float, duration: float, poll: float,
                   seed: int) -> dict:  # fmt: skip
    """One rate for one duration: the figures, and whether they meet the goals."""
    before = await asyncio.to_thread(audit_total, stack.database_url)
    last_id = await asyncio.to_thread(audit_last_id, stack.database_url)
    stop = asyncio.Event()
    poller = asyncio.create_task(poll_audit(stack.database_url, stop, poll, after=last_id))
    cpu_before = cpu_by_service(stack)
    started = time.monotonic()
    outcome = await drive(stack.base_url, users, rate, duration, seed)
    elapsed = outcome.last_answer - started
    in_flight = await asyncio.to_thread(pending_outbox, stack.database_url)
    await asyncio.sleep(max(0.0, outcome.last_answer + GOALS["audit_p99_ms"] / 1000 - time.monotonic()))
    backlog = await asyncio.to_thread(pending_outbox, stack.database_url)
    answered = sum(n for status, n in outcome.statuses.items() if status.isdigit())
    ok = sum(n for status, n in outcome.statuses.items() if status.isdigit() and int(status) < 300)
    drain = await settle(stack.database_url, before + ok, timeout=60)
    stop.set()
    audit, _ = await poller
    cpu = {name: seconds - cpu_before.get(name, 0.0) for name, seconds in cpu_by_service(stack).items()}
    errors5 = sum(n for status, n in outcome.statuses.items() if status.startswith("5"))
    result = {
        "rate": rate,
        "scheduled": int(rate * duration),
        "answered": answered,
        "achieved_rate": round(answered / elapsed, 1) if elapsed > 0 else 0.0,
        "http_p50_ms": ms(outcome.latencies, 50),
        "http_p99_ms": ms(outcome.latencies, 99),
        "audit_p50_ms": ms(audit, 50),
        "audit_p95_ms": ms(audit, 95),
        "audit_p99_ms": ms(audit, 99),
        "audit_rows": len(audit),
        "5xx": errors5,
        "statuses": outcome.statuses,
        "in_flight_at_end": in_flight,
        "backlog_at_end": backlog,
        "drain_s": round(drain, 2),
        "send_lag_max_ms": round(max(outcome.send_lag) * 1000, 1),
        # CPU per successful operation (ms) by service: comparable across runs on a busy machine.
        "cpu_ms_per_op": {
            name: round(seconds * 1000 / max(ok, 1), 2) for name, seconds in sorted(cpu.items())
        },
    }
    result["meets_goals"] = (
        answered == result["scheduled"] and errors5 == 0 and backlog == 0 and len(audit) == ok
        and result["http_p99_ms"] <= GOALS["http_p99_ms"] and result["audit_p99_ms"] <= GOALS["audit_p99_ms"]
    )  # fmt: skip
    return result


def report(result: dict) -> None:
    """One line per step, then the step's JSON."""
    print(
        f"{result['rate']:>6.0f} ops/s: answered {result['answered']}/{result['scheduled']} "
        f"({result['achieved_rate']}/s), HTTP p50 {result['http_p50_ms']} p99 {result['http_p99_ms']} ms, "
        f"audit p50/p95/p99 {result['audit_p50_ms']}/{result['audit_p95_ms']}/{result['audit_p99_ms']} ms, "
        f"5xx {result['5xx']}, backlog {result['backlog_at_end']} (in flight at the end "
        f"{result['in_flight_at_end']}, drained in {result['drain_s']} s), "
        f"goals {'met' if result['meets_goals'] else 'MISSED'}; CPU ms/op {result['cpu_ms_per_op']}",
        flush=True,
    )
    print(json.dumps(result), flush=True)


async def bench(args: argparse.Namespace) -> None:
    """Start the stack, seed the users, run every step, print the knee."""
    with running_stack(args.database_url, log=args.stack_log, code=args.code) as stack:
        users = [
            User(user_id=uid, headers={"Authorization": f"Bearer {token}"})
            for uid, token in seed_users(stack, args.users)
        ]
        rates = [float(r) for r in args.rates.split(",")] if args.rates else [args.rate]
        results = []
        for step, rate in enumerate(rates):
            results.append(await run_step(stack, users, rate, args.duration, args.poll_ms / 1000, seed=step))
            report(results[-1])
    met = [r["rate"] for r in results if r["meets_goals"]]
    print(json.dumps({"knee_ops_per_s": max(met) if met else None, "goals": GOALS}))


def main() -> None:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="operations per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per step")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rates", default="", help="comma-separated rates to step through (knee search)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="audit_log poll interval")
    parser.add_argument("--database-url", default=None, help="server to create the bench database on")
    parser.add_argument("--stack-log", type=Path, default=None, help="keep the stack's output here")
    parser.add_argument(
        "--code", type=Path, default=None, help="run the stack from this checkout (before/after)"
    )
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
