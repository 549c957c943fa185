"""The broker stopped for 30 s under API load: every request answered 2xx, every event audited after.

Tansu keeps its log in memory, so terminating it and starting it again would be a new, empty
cluster (nothing a real broker restarting on its disks does). SIGSTOP stops the process instead:
for 30 s it answers nobody -- the relay's producer and the worker's consumer group time out as
with a broker that is down -- and after SIGCONT it still holds what it had acknowledged.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from devstack.kafka import TansuBroker, create_topics
from shared.db import make_engine
from shared.settings import Settings
from tests.conftest import AuthActions
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import MailSink, make_worker, wait_for
from tests.web.outbox.conftest import relay_settings
from web import create_app
from web.outbox.publishers import make_publisher
from web.outbox.relay import Relay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
PAUSE_SECONDS = 30


@pytest.fixture
def own_broker() -> Iterator[tuple[TansuBroker, Topics]]:
    """A broker only this test stops, with its topics."""
    broker = TansuBroker().start()
    topics = Topics(events="task-events", dlq="task-events-dlq", partitions=6)
    create_topics(broker.bootstrap_servers, {topics.events: topics.partitions, topics.dlq: 1})
    yield broker, topics
    if broker.process is not None:
        os.kill(broker.process.pid, signal.SIGCONT)
    broker.stop()


def audited(engine: Engine, user_id: str) -> int:
    """The user's audit rows."""
    with engine.connect() as conn:
        return int(
            conn.scalar(text("SELECT count(*) FROM audit_log WHERE user_id = :u"), {"u": user_id}) or 0
        )


def test_broker_stopped_for_thirty_seconds_under_api_load(
    settings: Settings,
    database_url: str,
    engine: Engine,
    own_broker: tuple[TansuBroker, Topics],
    mail_sink: MailSink,
    tmp_path: Path,
) -> None:
    broker, topics = own_broker
    config = relay_settings(settings, broker.bootstrap_servers, topics)
    worker = make_worker(
        database_url=database_url, bootstrap=broker.bootstrap_servers, topics=topics,
        smtp_port=mail_sink[0].port, directory=tmp_path, app_id=f"faults-broker-{uuid.uuid4().hex[:8]}",
    ).start()  # fmt: skip
    relay_engine = make_engine(config, poolclass=NullPool)
    relay = Relay(engine=relay_engine, publisher=make_publisher(config), settings=config, name="faults-relay")
    relay.start()
    app = create_app(settings=dataclasses.replace(config, relay_enabled=False))
    client = app.test_client()
    answers: list[int] = []
    stop = threading.Event()
    try:
        worker.wait_ready()
        user = AuthActions(client).register("outage@example.com")
        user_id, headers = user.user_id, user.headers

        def load() -> None:
            """About 20 task creations a second until told to stop."""
            n = 0
            while not stop.is_set():
                answer = client.post(f"/api/{user_id}/tasks", json={"title": f"b{n}"}, headers=headers)
                answers.append(answer.status_code)
                n += 1
                time.sleep(0.05)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        time.sleep(3)
        assert broker.process is not None
        os.kill(broker.process.pid, signal.SIGSTOP)
        time.sleep(PAUSE_SECONDS)
        during = len(answers)
        os.kill(broker.process.pid, signal.SIGCONT)
        resumed = time.monotonic()
        time.sleep(3)
        stop.set()
        loader.join(30)
        created = sum(1 for status in answers if status == 201)
        wait_for(lambda: audited(engine, user_id) == created, timeout=180, interval=0.5, what="all audited")
        caught_up = time.monotonic() - resumed
        rows = audited(engine, user_id)
    finally:
        stop.set()
        relay.stop()
        worker.stop()
        relay_engine.dispose()
        with app.app_context():
            from web.extensions import db

            db.engine.dispose()
    with engine.connect() as conn:
        distinct = conn.scalar(
            text("SELECT count(DISTINCT event_id) FROM audit_log WHERE user_id = :u"), {"u": user_id}
        )
    print(
        f"\nbroker stopped {PAUSE_SECONDS}s: sent {len(answers)} creates ({during} by the end of the stop),"
        f" {created} answered 201, others {sorted(set(answers) - {201})}; found {rows} audit rows,"
        f" duplicates {rows - int(distinct or 0)}; every event audited {caught_up:.1f}s after the broker"
        f" returned"
    )
    assert set(answers) == {201}
    assert rows == distinct == created
