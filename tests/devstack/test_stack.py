"""`make run` (python -m devstack): the whole stack starts, works end to end, stops, and keeps its data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.kafka import free_port
from shared.settings import environment

pytestmark = pytest.mark.slow

# Variables that would point the stack at outside servers instead of starting its own.
OUTSIDE = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TEST_DATABASE_URL", "TEST_KAFKA_BOOTSTRAP_SERVERS")


def _as_background_job() -> None:
    """In the child before exec: SIGINT ignored, as a shell starts `cmd &` (and CI runners may)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DevStack:
    """One `python -m devstack` process in a scratch folder, its output collected line by line."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.lines: list[str] = []
        self.port = int(env["PORT"])
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> float:
        """Launch it and return the seconds until it printed that it is ready."""
        started = time.monotonic()
        # Started as a background job is (SIGINT ignored): Ctrl-C in stop() must still end it.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=self.folder, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=_as_background_job,
        )  # fmt: skip
        self.collector = threading.Thread(target=self._collect, daemon=True)
        self.collector.start()
        deadline = started + 90
        while not any("supervisor" in line and "ready in" in line for line in self.lines):
            assert self.process.poll() is None, "\n".join(self.lines[-40:])
            assert time.monotonic() < deadline, "\n".join(self.lines[-40:])
            time.sleep(0.1)
        return time.monotonic() - started

    def _collect(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def stop(self) -> int:
        """Ctrl-C, as a person would; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(
                "the stack did not stop within 60 s:\n" + "\n".join(self.lines[-60:])
            ) from None
        self.collector.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def call(self, method: str, path: str, body: dict | None = None, token: str = "") -> tuple[int, dict]:
        """One JSON API request."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")


@pytest.fixture
def folder() -> Iterator[Path]:
    """A scratch project folder the embedded server's user can traverse."""
    path = Path(tempfile.mkdtemp(prefix="todo-devstack-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Free ports for every server the stack starts, and no outside servers."""
    env = {k: v for k, v in environment().items() if k not in OUTSIDE}
    worker_port = free_port()
    env.update(
        PORT=str(free_port()),
        DEV_KAFKA_PORT=str(free_port()),
        SMTP_PORT=str(free_port()),
        WORKER_WEB_PORT=str(worker_port),
        WORKER_URL=f"http://127.0.0.1:{worker_port}",
        WORKER_APP_ID=f"devstack-test-{os.getpid()}",
    )
    return env


def _wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def _audit_items(stack: DevStack, base: str, token: str, *, expected: int) -> list[dict] | None:
    """The user's audit rows once there are as many as expected."""
    items = stack.call("GET", f"{base}/audit", token=token)[1]["items"]
    return items if len(items) == expected else None


def _counts_when_total(stack: DevStack, base: str, token: str, *, total: int) -> dict | None:
    """The user's counts once their total has reached `total`."""
    counts = stack.call("GET", f"{base}/audit/counts", token=token)[1]
    return counts if counts["total"] == total else None


def _database_users(folder: Path) -> set[str]:
    """The roles of the sessions on the stack's database, asked over the embedded server's socket."""
    import psycopg

    # postmaster.pid: line 4 is the port, line 5 the socket directory.
    lines = (folder / "var" / "pg" / "postmaster.pid").read_text().splitlines()
    with psycopg.connect(host=lines[4], port=lines[3], user="postgres", dbname="todo") as conn:
        rows = conn.execute(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'todo' AND pid <> pg_backend_pid()"
        ).fetchall()
    return {str(row[0]) for row in rows}


def test_make_run_serves_the_whole_pipeline_and_keeps_data_across_runs(folder, stack_env):
    stack = DevStack(folder, stack_env)
    ready_after = stack.start()
    try:
        _, user = stack.call(
            "POST", "/api/auth/register", {"email": "dev@example.com", "password": "longenough"}
        )
        _, tokens = stack.call(
            "POST", "/api/auth/login", {"email": "dev@example.com", "password": "longenough"}
        )
        token, base = tokens["access_token"], f"/api/{user['user_id']}"
        status, task = stack.call("POST", f"{base}/tasks", {"title": "Water the plants"}, token)
        assert status == 201
        stack.call("PATCH", f"{base}/tasks/{task['id']}/complete", token=token)
        mails = _wait_for(lambda: list((folder / "var" / "mail").glob("*.eml")))
        assert "Water the plants" in mails[0].read_text()
        items = _wait_for(lambda: _audit_items(stack, base, token, expected=2))
        assert sorted(item["event_type"] for item in items) == ["completed", "created"]
        # The counts table is fed through the worker's repartition topic, so it may trail the audit rows.
        counts = _wait_for(lambda: _counts_when_total(stack, base, token, total=2))
        assert counts["source"] == "stream"
        # The worker wrote those rows as its own role; the web app stays the tables' owner.
        assert {"todo_worker", "postgres"} <= _database_users(folder)
    finally:
        code = stack.stop()
    assert code == 0, "\n".join(stack.lines[-30:])
    assert any("stopping worker" in line for line in stack.lines)
    print(f"make run ready after {ready_after:.1f}s")

    again = DevStack(folder, stack_env)
    again.start()
    try:
        _, tokens = again.call(
            "POST", "/api/auth/login", {"email": "dev@example.com", "password": "longenough"}
        )
        _, tasks = again.call("GET", f"/api/{tokens['user_id']}/tasks", token=tokens["access_token"])
        assert [t["title"] for t in tasks] == ["Water the plants"]
    finally:
        assert again.stop() == 0
