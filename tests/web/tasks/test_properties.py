"""What the API accepts as a title or description can be stored, exported and mailed; the rest is a 4xx."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from email.policy import default as default_policy
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from devstack.kafka import free_port
from devstack.mailsink import SaveToDirectory, start_sink
from shared.db import make_sessionmaker
from shared.mail import send_message
from shared.models import OutboxEvent
from shared.settings import Settings, load_settings
from streams.audit.store import insert_audit_rows
from streams.decoding import try_decode
from streams.notifications.mailer import build_completion_message
from tests.conftest import ApiUser, AuthActions
from web.outbox.publishers.cloudevents import encode, envelope

SPECIALS = ["\x00", "\u2028", "\u2029", "\ud800", "\udfff", "\r", "\n", "\x85", "\ufeff", "\U0010ffff", "٣"]
TEXT = st.text(st.characters(codec=None, exclude_categories=()) | st.sampled_from(SPECIALS), max_size=60)


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, SaveToDirectory]]:
    """A real SMTP sink and settings that mail it."""
    controller, sink = start_sink(Path(tmp_path_factory.mktemp("mail")), port=free_port())
    yield load_settings({"SMTP_PORT": str(controller.port)}), sink
    controller.stop()


def lines_of(text: str) -> str:
    """Text with every line ending written as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.fixture
def owner(auth: AuthActions) -> ApiUser:
    """One registered user for every example (registration hashes a password: too slow per example)."""
    return auth.register()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=TEXT, description=TEXT)
def test_accepted_text_is_stored_exported_and_mailed(
    title: str, description: str, client: FlaskClient, owner: ApiUser, engine: Engine,
    smtp: tuple[Settings, SaveToDirectory],
) -> None:  # fmt: skip
    created = client.post(
        f"/api/{owner.user_id}/tasks",
        json={"title": title, "description": description},
        headers=owner.headers,
    )
    assert created.status_code < 500, created.get_json()
    if created.status_code != 201:
        assert set(created.get_json()["error"]["fields"]) <= {"title", "description"}
        return
    done = client.patch(
        f"/api/{owner.user_id}/tasks/{created.get_json()['id']}/complete", headers=owner.headers
    )
    assert done.status_code == 200
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        payload = session.scalars(select(OutboxEvent.payload).order_by(OutboxEvent.id.desc()).limit(1)).one()
    # As the relay publishes it, as the worker decodes and stores it.
    wire = encode(envelope(event=payload, source="web", topic="task-events", pubsub_name="kafka-pubsub"))
    event = try_decode(wire, max_bytes=1 << 20)
    assert not isinstance(event, Exception), event
    assert event.event_type == "completed"
    assert insert_audit_rows(sessions=sessions, events=[event]) == 1

    exported = client.get(f"/api/{owner.user_id}/audit/export?format=ndjson", headers=owner.headers)
    assert exported.status_code == 200
    # Lines end at "\n" only: U+2028 and friends may sit raw inside the JSON (splitlines would cut there).
    lines = [json.loads(line) for line in exported.get_data(as_text=True).split("\n") if line]
    mine = [line for line in lines if line.get("event_id") == str(event.event_id)]
    assert len(mine) == 1
    assert mine[0]["event_data"]["task_data"]["title"] == event.task_data.title
    assert client.get(f"/api/{owner.user_id}/audit/export", headers=owner.headers).status_code == 200

    config, sink = smtp
    message = build_completion_message(event=event, recipient=owner.email, mail_from=config.mail_from)
    send_message(message=message, settings=config)
    parsed = [email.message_from_bytes(path.read_bytes(), policy=default_policy) for path in sink.messages()]
    [received] = [mail for mail in parsed if mail["Message-ID"] == message["Message-ID"]]
    body = received.get_body(("plain",))
    assert body is not None
    # SMTP carries text in CRLF lines: a lone CR or LF arrives as CRLF, nothing else changes.
    assert lines_of(event.task_data.title) in lines_of(body.get_content())
