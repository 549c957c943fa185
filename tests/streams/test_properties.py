"""Property tests over decode -> audit -> notify: no bytes, JSON or text can crash it or lose an event.

Whatever decodes is stored in PostgreSQL (and reads back the same), and its completion mail is built
and accepted by a real SMTP server; whatever does not decode is refused with a DecodeError, never
with another exception. Text draws from every Unicode category, lone surrogates included.
"""

from __future__ import annotations

import base64
import email
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from devstack.kafka import free_port
from devstack.mailsink import SaveToDirectory, start_sink
from shared.db import make_sessionmaker
from shared.events import EVENT_TYPES, TaskEvent
from shared.mail import send_message
from shared.models import AuditLog
from shared.settings import Settings, load_settings
from streams.audit.store import insert_audit_rows
from streams.decoding import (
    USER_ID_MAX,
    DecodeError,
    _unstorable,
    is_cloudevent,
    try_decode,
    unwrap_cloudevent,
)
from streams.notifications.mailer import build_completion_message, header_text

SPECIALS = [
    "\x00",
    "\u2028",
    "\u2029",
    "\ud800",
    "\udfff",
    "\r",
    "\n",
    "\x85",
    "\ufeff",
    "\U0010ffff",
    "\x1b",
]
ANY_CHAR = st.characters(codec=None, exclude_categories=()) | st.sampled_from(SPECIALS)
TEXT = st.text(ANY_CHAR, max_size=40)
OFFSETS = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=OFFSETS.map(timezone)
)
HUGE = st.sampled_from([10**4000, -(10**4000), 2**63, 2**64, -1, 10**300])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT | HUGE,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def near_valid() -> st.SearchStrategy[dict[str, Any]]:
    """A well-formed event with arbitrary text in every string field, any date, any task id."""
    return st.fixed_dictionaries({
        "event_id": st.uuids(version=4).map(str),
        "event_type": st.sampled_from(EVENT_TYPES),
        "timestamp": MOMENTS.map(datetime.isoformat),
        "user_id": st.text(ANY_CHAR, min_size=1, max_size=USER_ID_MAX),
        "task_id": st.integers(min_value=0, max_value=2**63 - 1) | HUGE,
        "task_data": st.fixed_dictionaries({"title": TEXT, "description": TEXT, "completed": st.booleans()}),
    })  # fmt: skip


def unstorable(obj: dict[str, Any]) -> bool:
    """Whether the event holds text PostgreSQL cannot store (NUL, a lone surrogate)."""
    texts = [obj["user_id"], obj["task_data"]["title"], obj["task_data"]["description"]]
    return any(char == "\x00" or "\ud800" <= char <= "\udfff" for text in texts for char in text)


def out_of_range(obj: dict[str, Any]) -> bool:
    """Whether the task id or the date in UTC falls outside what the columns and datetime hold."""
    try:
        datetime.fromisoformat(obj["timestamp"]).astimezone(UTC)
    except (OverflowError, ValueError):
        return True
    return not 0 <= obj["task_id"] <= 2**63 - 1


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, SaveToDirectory]]:
    """A real SMTP sink and settings that mail it."""
    controller, sink = start_sink(Path(tmp_path_factory.mktemp("mail")), port=free_port())
    yield load_settings({"SMTP_PORT": str(controller.port)}), sink
    controller.stop()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions on the test database."""
    return make_sessionmaker(engine)


def lines_of(text: str) -> str:
    """Text with every line ending written as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def stored_and_mailed(event: TaskEvent, sessions: sessionmaker[Session], smtp: tuple[Settings, Any]) -> None:
    """Insert the event, read it back unchanged, and mail its completion through the sink."""
    insert_audit_rows(sessions=sessions, events=[event])
    with sessions() as session:
        stored = session.scalar(select(AuditLog.event_data).where(AuditLog.event_id == event.event_id))
    assert stored == event.to_dict()
    config, sink = smtp
    message = build_completion_message(event=event, recipient="p@example.com", mail_from=config.mail_from)
    send_message(message=message, settings=config)
    parsed = [email.message_from_bytes(path.read_bytes(), policy=default_policy) for path in sink.messages()]
    [received] = [mail for mail in parsed if mail["Message-ID"] == message["Message-ID"]]
    subject = f"Task completed: {header_text(event.task_data.title)}"
    assert received["Subject"] == subject
    body = received.get_body(("plain",))
    assert body is not None
    # SMTP carries text in CRLF lines: a lone CR or LF arrives as CRLF, nothing else changes.
    assert lines_of(event.task_data.title) in lines_of(body.get_content())


@given(raw=st.binary(max_size=512))
def test_any_bytes_decode_or_are_refused_with_a_reason(raw: bytes) -> None:
    assert isinstance(try_decode(raw, max_bytes=4096), TaskEvent | DecodeError)


@given(value=JSON_VALUES)
def test_any_json_decodes_or_is_refused_with_a_reason(value: Any) -> None:
    for wrapped in (value, {"specversion": "1.0", "data": value}):
        assert isinstance(
            try_decode(json.dumps(wrapped).encode(), max_bytes=1 << 20), TaskEvent | DecodeError
        )


@SLOW
@given(obj=near_valid())
def test_any_text_is_stored_and_mailed_or_refused_for_what_postgres_cannot_hold(
    obj: dict[str, Any], sessions: sessionmaker[Session], smtp: tuple[Settings, SaveToDirectory]
) -> None:
    obj["event_id"] = str(uuid.uuid4())  # a fresh row every example (the drawn ones repeat)
    decoded = try_decode(json.dumps(obj).encode(), max_bytes=1 << 20)
    if unstorable(obj) or out_of_range(obj):
        assert isinstance(decoded, DecodeError)
        assert decoded.reason == "invalid-event"
        return
    assert isinstance(decoded, TaskEvent), decoded
    stored_and_mailed(decoded, sessions, smtp)


# Characters around the edges of what PostgreSQL text refuses, and the pieces of their JSON escapes.
EDGE_TEXT = st.text(
    st.sampled_from(["a", "\u00e9", "\\", "u", "0", "d", "\x00", "\ud800", "\udbff", "\udc00", "\udfff",
                     "\ud7ff", "\ue000", "\U0001f600"]),
    max_size=8,
)  # fmt: skip


def encodings_of(obj: dict[str, Any]) -> Iterator[bytes]:
    """The event as the wire may carry it: bare (escaped or raw UTF-8), in a CloudEvent's data as an
    object, as JSON text, and as base64."""
    for ascii_only in (True, False):
        text = json.dumps(obj, ensure_ascii=ascii_only)
        for wire in (obj, {"specversion": "1.0", "data": obj}, {"specversion": "1.0", "data": text}):
            yield json.dumps(wire, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    # JSON allows escapes in either case; Python writes them in lower case.
    yield re.sub(r"\\u[0-9a-f]{4}", lambda m: m[0].upper().replace("\\U", "\\u"), json.dumps(obj)).encode()
    inner = base64.b64encode(json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")).decode()
    yield json.dumps({"specversion": "1.0", "data_base64": inner}).encode()


def walked_verdict(raw: bytes) -> bool:
    """Whether the full walk over every string of the parsed event finds text PostgreSQL cannot store."""
    value = json.loads(raw)
    return _unstorable(unwrap_cloudevent(value) if is_cloudevent(value) else value)


@given(user_id=EDGE_TEXT.filter(bool), title=EDGE_TEXT, description=EDGE_TEXT)
def test_the_quick_scan_never_changes_which_text_is_refused(
    user_id: str, title: str, description: str
) -> None:
    task_data = {"title": title, "description": description, "completed": True}
    obj = {
        "event_id": str(uuid.uuid4()), "event_type": "completed", "timestamp": "2026-12-02T10:00:00Z",
        "user_id": user_id, "task_id": 7, "task_data": task_data,
    }  # fmt: skip
    for raw in encodings_of(obj):
        decoded = try_decode(raw, max_bytes=1 << 20)
        refused = isinstance(decoded, DecodeError) and "NUL characters or lone surrogates" in decoded.message
        assert refused == walked_verdict(raw), (raw, decoded)
