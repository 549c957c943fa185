"""The web process killed between its commit and the publish: the event is still published, once."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from sqlalchemy import Engine

from shared.settings import Settings
from tests.conftest import AuthActions
from tests.web.outbox.conftest import consume, outbox_order, pending_count, wait_until_published
from web.outbox.relay import Relay

KILLED_CHILD = """
import os, sys
from shared.settings import load_settings
from web import create_app
from web.extensions import db

settings = load_settings({"APP_ENV": "test", "DATABASE_URL": sys.argv[1], "RELAY_ENABLED": "false"})
app = create_app(settings=settings)
from web.tasks.services import create_task  # after create_app, as in the app: web.tasks first is circular

with app.app_context():
    create_task(session=db.session, user_id=sys.argv[2], title="survives the crash", description="")
    os._exit(9)  # dies right after the commit, before anything published it (its relay is off)
"""


def test_a_process_killed_after_commit_leaves_the_event_to_the_relay(
    kafka_settings: Settings,
    start_relay: Callable[..., Relay],
    engine: Engine,
    auth: AuthActions,
    database_url: str,
) -> None:
    """The child commits a task and dies before publishing; a relay publishes its event."""
    user = auth.register()
    child = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, database_url, user.user_id], timeout=60, check=False
    )
    assert child.returncode == 9
    assert pending_count(engine) == 1
    started = time.monotonic()
    start_relay(kafka_settings)
    wait_until_published(engine)
    recovered = time.monotonic() - started
    records = consume(kafka_settings.kafka_bootstrap_servers, kafka_settings.task_events_topic, expect=1)
    ids = [r.event["event_id"] for r in records]
    print(
        f"\nweb killed after commit: sent 1 event; found {len(records)} on the topic,"
        f" duplicates {len(ids) - len(set(ids))}; published {recovered:.2f}s after a relay started"
    )
    (record,) = records
    assert record.key == user.user_id
    assert record.event["task_data"]["title"] == "survives the crash"
    assert outbox_order(engine)[user.user_id] == [record.event["event_id"]]
