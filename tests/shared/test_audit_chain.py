"""The chain's contract: canonical JSON bytes and the link hash, pinned so writer and verifier agree."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

from shared.audit_chain import GENESIS, canonical_json, event_document, event_row, link_hash, row_document
from shared.events import TaskData, TaskEvent

EVENT = TaskEvent(
    event_id=uuid.UUID("6f1c2b8e-3d4a-4f5b-9c6d-7e8f9a0b1c2d"),
    event_type="updated",
    timestamp=datetime(2026, 12, 1, 13, 0, 5, 123456, tzinfo=UTC),
    user_id="user-1",
    task_id=42,
    task_data=TaskData(title="Caf\u00e9 \u2615", description='say "hi"\n', completed=False),
)


def test_canonical_json_sorts_keys_uses_fixed_separators_and_escapes_non_ascii() -> None:
    assert canonical_json({"b": 1, "a": {"d": True, "c": None}, "\u00e9": "\u2615"}) == (
        b'{"a":{"c":null,"d":true},"b":1,"\\u00e9":"\\u2615"}'
    )


def test_canonical_json_ignores_the_order_a_mapping_was_built_in() -> None:
    assert canonical_json({"x": 1, "y": [2, 3]}) == canonical_json({"y": [2, 3], "x": 1})


def test_row_document_matches_the_event_document_whatever_the_timestamp_zone() -> None:
    elsewhere = EVENT.timestamp.astimezone(timezone(timedelta(hours=5, minutes=30)))
    from_row = row_document(
        event_id=str(EVENT.event_id),
        event_type="updated",
        user_id="user-1",
        task_id=42,
        timestamp=elsewhere,
        event_data=EVENT.to_dict(),
    )
    assert from_row == event_document(EVENT)


def test_event_document_is_pinned_byte_for_byte() -> None:
    # Changing this is a format change: every stored chain would stop verifying without a migration.
    assert event_document(EVENT) == (
        b'{"event_data":{"event_id":"6f1c2b8e-3d4a-4f5b-9c6d-7e8f9a0b1c2d","event_type":"updated",'
        b'"task_data":{"completed":false,"description":"say \\"hi\\"\\n","title":"Caf\\u00e9 \\u2615"},'
        b'"task_id":42,"timestamp":"2026-12-01T13:00:05.123456Z","user_id":"user-1"},'
        b'"event_id":"6f1c2b8e-3d4a-4f5b-9c6d-7e8f9a0b1c2d","event_type":"updated","task_id":42,'
        b'"timestamp":"2026-12-01T13:00:05.123456Z","user_id":"user-1"}'
    )


def test_link_hash_is_sha256_of_the_previous_hash_then_the_document() -> None:
    document = event_document(EVENT)
    assert bytes(32) == GENESIS
    first = link_hash(GENESIS, document)
    assert first == hashlib.sha256(bytes(32) + document).digest()
    assert link_hash(first, document) != first
    assert len(first) == 32


def test_the_row_document_is_the_canonical_json_of_the_whole_row() -> None:
    data = EVENT.to_dict()
    whole = canonical_json({**{k: data[k] for k in data if k != "task_data"}, "event_data": data})
    assert event_document(EVENT) == whole
    assert event_row(EVENT) == (canonical_json(data), whole)
