"""The worker end to end: real `faust worker`, Tansu, PostgreSQL and an aiosmtpd server."""

from __future__ import annotations

import email
import json
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, func, select

from devstack.mailsink import SaveToDirectory
from shared.events import EVENT_TYPES, format_timestamp, new_event
from shared.models import AuditLog, SentNotification
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import Worker, wait_for
from tests.streams.conftest import add_user
from tests.streams.helpers import bare, cloudevent, keyed, produce, read_topic

pytestmark = pytest.mark.slow


def audit_rows(engine: Engine, user_id: str) -> list[AuditLog]:
    """The audit rows of one user."""
    with engine.connect() as conn:
        return list(conn.execute(select(AuditLog).where(AuditLog.user_id == user_id)).all())


def mails_to(sink: SaveToDirectory, recipient: str) -> list[EmailMessage]:
    """The saved messages addressed to recipient."""
    messages = [email.message_from_bytes(p.read_bytes(), policy=default_policy) for p in sink.messages()]
    return [m for m in messages if m["To"] == recipient]  # type: ignore[misc]


def test_each_event_type_lands_once_enveloped_and_bare(
    shared_worker: Worker, module_topics: Topics, kafka_bootstrap: str, engine: Engine
) -> None:
    user_id = "user-audit"
    events = [
        new_event(
            event_type=t,
            user_id=user_id,
            task_id=7,
            title=f"T {t}",
            description="d",
            completed=t == "completed",
        )
        for t in EVENT_TYPES
    ]
    enveloped = [
        new_event(event_type=t, user_id=user_id, task_id=8, title="E", description="", completed=False)
        for t in ("created", "updated")
    ]
    records = [keyed(e, bare(e)) for e in events]
    records.append(keyed(enveloped[0], cloudevent(enveloped[0], module_topics.events)))
    records.append(keyed(enveloped[1], cloudevent(enveloped[1], module_topics.events, base64_data=True)))
    produce(kafka_bootstrap, module_topics.events, records)

    rows = wait_for(
        lambda: len(audit_rows(engine, user_id)) == 6 and audit_rows(engine, user_id), what="6 rows"
    )
    by_id = {row.event_id: row for row in rows}
    for event in [*events, *enveloped]:
        row = by_id[event.event_id]
        assert (row.event_type, row.user_id, row.task_id) == (event.event_type, user_id, event.task_id)
        assert row.timestamp == event.timestamp
        assert row.event_data == event.to_dict()
    assert by_id[events[2].event_id].event_data["task_data"]["completed"] is True


def test_redelivery_never_duplicates_rows_or_mails(
    shared_worker: Worker,
    module_topics: Topics,
    kafka_bootstrap: str,
    engine: Engine,
    mail_sink: tuple[Controller, SaveToDirectory],
) -> None:
    user_id = add_user(engine, email="twice@example.com")
    done = new_event(
        event_type="completed", user_id=user_id, task_id=3, title="Twice", description="", completed=True
    )
    produce(
        kafka_bootstrap,
        module_topics.events,
        [keyed(done, bare(done))] * 2 + [keyed(done, cloudevent(done, "t"))],
    )
    later = new_event(
        event_type="deleted", user_id=user_id, task_id=3, title="Twice", description="", completed=True
    )
    produce(kafka_bootstrap, module_topics.events, [keyed(later, bare(later))])

    wait_for(lambda: len(audit_rows(engine, user_id)) == 2, what="both events audited")
    wait_for(lambda: mails_to(mail_sink[1], "twice@example.com"), what="the completion mail")
    expected = {"user_id": user_id, "created": 0, "updated": 0, "completed": 1, "deleted": 1, "total": 2}
    wait_for(lambda: shared_worker.get(f"/counts/{user_id}/") == (200, expected), what="counts")
    assert len(audit_rows(engine, user_id)) == 2
    assert len(mails_to(mail_sink[1], "twice@example.com")) == 1
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SentNotification)) == 1


POISON = {
    "invalid-json": b"{not json",
    "invalid-event": json.dumps({"event_type": "created", "user_id": 5}).encode(),
    "unknown-event-type": None,
    "oversized": b'{"pad":"' + b"x" * 5000 + b'"}',
    "invalid-envelope": json.dumps({"specversion": "1.0", "id": "1", "data_base64": "%%%"}).encode(),
}


def test_poison_messages_go_to_the_dlq_and_the_stream_moves_on(
    shared_worker: Worker, module_topics: Topics, kafka_bootstrap: str, engine: Engine
) -> None:
    good = new_event(
        event_type="created", user_id="user-poison", task_id=1, title="ok", description="", completed=False
    )
    unknown = {**good.to_dict(), "event_type": "archived"}
    missing = {k: v for k, v in good.to_dict().items() if k != "task_id"}
    poison = {**POISON, "unknown-event-type": json.dumps(unknown).encode()}
    records = [(b"user-poison", value, [("trace", reason.encode())]) for reason, value in poison.items()]
    records.append((b"user-poison", json.dumps(missing).encode(), [("trace", b"missing")]))
    produce(kafka_bootstrap, module_topics.events, [*records, keyed(good, bare(good))])

    wait_for(lambda: audit_rows(engine, "user-poison"), what="the good event audited")
    dead = read_topic(kafka_bootstrap, module_topics.dlq, len(records))
    mine = [r for r in dead if r.key == b"user-poison"]
    assert len(mine) == len(records)
    originals = {value for _, value, _ in records}
    for record in mine:
        headers = dict(record.headers)
        assert record.value in originals
        assert headers["x-dlq-source-topic"] == module_topics.events.encode()
        assert int(headers["x-dlq-source-partition"]) in range(6)
        assert int(headers["x-dlq-source-offset"]) >= 0
        assert headers["x-dlq-error-message"]
        expected = headers["trace"].decode()
        assert headers["x-dlq-error"].decode() == ("invalid-event" if expected == "missing" else expected)


def test_completion_mail_is_delivered_and_opt_out_respected(
    shared_worker: Worker,
    module_topics: Topics,
    kafka_bootstrap: str,
    engine: Engine,
    mail_sink: tuple[Controller, SaveToDirectory],
) -> None:
    wants = add_user(engine, email="wants@example.com")
    quiet = add_user(engine, email="quiet@example.com", notifications=False)
    quiet_done = new_event(
        event_type="completed", user_id=quiet, task_id=1, title="Q", description="", completed=True
    )
    done = new_event(
        event_type="completed", user_id=wants, task_id=9, title="Buy <milk>", description="", completed=True
    )
    produce(
        kafka_bootstrap, module_topics.events, [keyed(quiet_done, bare(quiet_done)), keyed(done, bare(done))]
    )

    [mail] = wait_for(lambda: mails_to(mail_sink[1], "wants@example.com"), what="the completion mail")
    assert mail["Subject"] == "Task completed: Buy <milk>"
    assert "noreply" in mail["From"]
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    when = done.timestamp.strftime("%Y-%m-%d %H:%M UTC")
    assert "Buy <milk>" in plain.get_content()
    assert when in plain.get_content()
    assert "Buy &lt;milk&gt;" in html.get_content()
    wait_for(lambda: audit_rows(engine, quiet), what="the opted-out event processed")
    assert mails_to(mail_sink[1], "quiet@example.com") == []
    with engine.connect() as conn:
        sent = conn.execute(select(SentNotification.recipient, SentNotification.task_id)).all()
    assert [tuple(s) for s in sent] == [("wants@example.com", 9)]
    assert format_timestamp(done.timestamp)


def test_counts_view_answers_per_user_and_zeros_for_strangers(
    shared_worker: Worker, module_topics: Topics, kafka_bootstrap: str, engine: Engine
) -> None:
    kinds = ["created", "created", "updated", "completed", "deleted"]
    events = [
        new_event(event_type=k, user_id="user-counts", task_id=i, title="c", description="", completed=False)
        for i, k in enumerate(kinds)
    ]
    produce(kafka_bootstrap, module_topics.events, [keyed(e, bare(e)) for e in events])

    expected = {
        "user_id": "user-counts",
        "created": 2,
        "updated": 1,
        "completed": 1,
        "deleted": 1,
        "total": 5,
    }
    wait_for(lambda: shared_worker.get("/counts/user-counts/") == (200, expected), what="counts")
    assert shared_worker.get("/counts/nobody/") == (
        200,
        {"user_id": "nobody", "created": 0, "updated": 0, "completed": 0, "deleted": 0, "total": 0},
    )
    # The counts and audit paths commit independently: wait for the rows rather than race them.
    wait_for(lambda: len(audit_rows(engine, "user-counts")) == 5, what="the five audit rows")
