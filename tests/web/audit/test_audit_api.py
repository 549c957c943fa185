"""GET /api/<user_id>/audit: the contract, every filter, every validation error."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

ITEM_KEYS = {"id", "event_id", "event_type", "user_id", "task_id", "event_data", "timestamp"}


def _get(client, user, **params):
    return client.get(f"/api/{user.user_id}/audit", query_string=params, headers=user.headers)


def test_items_have_the_contract_shape_newest_first(client, user, trail):
    first = trail.add("created", task_id=7, title="Buy milk", description="2 litres")
    second = trail.add("completed", task_id=7, title="Buy milk", description="2 litres", completed=True)
    body = _get(client, user).get_json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    assert [item["event_id"] for item in body["items"]] == [str(second.event_id), str(first.event_id)]
    item = body["items"][1]
    assert set(item) == ITEM_KEYS
    assert item["event_data"] == first.to_dict()
    assert item["timestamp"] == first.to_dict()["timestamp"]
    assert item["user_id"] == user.user_id
    assert item["task_id"] == 7
    assert isinstance(item["id"], int)


def test_ascending_sort(client, user, trail):
    events = [trail.add("created", task_id=n) for n in range(1, 4)]
    body = _get(client, user, sort="timestamp").get_json()
    assert [item["task_id"] for item in body["items"]] == [event.task_id for event in events]


def test_filter_by_several_event_types(client, user, trail):
    for kind in ("created", "updated", "completed", "deleted", "updated"):
        trail.add(kind)
    response = client.get(
        f"/api/{user.user_id}/audit?event_type=updated&event_type=deleted", headers=user.headers
    )
    assert sorted(item["event_type"] for item in response.get_json()["items"]) == [
        "deleted",
        "updated",
        "updated",
    ]
    single = _get(client, user, event_type="completed").get_json()["items"]
    assert [item["event_type"] for item in single] == ["completed"]


def test_filter_by_task(client, user, trail):
    trail.add(task_id=1)
    trail.add(task_id=2)
    trail.add("updated", task_id=2)
    items = _get(client, user, task_id=2).get_json()["items"]
    assert [item["task_id"] for item in items] == [2, 2]


def test_since_is_inclusive_and_until_exclusive(client, user, trail):
    events = [trail.add(task_id=n) for n in range(1, 6)]
    since, until = events[1].to_dict()["timestamp"], events[3].to_dict()["timestamp"]
    items = _get(client, user, since=since, until=until, sort="timestamp").get_json()["items"]
    assert [item["task_id"] for item in items] == [2, 3]


def test_dates_mean_whole_utc_days(client, user, trail):
    trail.start = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    trail.step = trail.step * 2000  # two seconds: the second event falls on 2 March
    trail.add(task_id=1)
    trail.add(task_id=2)
    assert [i["task_id"] for i in _get(client, user, until="2026-03-01").get_json()["items"]] == [1]
    assert [i["task_id"] for i in _get(client, user, since="2026-03-02").get_json()["items"]] == [2]
    assert [
        i["task_id"] for i in _get(client, user, since="2026-03-01", until="2026-03-01").get_json()["items"]
    ] == [1]


def test_offsets_other_than_utc_are_understood(client, user, trail):
    trail.add(task_id=1)  # 2026-01-01T12:00:00Z
    assert _get(client, user, since="2026-01-01T13:00:00+01:00").get_json()["items"]
    assert not _get(client, user, since="2026-01-01T13:00:01+01:00").get_json()["items"]


def test_text_search_in_title_or_description(client, user, trail):
    trail.add(task_id=1, title="Buy MILK")
    trail.add(task_id=2, title="Call mum", description="about the milk")
    trail.add(task_id=3, title="Pay rent")
    trail.add(task_id=4, title="100% done_ok")
    assert sorted(i["task_id"] for i in _get(client, user, q="milk").get_json()["items"]) == [1, 2]
    # LIKE wildcards in the search are literal text.
    assert [i["task_id"] for i in _get(client, user, q="0%").get_json()["items"]] == [4]
    assert _get(client, user, q="y_r").get_json()["items"] == []


def test_limit_bounds_the_page(client, user, trail):
    for n in range(1, 6):
        trail.add(task_id=n)
    body = _get(client, user, limit=2).get_json()
    assert len(body["items"]) == 2
    assert body["next_cursor"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"event_type": "exploded"}, "event_type"),
        ({"task_id": "abc"}, "task_id"),
        ({"task_id": "0"}, "task_id"),
        ({"task_id": str(2**63)}, "task_id"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T10:00:00"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
        ({"q": "x" * 201}, "q"),
        ({"sort": "title"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_invalid_filters_are_422_naming_the_field(client, user, params, field):
    response = _get(client, user, **params)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {field}


def test_several_bad_fields_are_all_named(client, user):
    response = _get(client, user, sort="x", limit="-1", event_type="nope")
    assert set(response.get_json()["error"]["fields"]) == {"sort", "limit", "event_type"}


def _encode(raw):
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        {"t": "2026-01-01T00:00:00Z", "id": "1", "s": "-timestamp"},
        {"t": "2026-01-01T00:00:00Z", "id": 0, "s": "-timestamp"},
        {"t": "2026-01-01T00:00:00", "id": 1, "s": "-timestamp"},
        {"t": "2026-01-01T00:00:00Z", "id": 1, "s": "title"},
        {"t": "2026-01-01T00:00:00Z", "id": 1, "s": "-timestamp", "x": 1},
        {"t": "2026-01-01T00:00:00Z", "id": 1, "s": "-timestamp", "d": "sideways"},
        [1, 2],
    ],
)
def test_tampered_cursors_are_422_naming_cursor(client, user, raw):
    response = _get(client, user, cursor=_encode(raw))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"cursor"}


def test_a_cursor_for_the_other_sort_is_refused(client, user, trail):
    for n in range(1, 4):
        trail.add(task_id=n)
    cursor = _get(client, user, limit=1).get_json()["next_cursor"]
    response = _get(client, user, limit=1, cursor=cursor, sort="timestamp")
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"cursor"}


def test_no_token_is_401(client, user):
    response = client.get(f"/api/{user.user_id}/audit")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "missing_token"
