"""`make run`: the whole platform on one laptop, from real servers shipped as wheels.

Order matters: the database (and its schema) first, then the broker, the mail sink and the
worker, and the web app last, so that "ready" is printed only when a person can use it.
"""

from __future__ import annotations

import secrets
import signal
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

from devstack.postgres import EmbeddedPostgres, ensure_database, with_login
from devstack.supervisor import Service, ServiceDied, Supervisor
from shared.settings import environment, is_set, load_settings

VAR = Path("var")
DEV_DATABASE = "todo"
# The worker's login on the embedded server, as compose and the chart name it.
DEV_WORKER_ROLE = "todo_worker"


def prepare_database(env: dict[str, str], sup: Supervisor) -> EmbeddedPostgres | None:
    """Start the embedded server in var/pg unless DATABASE_URL is set, migrate, and make the worker's role."""
    from web.upgrade import upgrade_database

    server = None
    if not is_set("DATABASE_URL", env):
        server = EmbeddedPostgres((VAR / "pg").resolve())
        env["DATABASE_URL"] = ensure_database(server.url("postgres"), DEV_DATABASE)
        sup.say("postgres", f"embedded PostgreSQL, data in {VAR / 'pg'}")
        if not is_set("WORKER_DATABASE_URL", env):
            # A fresh password each run: `db roles` resets it, so none is kept or hard-coded.
            password = secrets.token_urlsafe(24)
            env["WORKER_DATABASE_URL"] = with_login(env["DATABASE_URL"], DEV_WORKER_ROLE, password)
    settings = load_settings(env)
    worker_role = bool(settings.worker_database_url)
    upgrade_database(settings, worker_role=worker_role)
    sup.say("postgres", "migrations applied" + (", worker role granted" if worker_role else ""))
    return server


def start_broker(env: dict[str, str], sup: Supervisor) -> None:
    """Serve Kafka from Tansu on DEV_KAFKA_PORT unless KAFKA_BOOTSTRAP_SERVERS is set; create the topics."""
    from devstack.kafka import broker_command, create_topics, wait_for_port
    from shared.kafka import client_options

    if not is_set("KAFKA_BOOTSTRAP_SERVERS", env):
        host, port = "127.0.0.1", load_settings(env).dev_kafka_port
        if _listening(host, port):
            raise ServiceDied(f"{host}:{port} is in use; set KAFKA_BOOTSTRAP_SERVERS to use that broker")
        sup.start(Service("kafka", broker_command(host, port), env))
        wait_for_port(host, port)
        env["KAFKA_BOOTSTRAP_SERVERS"] = f"{host}:{port}"
        sup.say("kafka", f"Tansu broker (in memory) on {host}:{port}")
    settings = load_settings(env)
    topics = {settings.task_events_topic: settings.task_events_partitions, settings.task_events_dlq_topic: 1}
    create_topics(settings.kafka_bootstrap_servers, topics, connection=client_options(settings))
    sup.say("kafka", f"topics ready: {', '.join(topics)}")


def _listening(host: str, port: int) -> bool:
    """Whether something already accepts connections on host:port."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def web_service(env: dict[str, str]) -> Service:
    """Gunicorn serving the Flask app on 127.0.0.1:PORT."""
    port = load_settings(env).port
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--threads", "4",
        "--access-logfile", "-",
        "web:create_app()",
    ]  # fmt: skip
    return Service("web", argv, env)


def mail_sink_service(env: dict[str, str]) -> Service:
    """The local SMTP sink on SMTP_HOST:SMTP_PORT, saving each mail as an .eml file in MAIL_DIR."""
    settings = load_settings(env)
    argv = [
        sys.executable, "-m", "devstack.mailsink",
        "--dir", settings.mail_dir, "--host", settings.smtp_host, "--port", str(settings.smtp_port),
    ]  # fmt: skip
    return Service("mail", argv, env)


def worker_service(env: dict[str, str]) -> Service:
    """The Faust stream worker as the Procfile runs it, logged in as its own role when there is one."""
    argv = [sys.executable, "-m", "faust", "-A", "streams.app", "worker", "-l", "info"]
    # As in compose and the chart: the worker's DATABASE_URL is its role's, never the owner's.
    worker_url = load_settings(env).for_worker().database_url
    return Service("worker", argv, {**env, "DATABASE_URL": worker_url})


def start_mail_and_worker(env: dict[str, str], sup: Supervisor) -> None:
    """Start the mail sink and the worker, and wait until the worker holds its partitions."""
    settings = load_settings(env)
    sup.start(mail_sink_service(env))
    sup.start(worker_service(env))
    ready_url = f"http://127.0.0.1:{settings.worker_web_port}/ready/"
    wait_until_ready(ready_url, sup, timeout=90.0)
    sup.say("worker", f"holding its partitions; mail lands in {settings.mail_dir}/")


def wait_until_ready(url: str, sup: Supervisor, timeout: float = 30.0) -> None:
    """Poll a readiness URL until it answers 200, failing fast if a service dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sup.check()
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310  (loopback URL we built)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s")


def _raise_keyboard_interrupt(_signum: int, _frame: FrameType | None) -> None:
    """Treat SIGTERM like Ctrl-C so everything is stopped the same way."""
    raise KeyboardInterrupt


def run_dev_stack() -> int:
    """Start everything, print the URL, and stop it all on Ctrl-C; 1 if a service died."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    # A shell starts a background job (`make run &`, a script's `cmd &`) with SIGINT ignored, and
    # Python then installs no Ctrl-C handler of its own: `kill -INT` would be shrugged off and the
    # stack never stopped. Stop on it however the stack was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    VAR.mkdir(exist_ok=True)
    env = environment()
    env.setdefault("APP_ENV", "development")
    # A developer's webhook receiver runs on this machine; deployments keep loopback refused.
    env.setdefault("WEBHOOK_ALLOW_LOOPBACK", "true")
    sup = Supervisor()
    server = None
    started = time.monotonic()
    try:
        server = prepare_database(env, sup)
        start_broker(env, sup)
        start_mail_and_worker(env, sup)
        port = load_settings(env).port
        sup.start(web_service(env))
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", sup)
        sup.say("supervisor", f"ready in {time.monotonic() - started:.1f}s: http://127.0.0.1:{port}")
        sup.wait()
    except KeyboardInterrupt:
        sup.say("supervisor", "Ctrl-C: stopping everything")
        return 0
    except (ServiceDied, TimeoutError) as exc:
        sup.say("supervisor", f"error: {exc}; stopping everything")
        return 1
    finally:
        # A second Ctrl-C must not abandon half-stopped children.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sup.stop()
        if server is not None:
            server.stop()
            sup.say("postgres", "stopped")
    return 0
