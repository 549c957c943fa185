"""The bare baseline of bench/api.py: Flask and psycopg writing a task row and its outbox row.

No ORM, no pool, no auth, no validation beyond reading the JSON: one connection per thread, the
least a create endpoint can do and still leave the same two rows (the event in the product's
shape). Served by gunicorn under the product's settings: same process model, database and run.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import psycopg
from flask import Flask, Response, jsonify, request
from psycopg.types.json import Jsonb

from shared.settings import load_settings

INSERT_TASK = (
    "INSERT INTO tasks (user_id, title, description, completed, created_at, updated_at) "
    "VALUES (%s, %s, %s, false, %s, %s) RETURNING id"
)
INSERT_OUTBOX = "INSERT INTO outbox (event_id, user_id, event_type, payload) VALUES (%s, %s, 'created', %s)"


def create_app() -> Flask:
    """The app; each gunicorn thread opens its own connection on first use (after the fork)."""
    url = load_settings().database_url
    local = threading.local()
    app = Flask(__name__)

    def connection() -> psycopg.Connection:
        """This thread's connection."""
        if getattr(local, "conn", None) is None:
            local.conn = psycopg.connect(url)
        return local.conn

    @app.post("/bare/<user_id>/tasks")
    def create(user_id: str) -> tuple[Response, int]:
        """Insert the task and its `created` event in one transaction."""
        body = request.get_json()
        now = datetime.now(UTC)
        title, description = body["title"], body.get("description", "")
        event_id = uuid.uuid4()
        conn = connection()
        with conn.transaction():
            row = conn.execute(INSERT_TASK, (user_id, title, description, now, now)).fetchone()
            task_id = row[0] if row else None
            event = {
                "event_id": str(event_id),
                "event_type": "created",
                "timestamp": now.isoformat(),
                "user_id": user_id,
                "task_id": task_id,
                "task_data": {"title": title, "description": description, "completed": False},
            }
            conn.execute(INSERT_OUTBOX, (event_id, user_id, Jsonb(event)))
        task = {"id": task_id, "title": title, "description": description, "completed": False,
                "created_at": now.isoformat(), "updated_at": now.isoformat()}  # fmt: skip
        return jsonify(task), 201

    return app
