"""Real gunicorn, 2 workers x 4 threads: /metrics adds up every worker's requests, whichever one answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from devstack.kafka import free_port
from tests.fixtures.database import base_environment

ROOT = Path(__file__).resolve().parents[2]
HEALTHZ = (("method", "GET"), ("route", "/healthz"), ("status", "200"))


@dataclass
class Gunicorn:
    """A running gunicorn and the directory its workers keep their metric files in."""

    url: str
    metrics_dir: Path
    log: Path


def get(url: str) -> bytes:
    """GET over a fresh connection (so the kernel may hand it to either worker)."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  (loopback)
        return bytes(response.read())


def healthz_total(exposition: str) -> float:
    """The /healthz 200 counter in a metrics text."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "todo_http_requests_total" and tuple(sorted(sample.labels.items())) == HEALTHZ:
                return sample.value
    return 0.0


def per_worker_healthz(metrics_dir: Path) -> dict[str, float]:
    """Each worker's own /healthz count, read from its counter file alone."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)])
        value = sum(
            s.value for f in families for s in f.samples
            if s.name == "todo_http_requests_total" and tuple(sorted(s.labels.items())) == HEALTHZ
        )  # fmt: skip
        counts[path.stem.removeprefix("counter_")] = value
    return counts


@pytest.fixture
def gunicorn(database_url: str, tmp_path: Path) -> Iterator[Gunicorn]:
    """gunicorn as the Procfile runs it, with the project's gunicorn.conf.py and a known metrics dir."""
    port, metrics_dir = free_port(), tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left over from a previous run")
    env = {**os.environ, **base_environment(database_url), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "LOG_FORMAT": "json"}  # fmt: skip
    argv = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
            f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--access-logfile", "-",
            "web:create_app()"]  # fmt: skip
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            get(f"{url}/metrics")  # not /healthz: a probe retried after a timeout must not count there
            break
        except OSError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    try:
        yield Gunicorn(url, metrics_dir, log)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.slow
def test_metrics_add_up_across_gunicorn_workers(gunicorn: Gunicorn):
    assert not (gunicorn.metrics_dir / "counter_1.db").exists(), "a previous run's files must be cleared"
    sent = 0
    with ThreadPoolExecutor(max_workers=16) as pool:
        # Concurrent connections spread over both workers; keep going until each has served some.
        for _ in range(20):
            list(pool.map(lambda _: get(f"{gunicorn.url}/healthz"), range(48)))
            sent += 48
            if len([n for n in per_worker_healthz(gunicorn.metrics_dir).values() if n > 0]) >= 2:
                break
    per_worker = per_worker_healthz(gunicorn.metrics_dir)
    assert len([n for n in per_worker.values() if n > 0]) == 2, per_worker
    assert sum(per_worker.values()) == sent
    for _ in range(6):  # scrapes land on either worker: each must report the total
        assert healthz_total(get(f"{gunicorn.url}/metrics").decode()) == sent


@pytest.mark.slow
def test_gunicorn_logs_json_lines_and_its_access_log_carries_the_request_id(gunicorn: Gunicorn):
    request = urllib.request.Request(f"{gunicorn.url}/healthz", headers={"X-Request-ID": "trace-abc-1"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback)
        assert response.headers["X-Request-ID"] == "trace-abc-1"
    deadline = time.monotonic() + 10
    while "request_id=trace-abc-1" not in gunicorn.log.read_text():
        assert time.monotonic() < deadline, gunicorn.log.read_text()
        time.sleep(0.1)
    lines = [json.loads(line) for line in gunicorn.log.read_text().splitlines() if line.strip()]
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    (access,) = [line for line in lines if "trace-abc-1" in line["message"]]
    assert access["logger"] == "gunicorn.access"
    assert '"GET /healthz HTTP/1.1" 200' in access["message"]
