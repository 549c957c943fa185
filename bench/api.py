"""API throughput: closed-loop creates against the product and a bare Flask + psycopg endpoint, same run.

Both run under gunicorn with the argv `make run` uses for the web app (only the app and the port
differ), on the same database, alternating rounds so machine noise falls on both. The product is
the whole stack as `make run` starts it: its relay publishes every create and its worker audits it.
Goal (issue 9): product creates/s >= 0.7x the bare endpoint's.
Run: .venv/bin/python -m bench.api [--connections 16] [--seconds 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import time

import aiohttp

from bench.stack import ROOT, Stack, running_stack, seed_users, stop_stack, wait_ready
from devstack.kafka import free_port
from devstack.stack import web_service

GOAL = 0.7


def bare_argv(stack: Stack, port: int) -> list[str]:
    """The stack's own gunicorn command line, serving bench.bare_app on `port` instead."""
    argv = web_service(stack.env).argv
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    argv[-1] = "bench.bare_app:create_app()"
    return argv


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


def measure(name: str, urls: list[str], headers: list[dict[str, str]], seconds: float) -> float:
    """Creates per second over one round (after a short warm-up); refuses a round with failures."""
    asyncio.run(closed_loop(urls, headers, 2.0))
    started = time.monotonic()
    created, failed = asyncio.run(closed_loop(urls, headers, seconds))
    rate = created / (time.monotonic() - started)
    print(f"{name:<8} {created:>6} creates in {seconds:.0f}s = {rate:7.1f}/s ({failed} failed)", flush=True)
    if failed:
        raise SystemExit(f"{name}: {failed} creates failed")
    return rate


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
            for _ in range(args.rounds):
                rates["product"].append(measure("product", product_urls, product_headers, args.seconds))
                rates["bare"].append(measure("bare", bare_urls, [{}] * len(users), args.seconds))
        finally:
            stop_stack(bare)
    product, base = statistics.mean(rates["product"]), statistics.mean(rates["bare"])
    summary = {
        "connections": args.connections,
        "product_per_s": round(product, 1),
        "bare_per_s": round(base, 1),
        "ratio": round(product / base, 2),
        "goal": GOAL,
        "gunicorn": " ".join(web_service(stack.env).argv[3:-1]),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
