"""GET /api/<user_id>/tasks/<id>/history: a task's events in order with what changed, deleted tasks too."""

from __future__ import annotations


def _history(client, user, task_id):
    return client.get(f"/api/{user.user_id}/tasks/{task_id}/history", headers=user.headers)


def test_history_through_the_real_task_api(client, user, engine):
    from tests.web.audit.factories import mirror_outbox

    base = f"/api/{user.user_id}/tasks"
    task = client.post(base, json={"title": "Draft", "description": "v1"}, headers=user.headers).get_json()
    client.put(f"{base}/{task['id']}", json={"title": "Final", "description": "v1"}, headers=user.headers)
    client.patch(f"{base}/{task['id']}/complete", headers=user.headers)
    client.delete(f"{base}/{task['id']}", headers=user.headers)
    mirror_outbox(engine)
    response = _history(client, user, task["id"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["task_id"] == task["id"]
    items = body["items"]
    assert [item["event_type"] for item in items] == ["created", "updated", "completed", "deleted"]
    assert items[0]["changes"] == {
        "title": [None, "Draft"],
        "description": [None, "v1"],
        "completed": [None, False],
    }
    assert items[1]["changes"] == {"title": ["Draft", "Final"]}
    assert items[2]["changes"] == {"completed": [False, True]}
    assert items[3]["changes"] == {}
    assert {"id", "event_id", "event_type", "user_id", "task_id", "event_data", "timestamp"} <= set(items[0])


def test_history_is_in_timestamp_order_not_insert_order(client, user, trail, engine):
    from datetime import timedelta

    from tests.web.audit.factories import make_event, store

    trail.add("updated", task_id=3, title="second")
    store(
        engine,
        make_event(user_id=user.user_id, task_id=3, title="first", timestamp=trail.start - timedelta(1)),
    )
    items = _history(client, user, 3).get_json()["items"]
    assert [item["event_data"]["task_data"]["title"] for item in items] == ["first", "second"]
    assert items[1]["changes"] == {"title": ["first", "second"]}


def test_history_only_has_that_task(client, user, trail):
    trail.add(task_id=1)
    trail.add(task_id=2)
    trail.add("updated", task_id=1, description="more")
    items = _history(client, user, 1).get_json()["items"]
    assert [item["task_id"] for item in items] == [1, 1]
    assert items[1]["changes"] == {"description": ["", "more"]}


def test_unknown_task_is_404(client, user, trail):
    trail.add(task_id=1)
    response = _history(client, user, 999)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "task_not_found"


def test_non_numeric_task_id_is_404(client, user):
    assert _history(client, user, "abc").status_code == 404
