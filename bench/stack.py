"""The whole stack as `make run` starts it, on free ports in a scratch directory, for the HTTP benchmarks.

The database is an embedded PostgreSQL this module starts (the same wheel `make run` uses) unless
--database-url names another server, so the benchmark can read audit_log and the outbox itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from devstack.kafka import free_port
from devstack.postgres import EmbeddedPostgres, drop_database, ensure_database
from devstack.stack import web_service

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stack:
    """Where the running stack answers, the environment it was started with, and its process ids."""

    base_url: str
    database_url: str
    env: dict[str, str]
    pid: int
    postmaster_pid: int | None


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children that have exited (user + system), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _service(pid: int) -> str:
    """Which part of the stack a process is, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    for name in ("gunicorn", "faust", "tansu", "mailsink", "postgres"):
        if name in argv:
            return {"gunicorn": "web", "faust": "worker", "tansu": "broker"}.get(name, name)
    return "other"


def cpu_by_service(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack (PostgreSQL only when this run started it).

    CPU time, unlike throughput, hardly depends on what else the (shared) machine is running.
    """
    roots = [stack.pid] + ([stack.postmaster_pid] if stack.postmaster_pid else [])
    totals: dict[str, float] = {}
    for root in roots:
        for pid in [root, *descendants(root)]:
            name = "postgres" if root == stack.postmaster_pid else _service(pid)
            totals[name] = totals.get(name, 0.0) + _cpu_seconds(pid)
    return totals


def stack_command() -> list[str]:
    """`make run`'s command."""
    return [sys.executable, "-m", "devstack"]


def stack_env(database_url: str, scratch: Path) -> dict[str, str]:
    """The environment of a stack on free ports, so it can run beside anybody else's."""
    worker_port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(
        DATABASE_URL=database_url,
        PORT=str(free_port()),
        DEV_KAFKA_PORT=str(free_port()),
        WORKER_WEB_PORT=str(worker_port),
        WORKER_URL=f"http://127.0.0.1:{worker_port}",
        SMTP_PORT=str(free_port()),
        MAIL_DIR=str(scratch / "mail"),
        WORKER_DATA_DIR=str(scratch / "worker"),
        WORKER_APP_ID=f"bench-{uuid.uuid4().hex[:6]}",
    )
    return env


def gunicorn_argv(
    env: dict[str, str], *, port: int, app: str | None = None, access_log: bool = True
) -> list[str]:
    """The stack's own gunicorn command line (devstack's), bound to `port` on loopback.

    `app` serves another WSGI app under the same settings (bench.api's bare endpoint); without
    `access_log` the server writes no line per request (bench.counts' second server, whose output
    nobody reads: the baseline it serves is then, if anything, cheaper than the product's).
    """
    argv = web_service(env).argv
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    if app is not None:
        argv[-1] = app
    if not access_log:
        at = argv.index("--access-logfile")
        del argv[at : at + 2]
    return argv


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0, expect: int = 200) -> None:
    """Poll `url` until it answers `expect`; fail when the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310  (loopback URL we built)
                if response.status == expect:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == expect:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {timeout:.0f}s")


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) of every process."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(stat.parent.name)] = (int(fields[1]), fields[19])
    return table


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` with its start time (the supervisor starts services in own sessions)."""
    table = _process_table()
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, started) in table.items():
            if ppid == parent and child not in found:
                found[child] = started
                todo.append(child)
    return found


def stop_stack(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the stack, then SIGKILL whatever of it is still running after 30 s (same pid, same start)."""
    family = descendants(process.pid)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    table = _process_table()
    for pid, started in family.items():
        if pid in table and table[pid][1] == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextmanager
def database(server_url: str | None) -> Iterator[tuple[str, int | None]]:
    """A fresh database on `server_url`'s server, or on an embedded one started for the run (and its pid)."""
    scratch = Path(tempfile.mkdtemp(prefix="todo-bench-pg-"))
    scratch.chmod(0o755)
    server = None
    postmaster = None
    if server_url is None:
        server = EmbeddedPostgres(scratch / "data", temporary=True)
        server_url = server.url("postgres")
        postmaster = int((scratch / "data" / "postmaster.pid").read_text().split()[0])
    name = f"todo_bench_{uuid.uuid4().hex[:8]}"
    try:
        yield ensure_database(server_url, name), postmaster
    finally:
        drop_database(server_url, name)
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def running_stack(
    server_url: str | None = None, log: Path | None = None, code: Path | None = None
) -> Iterator[Stack]:
    """Start the whole stack (worker, broker, mail sink, gunicorn) and stop it with Ctrl-C's signal.

    `code` runs the stack from another checkout (e.g. `git archive` of the commit before a change),
    so a before/after pair can be measured in the same session.
    """
    with database(server_url) as (url, postmaster):
        scratch = Path(tempfile.mkdtemp(prefix="todo-bench-stack-"))
        env = stack_env(url, scratch)
        if code is not None:
            env["PYTHONPATH"] = str(code.resolve())
        out = open(log or scratch / "stack.log", "ab")  # noqa: SIM115
        # The checkout as working directory, as `make run` has it: gunicorn reads gunicorn.conf.py there.
        process = subprocess.Popen(
            stack_command(),
            cwd=code or ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{env['PORT']}"
            wait_ready(f"{base}/readyz", process)
            yield Stack(base_url=base, database_url=url, env=env, pid=process.pid, postmaster_pid=postmaster)
        finally:
            stop_stack(process)
            out.close()
            shutil.rmtree(scratch, ignore_errors=True)


def seed_users(stack: Stack, count: int) -> list[tuple[str, str]]:
    """`count` accounts inserted directly (one argon2 hash shared), each with a token the app signs."""
    from flask_jwt_extended import create_access_token

    from shared.settings import load_settings
    from web import create_app
    from web.auth.services import hash_password

    env = {**stack.env, "JWT_ACCESS_TOKEN_EXPIRES": "86400", "RELAY_ENABLED": "false"}
    app = create_app(settings=load_settings(env))
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with app.app_context():
        password_hash = hash_password("bench-password-0000")
        with psycopg.connect(stack.database_url) as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, %s)",
                [(user_id, f"bench-{user_id}@example.com", password_hash) for user_id in ids],
            )
        return [(user_id, create_access_token(identity=user_id)) for user_id in ids]
