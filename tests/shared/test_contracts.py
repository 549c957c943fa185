"""Each contract lives once: task_data's fields and the counts shape, as every side uses them."""

from __future__ import annotations

from shared.counts import COUNT_FIELDS, counts_body, counts_from, parse_counts
from shared.events import EVENT_TYPES, TASK_DATA_FIELDS, TaskData, new_event, parse_event
from streams.count_entry import CountUpdate, apply_update
from web.audit.export import CSV_COLUMNS
from web.audit.pages import FIELD_LABELS


def test_task_data_fields_are_the_event_schema_and_what_export_and_pages_show():
    event = new_event(
        event_type="created", user_id="u", task_id=1, title="t", description="d", completed=True
    )
    assert list(event.to_dict()["task_data"]) == list(TASK_DATA_FIELDS)
    assert list(TaskData.__dataclass_fields__) == list(TASK_DATA_FIELDS)
    assert [column for column in CSV_COLUMNS if column in TASK_DATA_FIELDS] == list(TASK_DATA_FIELDS)
    assert set(FIELD_LABELS) == set(TASK_DATA_FIELDS)
    assert parse_event(event.to_dict()) == event


def test_what_the_worker_serves_is_what_web_accepts():
    counts = None
    for offset, kind in enumerate(["created", "updated", "updated", "completed"]):
        update = CountUpdate(
            user_id="u", event_id=f"e{offset}", event_type=kind, source_partition=0, source_offset=offset
        )
        counts = apply_update(counts, update)
    served = counts_body("u", counts)
    assert list(served) == ["user_id", *COUNT_FIELDS]
    assert parse_counts(served, "u") == counts_from({"created": 1, "updated": 2, "completed": 1})
    assert parse_counts(served, "someone-else") is None


def test_counts_from_keeps_the_shape_whatever_it_is_given():
    assert counts_from({}) == dict.fromkeys(COUNT_FIELDS, 0)
    assert counts_from({"deleted": 2, "bogus": 5}) == {
        **dict.fromkeys(EVENT_TYPES, 0),
        "deleted": 2,
        "total": 2,
    }
    assert parse_counts({**counts_body("u", None), "total": -1}, "u") is None
    assert parse_counts({**counts_body("u", None), "created": True}, "u") is None
