"""Decoding: Dapr envelopes and bare events accepted, everything else refused with a reason."""

from __future__ import annotations

import base64
import json

import pytest

from shared.events import new_event
from streams.decoding import DecodeError, decode_event, try_decode

EVENT = new_event(event_type="updated", user_id="u1", task_id=4, title="T", description="D", completed=False)
WIRE = EVENT.to_dict()
NO_TIMESTAMP = {k: v for k, v in WIRE.items() if k != "timestamp"}
NUL_TITLE = {**WIRE, "task_data": {**WIRE["task_data"], "title": "a\x00"}}


def envelope(**fields: object) -> bytes:
    """A Dapr-style CloudEvent with the given data fields."""
    return json.dumps({"specversion": "1.0", "id": "x", "type": "com.dapr.event.sent", **fields}).encode()


@pytest.mark.parametrize(
    "raw",
    [
        EVENT.to_json().encode(),
        envelope(data=EVENT.to_dict(), datacontenttype="application/json"),
        envelope(data=EVENT.to_json()),
        envelope(data_base64=base64.b64encode(EVENT.to_json().encode()).decode()),
    ],
    ids=["bare", "data-object", "data-text", "data-base64"],
)
def test_accepts_bare_and_enveloped_events(raw: bytes) -> None:
    assert decode_event(raw, max_bytes=65536) == EVENT


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty"),
        (b"\xff\xfe", "invalid-json"),
        (b"{", "invalid-json"),
        (b"[1, 2]", "invalid-event"),
        (json.dumps({**EVENT.to_dict(), "task_id": "4"}).encode(), "invalid-event"),
        (json.dumps({**EVENT.to_dict(), "event_type": "archived"}).encode(), "unknown-event-type"),
        (json.dumps(NO_TIMESTAMP).encode(), "invalid-event"),
        (json.dumps({**EVENT.to_dict(), "user_id": "u" * 37}).encode(), "invalid-event"),
        (json.dumps(NUL_TITLE).encode(), "invalid-event"),
        (json.dumps({**WIRE, "task_data": {**WIRE["task_data"], "description": "\ud800"}}).encode(),
         "invalid-event"),
        (json.dumps({**WIRE, "task_id": 10**3000}).encode(), "invalid-event"),
        (json.dumps({**WIRE, "timestamp": "9999-12-31T23:59:59-01:00"}).encode(), "invalid-event"),
        (json.dumps({**WIRE, "timestamp": "0001-01-01T00:00:00+01:00"}).encode(), "invalid-event"),
        (envelope(), "invalid-envelope"),
        (envelope(data_base64="%%%"), "invalid-envelope"),
        (envelope(data_base64=5), "invalid-envelope"),
        (b" " * 5000, "oversized"),
    ],
)  # fmt: skip
def test_refuses_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_event(raw, max_bytes=4096)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "raw",
    [json.dumps(WIRE).replace('"task_id": 4', '"task_id": ' + "9" * 5000).encode(), b"[" * 100_000],
    ids=["past-the-int-digit-limit", "deep-nesting"],
)
def test_json_python_refuses_is_invalid_json(raw: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_event(raw, max_bytes=1_000_000)
    assert caught.value.reason == "invalid-json"


def test_an_unforeseen_error_is_the_messages_fault_not_the_agents() -> None:
    class Weird(bytes):
        """Bytes whose length cannot be taken, as no real message would."""

        def __len__(self) -> int:
            raise RuntimeError("unforeseen")

    decoded = try_decode(Weird(b"{}"), max_bytes=4096)
    assert isinstance(decoded, DecodeError)
    assert decoded.reason == "undecodable"
