"""GET /api/<user_id>/audit/counts: the stream worker's table first, audit_log when it cannot answer."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.kafka import free_port
from web import create_app


class CountsStandIn(ThreadingHTTPServer):
    """A stand-in for the Faust worker's `/counts/<user_id>/` view (the real worker is built elsewhere).

    It speaks the worker's contract over real HTTP on loopback: 200 with
    {"user_id", "created", "updated", "completed", "deleted", "total"}.
    """

    def __init__(self, answers: dict[str, dict], delay: float = 0.0, status: int = 200) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers, self.delay, self.status, self.paths = answers, delay, status, []
        self.connections: set[tuple[str, int]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: CountsStandIn
    protocol_version = "HTTP/1.1"  # keep-alive, as the worker's aiohttp server does

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.server.connections.add(self.client_address)
        time.sleep(self.server.delay)
        user_id = self.path.removeprefix("/counts/").rstrip("/")
        body = json.dumps(self.server.answers.get(user_id, {})).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[CountsStandIn]:
    server = CountsStandIn({})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _client(settings, worker_url, **overrides):
    app = create_app({"TESTING": True}, settings=replace(settings, worker_url=worker_url, **overrides))
    return app, app.test_client()


def _counts(client, user):
    response = client.get(f"/api/{user.user_id}/audit/counts", headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _dispose(app):
    from web.extensions import db

    with app.app_context():
        db.engine.dispose()


def test_counts_come_from_the_stream_when_the_worker_answers(settings, user, trail, stand_in):
    trail.add("created")
    stand_in.answers[user.user_id] = {
        "user_id": user.user_id,
        "created": 5,
        "updated": 4,
        "completed": 3,
        "deleted": 2,
        "total": 14,
    }
    app, client = _client(settings, stand_in.url)
    body = _counts(client, user)
    _dispose(app)
    assert body == {"created": 5, "updated": 4, "completed": 3, "deleted": 2, "total": 14, "source": "stream"}
    assert stand_in.paths == [f"/counts/{user.user_id}/"]


def test_repeated_counts_reuse_one_keep_alive_connection(settings, user, stand_in):
    stand_in.answers[user.user_id] = {
        "user_id": user.user_id,
        "created": 1,
        "updated": 0,
        "completed": 0,
        "deleted": 0,
        "total": 1,
    }
    app, client = _client(settings, stand_in.url)
    bodies = [_counts(client, user) for _ in range(3)]
    _dispose(app)
    assert [body["source"] for body in bodies] == ["stream"] * 3
    assert len(stand_in.paths) == 3
    assert len(stand_in.connections) == 1


def _seed(trail):
    for kind in ("created", "created", "updated", "completed", "deleted", "created"):
        trail.add(kind)


DATABASE_COUNTS = {"created": 3, "updated": 1, "completed": 1, "deleted": 1, "total": 6, "source": "database"}


def test_counts_fall_back_to_the_database_when_the_worker_is_down(settings, user, trail, auth, engine):
    _seed(trail)
    from tests.web.audit.factories import Trail

    Trail(engine=engine, user_id=auth.register("other@example.com").user_id).add("deleted")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app, client = _client(settings, f"http://127.0.0.1:{closed_port}")
    started = time.monotonic()
    body = _counts(client, user)
    elapsed = time.monotonic() - started
    _dispose(app)
    assert body == DATABASE_COUNTS
    assert elapsed < 2


def test_a_slow_worker_times_out_into_the_fallback(settings, user, trail, stand_in):
    _seed(trail)
    stand_in.delay = 1.0
    stand_in.answers[user.user_id] = {
        "user_id": user.user_id,
        "created": 99,
        "updated": 0,
        "completed": 0,
        "deleted": 0,
        "total": 99,
    }
    app, client = _client(settings, stand_in.url, counts_timeout_seconds=0.2)
    started = time.monotonic()
    body = _counts(client, user)
    elapsed = time.monotonic() - started
    _dispose(app)
    assert body == DATABASE_COUNTS
    assert elapsed < 0.9


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (500, {"error": "boom"}),
        (200, {"created": "many"}),
        (
            200,
            {"user_id": "someone-else", "created": 1, "updated": 1, "completed": 1, "deleted": 1, "total": 4},
        ),
        (200, {"created": -1, "updated": 0, "completed": 0, "deleted": 0, "total": -1}),
    ],
)
def test_a_broken_answer_falls_back_too(settings, user, trail, stand_in, status, answer):
    _seed(trail)
    stand_in.status = status
    stand_in.answers[user.user_id] = answer
    app, client = _client(settings, stand_in.url)
    body = _counts(client, user)
    _dispose(app)
    assert body == DATABASE_COUNTS


def test_empty_trail_counts_zero(settings, user):
    app, client = _client(settings, f"http://127.0.0.1:{free_port()}")
    body = _counts(client, user)
    _dispose(app)
    assert body == {
        "created": 0,
        "updated": 0,
        "completed": 0,
        "deleted": 0,
        "total": 0,
        "source": "database",
    }
