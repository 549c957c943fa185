"""Keyset pagination: every row exactly once, even while new events arrive between pages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.audit.factories import make_event, store


def _page(client, user, **params):
    response = client.get(f"/api/{user.user_id}/audit", query_string=params, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _walk(client, user, between=None, **params):
    """Follow next_cursor to the end, calling `between()` after each page; returns the ids seen."""
    seen, cursor = [], None
    while True:
        body = _page(client, user, **params, **({"cursor": cursor} if cursor else {}))
        seen.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        if between:
            between()
        if cursor is None:
            return seen


@pytest.mark.parametrize("sort", ["-timestamp", "timestamp"])
def test_pages_cover_every_row_once_while_events_are_inserted(client, user, trail, engine, sort):
    originals = [trail.add(task_id=n % 5 + 1) for n in range(23)]
    # Rows sharing a timestamp must still page by id without skips or repeats.
    tie = originals[10].timestamp
    store(engine, *(make_event(user_id=user.user_id, task_id=9, timestamp=tie) for _ in range(3)))
    existing = {item["id"] for item in _page(client, user, limit=200)["items"]}
    assert len(existing) == 26

    def insert_newer():
        trail.add("updated", task_id=1)

    seen = _walk(client, user, between=insert_newer, limit=4, sort=sort)
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert existing <= set(seen), "a row was skipped"
    if sort == "-timestamp":
        assert set(seen) == existing, "rows newer than the first page belong to a fresh walk, not this one"


def test_order_is_by_timestamp_then_id(client, user, trail, engine):
    trail.add(task_id=1)
    late = make_event(user_id=user.user_id, task_id=2, timestamp=trail.start - timedelta(seconds=1))
    store(engine, late)  # stored last, happened first
    items = _page(client, user, sort="timestamp")["items"]
    assert [item["task_id"] for item in items] == [2, 1]


def test_last_page_has_null_cursor_and_exact_fit_too(client, user, trail):
    for n in range(4):
        trail.add(task_id=n + 1)
    first = _page(client, user, limit=2)
    second = _page(client, user, limit=2, cursor=first["next_cursor"])
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


def test_filters_apply_across_pages(client, user, trail):
    for n in range(12):
        trail.add(("created", "updated", "deleted")[n % 3], task_id=n + 1)
    seen = _walk(client, user, limit=3, event_type=["created", "deleted"])
    assert len(seen) == 8


def test_empty_trail(client, user):
    assert _page(client, user) == {"items": [], "next_cursor": None}
