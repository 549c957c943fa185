"""The worker's web server listens only on WORKER_WEB_HOST and serves no Faust table pages."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from tests.fixtures.streams import Worker

pytestmark = pytest.mark.slow


def status_of(url: str) -> int:
    """The HTTP status of GET url."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310  (an http:// URL we built)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_faust_table_pages_are_off_but_the_app_views_answer(shared_worker: Worker) -> None:
    assert status_of(f"{shared_worker.url}/table/") == 404
    assert status_of(f"{shared_worker.url}/table/test-streams-counts/") == 404
    assert shared_worker.get("/ready/")[0] == 200


def test_the_worker_listens_on_worker_web_host_only(shared_worker: Worker) -> None:
    # 127.0.0.2 is loopback too: a server bound to every interface (Faust's default) would answer it.
    with socket.create_connection(("127.0.0.1", shared_worker.port), timeout=5):
        pass
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.2", shared_worker.port), timeout=5),
    ):
        pass
