"""The worker SIGKILLed between claiming a completion mail and sending it: the mail still goes, once."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from devstack.kafka import free_port
from shared.events import new_event
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import MailSink, make_worker, wait_for
from tests.streams.conftest import add_user
from tests.streams.helpers import bare, keyed, produce
from tests.streams.test_worker import mails_to

pytestmark = pytest.mark.slow
CLAIM_TIMEOUT = "8"


@pytest.fixture
def silent_smtp() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word: a send hangs there until killed."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def claims(engine: Engine, event_id: uuid.UUID) -> list[tuple[bool, bool]]:
    """(claimed, sent) of the event's sent_notifications row, if any."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT true, sent_at IS NOT NULL FROM sent_notifications WHERE event_id = :id"),
            {"id": event_id},
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_claim_left_by_a_killed_worker_is_sent_once_after_the_timeout(
    database_url: str,
    kafka_bootstrap: str,
    module_topics: Topics,
    mail_sink: MailSink,
    silent_smtp: int,
    engine: Engine,
    tmp_path: Path,
) -> None:
    user_id = add_user(engine, email="killed@example.com")
    done = new_event(
        event_type="completed", user_id=user_id, task_id=1, title="Killed mid-send", description="",
        completed=True,
    )  # fmt: skip
    common = {
        "database_url": database_url, "bootstrap": kafka_bootstrap, "topics": module_topics,
        "directory": tmp_path, "app_id": f"faults-mail-{uuid.uuid4().hex[:8]}",
        "MAIL_CLAIM_TIMEOUT_SECONDS": CLAIM_TIMEOUT,
    }  # fmt: skip
    first = make_worker(smtp_port=silent_smtp, **common).start()  # type: ignore[arg-type]
    try:
        first.wait_ready()
        produce(kafka_bootstrap, module_topics.events, [keyed(done, bare(done))])
        wait_for(lambda: claims(engine, done.event_id) == [(True, False)], what="the mail claimed, unsent")
        time.sleep(0.5)  # the send is under way, stuck on a server that never answers
    finally:
        first.kill()
    killed = time.monotonic()
    assert claims(engine, done.event_id) == [(True, False)]
    assert mails_to(mail_sink[1], "killed@example.com") == []

    second = make_worker(smtp_port=mail_sink[0].port, **common).start()  # type: ignore[arg-type]
    try:
        [mail] = wait_for(lambda: mails_to(mail_sink[1], "killed@example.com"), timeout=90, what="the mail")
        recovered = time.monotonic() - killed
        wait_for(lambda: claims(engine, done.event_id) == [(True, True)], what="the claim marked sent")
        time.sleep(3)  # room for a duplicate to show up, were there one
        found = mails_to(mail_sink[1], "killed@example.com")
        path = "sweep" if "took over" in second.log() else "redelivery"
    finally:
        second.stop()
    print(
        f"\nmail kill: sent 1 completion; killed between claim and send; found {len(found)} mail(s),"
        f" duplicates {len(found) - 1}; recovered {recovered:.1f}s after the kill"
        f" (claim timeout {CLAIM_TIMEOUT}s, taken over by {path})"
    )
    assert len(found) == 1
    assert mail["Message-ID"] == f"<{done.event_id}.completed@todo-platform>"
    assert mail["Subject"] == "Task completed: Killed mid-send"
    assert recovered >= float(CLAIM_TIMEOUT) - 1  # not before the claim went stale
