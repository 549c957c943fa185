"""Per-type event counts: the stream worker's table first, audit_log when the worker does not answer."""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any
from urllib.parse import quote

from flask import current_app

from shared.counts import parse_counts
from shared.db import SessionLike
from shared.settings import Settings
from web.audit import services
from web.audit.worker import WorkerClient, WorkerUnavailable

_client_lock = threading.Lock()


def _settings() -> Settings:
    """The settings the app was built with."""
    settings: Settings = current_app.config["TODO_SETTINGS"]
    return settings


def worker_client(settings: Settings) -> WorkerClient:
    """This app's one keep-alive client to the worker (never through an HTTP proxy: it is a neighbour)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client: WorkerClient | None = app.extensions.get("counts_client")
    if client is None:
        with _client_lock:
            client = app.extensions.get("counts_client")
            if client is None:
                client = WorkerClient(settings.worker_url, timeout=settings.counts_timeout_seconds)
                app.extensions["counts_client"] = client
                weakref.finalize(app, client.close)  # its sockets close with the app, not at GC
    return client


def stream_counts(*, settings: Settings, user_id: str) -> dict[str, int] | None:
    """Ask the worker's `/counts/<user_id>/` view; None when it is down, slow or answers nonsense."""
    try:
        status, body = worker_client(settings).get(f"/counts/{quote(user_id, safe='')}/")
        return parse_counts(json.loads(body), user_id) if status == 200 else None
    except (WorkerUnavailable, ValueError):
        return None


def user_counts(*, session: SessionLike, user_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Counts with their source: "stream" from the worker's table, "database" counted in audit_log."""
    counts = stream_counts(settings=settings or _settings(), user_id=user_id)
    if counts is not None:
        return {**counts, "source": "stream"}
    return {**services.count_events(session=session, user_id=user_id), "source": "database"}
