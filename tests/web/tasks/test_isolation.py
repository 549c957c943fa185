"""A second user can neither see nor change the first user's tasks."""

import pytest


@pytest.fixture
def owner_and_task(client, auth):
    owner = auth.register("owner@example.com")
    response = client.post(f"/api/{owner.user_id}/tasks", json={"title": "private"}, headers=owner.headers)
    return owner, response.get_json()


def _requests(user_id, task_id):
    base = f"/api/{user_id}/tasks"
    return [
        ("get", base, None),
        ("post", base, {"title": "x"}),
        ("get", f"{base}/{task_id}", None),
        ("put", f"{base}/{task_id}", {"title": "x"}),
        ("patch", f"{base}/{task_id}/complete", None),
        ("delete", f"{base}/{task_id}", None),
    ]


def test_another_users_path_is_403_on_every_endpoint(client, auth, owner_and_task):
    owner, task = owner_and_task
    intruder = auth.register("intruder@example.com")
    for method, url, body in _requests(owner.user_id, task["id"]):
        response = getattr(client, method)(url, json=body, headers=intruder.headers)
        assert response.status_code == 403, (method, url)
        assert response.get_json()["error"]["code"] == "forbidden"


def test_another_users_task_under_ones_own_path_is_404(client, auth, owner_and_task):
    _owner, task = owner_and_task
    intruder = auth.register("intruder@example.com")
    for method, url, body in _requests(intruder.user_id, task["id"])[2:]:
        response = getattr(client, method)(url, json=body, headers=intruder.headers)
        assert response.status_code == 404, (method, url)
    assert client.get(f"/api/{intruder.user_id}/tasks", headers=intruder.headers).get_json() == []


def test_the_owners_task_is_untouched_after_the_attempts(client, auth, owner_and_task):
    owner, task = owner_and_task
    intruder = auth.register("intruder@example.com")
    for method, url, body in _requests(intruder.user_id, task["id"])[2:]:
        getattr(client, method)(url, json=body, headers=intruder.headers)
    response = client.get(f"/api/{owner.user_id}/tasks/{task['id']}", headers=owner.headers)
    assert response.get_json() == task
