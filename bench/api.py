"""API throughput: closed-loop creates against the product and a bare Flask + psycopg endpoint, same run.

Both run under gunicorn with the argv `make run` uses for the web app (only the app and the port
differ), on the same database, alternating rounds so machine noise falls on both. The product is
the whole stack as `make run` starts it: its relay publishes every create and its worker audits it.
Goal (issue 9): product creates/s >= 0.7x the bare endpoint's. Each round also reports the CPU
time per create of the web server (the product's gunicorn, relay included; the bare gunicorn) and of
the whole stack, which, unlike the rates, hardly moves with whatever else the machine is running.
Then the counts: the API's GET /audit/counts answered by the stream, beside the worker's own view
and the same count in SQL.
Run: .venv/bin/python -m bench.api [--connections 16] [--seconds 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import httpx

from bench.stack import (
    ROOT,
    Stack,
    cpu_by_service,
    descendants,
    gunicorn_argv,
    running_stack,
    seed_users,
    stop_stack,
    wait_ready,
)
from devstack.kafka import free_port
from devstack.stack import web_service

GOAL = 0.7
# What runs beside the server in a round and is charged to it per create (the "whole stack").
STACK_PARTS = ("postgres", "broker", "worker", "mail")


def bare_argv(stack: Stack, port: int) -> list[str]:
    """The stack's own gunicorn command line, serving bench.bare_app on `port` instead."""
    return gunicorn_argv(stack.env, port=port, app="bench.bare_app:create_app()")


async def closed_loop(urls: list[str], headers: list[dict[str, str]], seconds: float) -> tuple[int, int]:
    """Each connection posts creates back to back for `seconds`; (created, other answers)."""
    done = [0, 0]
    deadline = time.monotonic() + seconds
    body = {"title": "Errand", "description": "Bring the forms to the post office before noon"}

    async def one(http: aiohttp.ClientSession, url: str, hdrs: dict[str, str]) -> None:
        """One connection's loop."""
        while time.monotonic() < deadline:
            async with http.post(url, json=body, headers=hdrs) as response:
                await response.read()
                done[0 if response.status == 201 else 1] += 1

    connector = aiohttp.TCPConnector(limit=len(urls))
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(one(http, u, h) for u, h in zip(urls, headers, strict=True)))
    return done[0], done[1]


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and everything below it."""
    total = 0
    for each in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_seconds(stack: Stack, bare: subprocess.Popen[bytes]) -> dict[str, float]:
    """CPU seconds so far by part: the stack's services (web is the product's gunicorn) and the bare app."""
    return {**cpu_by_service(stack), "bare": tree_cpu_seconds(bare.pid)}


def measure(
    name: str,
    urls: list[str],
    headers: list[dict[str, str]],
    seconds: float,
    cpu: Callable[[], dict[str, float]],
) -> tuple[float, dict[str, float]]:
    """Creates per second over one round (after a short warm-up), and CPU ms per create by part."""
    asyncio.run(closed_loop(urls, headers, 2.0))
    before = cpu()
    started = time.monotonic()
    created, failed = asyncio.run(closed_loop(urls, headers, seconds))
    rate = created / (time.monotonic() - started)
    used = {
        part: (seconds_ - before.get(part, 0.0)) * 1000 / max(created, 1) for part, seconds_ in cpu().items()
    }
    server = used["web" if name == "product" else "bare"]
    # The whole stack: the server, PostgreSQL, and the relay, broker and worker publishing and
    # auditing the events (the product's relay also publishes the bare endpoint's outbox rows).
    parts = {part: used.get(part, 0.0) for part in STACK_PARTS}
    whole = server + sum(parts.values())
    print(f"{name:<8} {created:>6} creates in {seconds:.0f}s = {rate:7.1f}/s ({failed} failed), "
          f"CPU per create: server {server:.2f} ms, whole stack {whole:.2f} ms", flush=True)  # fmt: skip
    by_part = ", ".join(f"{part} {ms:.2f}" for part, ms in parts.items())
    print(f"{'':<8} CPU ms per create by part: {by_part}", flush=True)
    if failed:
        raise SystemExit(f"{name}: {failed} creates failed")
    return rate, {"server_ms": round(server, 3), "stack_ms": round(whole, 3), **parts}


def latencies_ms(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds of `repeat` sequential calls (after 10 warm-ups)."""
    for _ in range(10):
        call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return round(cuts[49], 2), round(cuts[98], 2)


def counts_figures(stack: Stack, user: tuple[str, str], repeat: int) -> dict[str, tuple[float, float]]:
    """GET /api/<user>/audit/counts (answered by the stream) beside the same count in SQL, same run.

    Baselines: the worker's own /counts/ view, and web.audit.services.count_events (the API's
    database fallback) run directly on the stack's database.
    """
    from sqlalchemy.orm import Session

    from shared.db import make_engine
    from shared.settings import load_settings
    from web.audit.services import count_events

    user_id, token = user
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as http:
        api = f"{stack.base_url}/api/{user_id}/audit/counts"
        body = http.get(api).json()
        if body.get("source") != "stream":
            raise SystemExit(f"counts did not come from the stream: {body}")
        figures = {"api (stream)": latencies_ms(lambda: http.get(api).raise_for_status(), repeat)}
        worker = f"{stack.env['WORKER_URL']}/counts/{user_id}/"
        figures["worker /counts/"] = latencies_ms(lambda: http.get(worker).raise_for_status(), repeat)
    engine = make_engine(load_settings({"DATABASE_URL": stack.database_url}))
    with Session(engine) as session:
        figures["sql count"] = latencies_ms(lambda: count_events(session=session, user_id=user_id), repeat)
    engine.dispose()
    for name, (p50, p99) in figures.items():
        print(f"counts {name:<16} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms", flush=True)
    return figures


def main() -> None:
    """Start the stack and the bare app, alternate rounds, print both rates and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", default=None, help="server to create the bench database on")
    args = parser.parse_args()
    with running_stack(args.database_url) as stack:
        users = seed_users(stack, args.connections)
        port = free_port()
        bare = subprocess.Popen(bare_argv(stack, port), cwd=ROOT, env=stack.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        try:
            wait_ready(f"http://127.0.0.1:{port}/nothing", bare, expect=404)
            product_urls = [f"{stack.base_url}/api/{uid}/tasks" for uid, _ in users]
            product_headers = [{"Authorization": f"Bearer {token}"} for _, token in users]
            bare_urls = [f"http://127.0.0.1:{port}/bare/{uid}/tasks" for uid, _ in users]
            rates: dict[str, list[float]] = {"product": [], "bare": []}
            cpu: dict[str, list[dict[str, float]]] = {"product": [], "bare": []}
            for _ in range(args.rounds):
                for name, urls, hdrs in (
                    ("product", product_urls, product_headers),
                    ("bare", bare_urls, [{}] * len(users)),
                ):
                    rate, used = measure(name, urls, hdrs, args.seconds, lambda: cpu_seconds(stack, bare))
                    rates[name].append(rate)
                    cpu[name].append(used)
            counts = counts_figures(stack, users[0], repeat=300)
        finally:
            stop_stack(bare)
    product, base = statistics.mean(rates["product"]), statistics.mean(rates["bare"])
    summary = {
        "connections": args.connections,
        "product_per_s": round(product, 1),
        "bare_per_s": round(base, 1),
        "ratio": round(product / base, 2),
        "cpu_ms_per_create": {
            name: {
                part: round(statistics.mean(r[part] for r in rounds), 2)
                for part in ("server_ms", "stack_ms", *STACK_PARTS)
            }
            for name, rounds in cpu.items()
        },
        "goal": GOAL,
        "gunicorn": " ".join(web_service(stack.env).argv[3:-1]),
        "counts_ms_p50_p99": counts,
        "counts_goal": "api (stream) p99 <= 10 ms and below sql count p99",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
