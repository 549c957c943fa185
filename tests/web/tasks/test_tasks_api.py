"""The task API contract: every endpoint, its query options and its errors."""

import re

import pytest

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


@pytest.fixture
def user(auth):
    return auth.register()


def _create(client, user, title="Buy milk", description=""):
    response = client.post(
        f"/api/{user.user_id}/tasks", json={"title": title, "description": description}, headers=user.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_returns_the_task_with_trimmed_title(client, user):
    task = _create(client, user, title="  Buy milk  ", description="two litres")
    assert set(task) == {"id", "user_id", "title", "description", "completed", "created_at", "updated_at"}
    assert task["title"] == "Buy milk"
    assert task["description"] == "two litres"
    assert task["completed"] is False
    assert task["user_id"] == user.user_id
    assert RFC3339_UTC.match(task["created_at"])
    assert task["created_at"] == task["updated_at"]


def test_description_is_optional(client, user):
    response = client.post(f"/api/{user.user_id}/tasks", json={"title": "x"}, headers=user.headers)
    assert response.status_code == 201
    assert response.get_json()["description"] == ""


def test_get_returns_one_task(client, user):
    task = _create(client, user)
    response = client.get(f"/api/{user.user_id}/tasks/{task['id']}", headers=user.headers)
    assert response.status_code == 200
    assert response.get_json() == task


def test_put_replaces_title_and_description(client, user):
    task = _create(client, user, description="old")
    response = client.put(
        f"/api/{user.user_id}/tasks/{task['id']}",
        json={"title": "New title", "description": "new"},
        headers=user.headers,
    )
    body = response.get_json()
    assert response.status_code == 200
    assert (body["title"], body["description"]) == ("New title", "new")
    assert body["updated_at"] > task["updated_at"]
    assert body["created_at"] == task["created_at"]


def test_patch_complete_toggles_both_ways(client, user):
    task = _create(client, user)
    url = f"/api/{user.user_id}/tasks/{task['id']}/complete"
    assert client.patch(url, headers=user.headers).get_json()["completed"] is True
    assert client.patch(url, headers=user.headers).get_json()["completed"] is False


def test_delete_is_204_then_the_task_is_gone(client, user):
    task = _create(client, user)
    url = f"/api/{user.user_id}/tasks/{task['id']}"
    response = client.delete(url, headers=user.headers)
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(url, headers=user.headers).status_code == 404
    assert client.delete(url, headers=user.headers).status_code == 404


def _titles(client, user, **query):
    response = client.get(f"/api/{user.user_id}/tasks", query_string=query, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return [task["title"] for task in response.get_json()]


def test_list_filters_by_status(client, user):
    done = _create(client, user, title="done")
    _create(client, user, title="pending")
    client.patch(f"/api/{user.user_id}/tasks/{done['id']}/complete", headers=user.headers)
    assert _titles(client, user, status="completed") == ["done"]
    assert _titles(client, user, status="pending") == ["pending"]
    assert sorted(_titles(client, user, status="all")) == ["done", "pending"]


def test_list_searches_title_and_description_case_insensitively(client, user):
    _create(client, user, title="Buy MILK")
    _create(client, user, title="Call mum", description="about the milk")
    _create(client, user, title="Walk")
    _create(client, user, title="100% done_")
    assert sorted(_titles(client, user, q="milk")) == ["Buy MILK", "Call mum"]
    assert _titles(client, user, q="%") == ["100% done_"]
    assert _titles(client, user, q="_") == ["100% done_"]


def test_list_sorts(client, user):
    for title in ("b", "c", "a"):
        _create(client, user, title=title)
    assert _titles(client, user) == ["a", "c", "b"]
    assert _titles(client, user, sort="created_at") == ["b", "c", "a"]
    assert _titles(client, user, sort="title") == ["a", "b", "c"]
    first = client.get(
        f"/api/{user.user_id}/tasks", query_string={"sort": "created_at"}, headers=user.headers
    )
    first_id = first.get_json()[0]["id"]
    client.put(f"/api/{user.user_id}/tasks/{first_id}", json={"title": "b2"}, headers=user.headers)
    assert _titles(client, user, sort="-updated_at")[0] == "b2"
    assert _titles(client, user, sort="updated_at")[-1] == "b2"


@pytest.mark.parametrize(
    ("query", "field"), [({"status": "done"}, "status"), ({"sort": "id"}, "sort"), ({"q": "x" * 201}, "q")]
)
def test_invalid_list_query_is_422_naming_the_field(client, user, query, field):
    response = client.get(f"/api/{user.user_id}/tasks", query_string=query, headers=user.headers)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 5}, "title"),
        ({"title": None}, "title"),
        ({"title": "ok", "description": "x" * 2001}, "description"),
        ({"title": "ok", "description": 5}, "description"),
    ],
)
def test_invalid_task_body_is_422_naming_the_field(client, user, body, field):
    task = _create(client, user)
    for method, url in (
        ("post", f"/api/{user.user_id}/tasks"),
        ("put", f"/api/{user.user_id}/tasks/{task['id']}"),
    ):
        response = getattr(client, method)(url, json=body, headers=user.headers)
        assert response.status_code == 422, (method, response.get_json())
        error = response.get_json()["error"]
        assert set(error) == {"code", "message", "fields"}
        assert field in error["fields"]


def test_title_limits_apply_after_trimming(client, user):
    response = client.post(
        f"/api/{user.user_id}/tasks", json={"title": f"  {'x' * 200}  "}, headers=user.headers
    )
    assert response.status_code == 201
    response = client.post(
        f"/api/{user.user_id}/tasks", json={"title": "x", "description": "d" * 2000}, headers=user.headers
    )
    assert response.status_code == 201


@pytest.mark.parametrize("method", ["post", "put"])
def test_a_body_that_is_not_json_is_400(client, user, method):
    task = _create(client, user)
    url = f"/api/{user.user_id}/tasks" + ("" if method == "post" else f"/{task['id']}")
    response = getattr(client, method)(
        url, data="title=x", headers={**user.headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"
    broken = getattr(client, method)(
        url, data="{not json", headers={**user.headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 400


def test_unknown_and_malformed_task_ids_are_404_json(client, user):
    for url in (f"/api/{user.user_id}/tasks/999999", f"/api/{user.user_id}/tasks/abc"):
        response = client.get(url, headers=user.headers)
        assert response.status_code == 404
        assert "error" in response.get_json()


def test_wrong_method_is_405_json(client, user):
    response = client.post(f"/api/{user.user_id}/tasks/1", headers=user.headers)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
