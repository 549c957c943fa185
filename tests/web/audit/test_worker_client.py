"""WorkerClient: keep-alive GETs to the worker, a dropped connection replaced, failures WorkerUnavailable."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from web.audit.worker import WorkerClient, WorkerUnavailable


class Worker(ThreadingHTTPServer):
    """A loopback stand-in that echoes the request target and can drop its keep-alive connections."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections: set[tuple[str, int]] = set()
        self.drop_after_answer = False
        self.delay = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Worker
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.connections.add(self.client_address)
        time.sleep(self.server.delay)
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # Closed without saying so, like a worker restarting or an idle timeout between two requests.
        self.close_connection = self.server.drop_after_answer

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def worker() -> Iterator[Worker]:
    server = Worker()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_answers_come_back_whole_over_one_kept_alive_connection(worker):
    client = WorkerClient(f"{worker.url}/base/", timeout=2)
    answers = [client.get("/counts/u%201/"), client.get("/activity/u/", params={"range": "30d"})]
    client.close()
    assert answers == [(200, b"/base/counts/u%201/"), (200, b"/base/activity/u/?range=30d")]
    assert len(worker.connections) == 1


def test_a_connection_the_worker_dropped_while_idle_is_replaced(worker):
    client = WorkerClient(worker.url, timeout=2)
    worker.drop_after_answer = True
    assert client.get("/a/") == (200, b"/a/")
    time.sleep(0.1)
    assert client.get("/b/") == (200, b"/b/")
    client.close()
    assert len(worker.connections) == 2


def test_threads_share_the_pool_without_mixing_answers(worker):
    client = WorkerClient(worker.url, timeout=2)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: client.get(f"/counts/{n}/"), range(40)))
    client.close()
    assert answers == [(200, f"/counts/{n}/".encode()) for n in range(40)]
    assert len(worker.connections) <= 4


def test_a_refused_connection_is_worker_unavailable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = WorkerClient(f"http://127.0.0.1:{closed_port}", timeout=2)
    with pytest.raises(WorkerUnavailable):
        client.get("/counts/u/")


def test_a_slow_answer_times_out_once_without_a_retry(worker):
    worker.delay = 1.0
    client = WorkerClient(worker.url, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(WorkerUnavailable):
        client.get("/counts/u/")
    assert time.monotonic() - started < 0.6
