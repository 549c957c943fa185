"""Only one's own trail: another user's path is 403 on every audit endpoint, and nothing leaks."""

from __future__ import annotations

import pytest

from tests.web.audit.factories import Trail


def _endpoints(user_id):
    base = f"/api/{user_id}"
    return [
        f"{base}/audit",
        f"{base}/audit?event_type=created",
        f"{base}/audit/counts",
        f"{base}/audit/export?format=csv",
        f"{base}/audit/export?format=ndjson",
        f"{base}/tasks/1/history",
    ]


@pytest.fixture
def two_users(auth, engine):
    owner = auth.register("owner@example.com")
    intruder = auth.register("intruder@example.com")
    Trail(engine=engine, user_id=owner.user_id).add(task_id=1, title="owner's secret")
    Trail(engine=engine, user_id=intruder.user_id).add(task_id=2, title="intruder's own")
    return owner, intruder


def test_another_users_path_is_403_everywhere(client, two_users):
    owner, intruder = two_users
    for url in _endpoints(owner.user_id):
        response = client.get(url, headers=intruder.headers)
        assert response.status_code == 403, url
        assert response.get_json()["error"]["code"] == "forbidden"
        assert "secret" not in response.get_data(as_text=True)


def test_no_token_is_401_everywhere(client, two_users):
    owner, _ = two_users
    for url in _endpoints(owner.user_id):
        assert client.get(url).status_code == 401, url


def test_ones_own_trail_never_shows_the_other_users_rows(client, two_users):
    _owner, intruder = two_users
    base = f"/api/{intruder.user_id}"
    listed = client.get(f"{base}/audit?q=secret", headers=intruder.headers).get_json()
    assert listed["items"] == []
    everything = client.get(f"{base}/audit", headers=intruder.headers).get_json()["items"]
    assert [item["task_id"] for item in everything] == [2]
    assert client.get(f"{base}/tasks/1/history", headers=intruder.headers).status_code == 404
    exported = client.get(f"{base}/audit/export?format=ndjson", headers=intruder.headers).get_data(
        as_text=True
    )
    assert "secret" not in exported
    assert exported.count("\n") == 1


def test_pages_show_only_the_signed_in_users_trail(client, two_users, app):
    from flask_jwt_extended import create_access_token

    owner, intruder = two_users
    with app.app_context():
        token = create_access_token(identity=intruder.user_id)
    client.set_cookie("access_token_cookie", token)
    page = client.get("/audit").get_data(as_text=True)
    assert "intruder&#39;s own" in page
    assert "secret" not in page
    assert client.get("/audit/tasks/1").status_code == 404
    assert "secret" not in client.get("/audit/export?format=csv").get_data(as_text=True)
    assert "secret" not in client.get("/audit/live?after=0").get_data(as_text=True)
    assert owner.user_id not in client.get("/audit/live?after=0").get_data(as_text=True)
