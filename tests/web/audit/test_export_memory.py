"""Exporting 100,000 rows through a real server keeps the server's peak memory flat."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.settings import environment
from tests.fixtures.database import base_environment
from tests.web.audit.factories import bulk_insert

ROWS = 100_000
MAX_GROWTH_KIB = 50 * 1024
ROOT = Path(__file__).resolve().parents[3]


class ExportServer:
    """The app in a child process (see export_server.py), asked for its peak RSS over stdin."""

    def __init__(self, database_url: str, chunk: int | None = None) -> None:
        args = [sys.executable, "-m", "tests.web.audit.export_server", *([str(chunk)] if chunk else [])]
        env = {**environment(), **base_environment(database_url)}
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdin
        assert self.process.stdout
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.url = f"http://127.0.0.1:{int(self.stdout.readline())}"

    def ask(self, command: str) -> int:
        self.stdin.write(command + "\n")
        self.stdin.flush()
        return int(self.stdout.readline())

    def stop(self) -> None:
        self.stdin.close()
        self.process.wait(timeout=10)
        self.stdout.close()


@pytest.fixture
def big_trail(engine, user):
    with engine.begin() as conn:
        bulk_insert(conn, user_id=user.user_id, rows=ROWS, start=datetime(2026, 1, 1, tzinfo=UTC))
        conn.exec_driver_sql("ANALYZE audit_log")
    return user


@pytest.fixture
def server(database_url) -> Iterator[ExportServer]:
    running = ExportServer(database_url)
    yield running
    if running.process.poll() is None:
        running.stop()


def _count_lines(url: str, headers: dict[str, str]) -> tuple[int, int]:
    """Stream the download, counting lines and bytes without keeping it."""
    lines = size = 0
    with httpx.stream("GET", url, headers=headers, timeout=120, trust_env=False) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    return lines, size


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "expected_lines"), [("csv", ROWS + 1), ("ndjson", ROWS)])
def test_exporting_100k_rows_keeps_memory_bounded(big_trail, server, fmt, expected_lines):
    base = f"{server.url}/api/{big_trail.user_id}/audit/export?format={fmt}"
    warm = _count_lines(f"{base}&task_id=1", big_trail.headers)  # load every code path first
    assert warm[0] == (5 if fmt == "csv" else 4)
    before = server.ask("reset")
    started = time.monotonic()
    lines, size = _count_lines(base, big_trail.headers)
    seconds = time.monotonic() - started
    growth = server.ask("peak") - before
    print(
        f"\n{fmt}: {lines} lines, {size / 1e6:.1f} MB in {seconds:.1f}s; RSS {before} KiB, peak +{growth} KiB"
    )
    assert lines == expected_lines
    assert growth < MAX_GROWTH_KIB, f"peak RSS grew by {growth} KiB exporting {ROWS} rows"
