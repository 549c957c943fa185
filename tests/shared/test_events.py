"""The event schema: what is built is valid, and what is invalid is named precisely."""

import copy
import uuid

import pytest

from shared.events import EventValidationError, new_event, parse_event


def _valid():
    return new_event(
        event_type="created", user_id="u-1", task_id=7, title="t", description="d", completed=False
    ).to_dict()


def test_a_new_event_round_trips_through_its_wire_form():
    wire = _valid()
    event = parse_event(wire)
    assert event.to_dict() == wire
    assert wire["timestamp"].endswith("Z")
    assert uuid.UUID(wire["event_id"]).version == 4


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.pop("event_id"), "event_id"),
        (lambda e: e.update(event_id="nope"), "event_id"),
        (lambda e: e.update(event_id=str(uuid.uuid1())), "event_id"),
        (lambda e: e.update(event_type="archived"), "event_type"),
        (lambda e: e.update(timestamp="yesterday"), "timestamp"),
        (lambda e: e.update(timestamp="2026-01-01T00:00:00"), "timestamp"),
        (lambda e: e.update(user_id=5), "user_id"),
        (lambda e: e.update(user_id=""), "user_id"),
        (lambda e: e.update(task_id="7"), "task_id"),
        (lambda e: e.update(task_id=True), "task_id"),
        (lambda e: e.pop("task_data"), "task_data"),
        (lambda e: e["task_data"].update(completed="no"), "task_data.completed"),
        (lambda e: e["task_data"].pop("title"), "task_data.title"),
    ],
)
def test_invalid_events_name_the_field(change, field):
    wire = copy.deepcopy(_valid())
    change(wire)
    with pytest.raises(EventValidationError) as info:
        parse_event(wire)
    assert info.value.field == field


def test_a_non_object_is_rejected():
    with pytest.raises(EventValidationError):
        parse_event(["not", "an", "event"])


def test_offsets_are_normalised_to_utc():
    wire = _valid()
    wire["timestamp"] = "2026-11-25T12:00:00+02:00"
    assert parse_event(wire).to_dict()["timestamp"] == "2026-11-25T10:00:00.000000Z"
