"""Input PostgreSQL, Python's datetime or argon2 cannot take is a 4xx naming the field, never a 500."""

from __future__ import annotations

import json

import pytest

NUL = "a\x00b"
SURROGATE_JSON = '"a\\ud800b"'  # a lone surrogate, legal JSON escape, not storable UTF-8


@pytest.fixture
def user(auth):
    return auth.register()


def _raw_json(client, path, text, headers=None):
    return client.post(path, data=text, content_type="application/json", headers=headers or {})


def _field_error(response, status=422):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]["fields"]


@pytest.mark.parametrize("field", ["title", "description"])
def test_a_nul_in_task_text_is_422_naming_the_field(client, user, field):
    body = {"title": "ok", field: NUL}
    response = client.post(f"/api/{user.user_id}/tasks", json=body, headers=user.headers)
    assert field in _field_error(response)


@pytest.mark.parametrize("field", ["title", "description"])
def test_a_lone_surrogate_in_task_text_is_422_naming_the_field(client, user, field):
    text = f'{{"title": "ok", "{field}": {SURROGATE_JSON}}}'
    response = _raw_json(client, f"/api/{user.user_id}/tasks", text, user.headers)
    assert "surrogate" in _field_error(response)[field]


def test_updating_with_a_nul_is_422_and_leaves_the_task(client, user):
    created = client.post(f"/api/{user.user_id}/tasks", json={"title": "keep"}, headers=user.headers)
    task_id = created.get_json()["id"]
    response = client.put(f"/api/{user.user_id}/tasks/{task_id}", json={"title": NUL}, headers=user.headers)
    assert "title" in _field_error(response)
    assert (
        client.get(f"/api/{user.user_id}/tasks/{task_id}", headers=user.headers).get_json()["title"] == "keep"
    )


@pytest.mark.parametrize("path", ["tasks", "audit"])
def test_a_nul_in_the_search_text_is_422_naming_q(client, user, path):
    response = client.get(f"/api/{user.user_id}/{path}", query_string={"q": NUL}, headers=user.headers)
    assert "q" in _field_error(response)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("until", "9999-12-31"),
        ("since", "0001-01-01T00:00:00+01:00"),
        ("until", "9999-12-31T23:59:59-01:00"),
        ("since", "\uff12\uff10\uff12\uff16-01-01"),
        ("since", "2026-01-0\u0661"),
        ("task_id", "\u0661\u0662"),
        ("task_id", "1_000"),
        ("limit", "\u0665"),
        ("task_id", "99999999999999999999999"),
    ],
)
def test_extreme_dates_and_non_ascii_digits_in_audit_filters_are_422(client, user, field, value):
    response = client.get(f"/api/{user.user_id}/audit", query_string={field: value}, headers=user.headers)
    assert field in _field_error(response)


def test_extreme_dates_are_422_on_the_export_too(client, user):
    query = {"format": "csv", "until": "9999-12-31"}
    response = client.get(f"/api/{user.user_id}/audit/export", query_string=query, headers=user.headers)
    assert "until" in _field_error(response)


def test_the_year_9999_still_works_as_a_since(client, user):
    response = client.get(
        f"/api/{user.user_id}/audit", query_string={"since": "9999-12-30"}, headers=user.headers
    )
    assert response.status_code == 200
    assert response.get_json()["items"] == []


@pytest.mark.parametrize("task_id", ["99999999999999999999", "9223372036854775808", "\u0661\u0662"])
def test_a_task_id_beyond_bigint_or_in_other_digits_is_a_json_404(client, user, task_id):
    response = client.get(f"/api/{user.user_id}/tasks/{task_id}", headers=user.headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_the_largest_bigint_task_id_is_an_ordinary_404(client, user):
    response = client.get(f"/api/{user.user_id}/tasks/9223372036854775807", headers=user.headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "task_not_found"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (json.dumps({"email": "a@example.com", "password": "pass\x00word1"}), "password"),
        ('{"email": "a@example.com", "password": "longenough\\udc80"}', "password"),
        (json.dumps({"email": "a\x00@example.com", "password": "longenough"}), "email"),
        ('{"email": "a\\ud800@example.com", "password": "longenough"}', "email"),
    ],
)
@pytest.mark.parametrize("action", ["register", "login"])
def test_unstorable_credentials_are_422_naming_the_field(client, text, field, action):
    response = _raw_json(client, f"/api/auth/{action}", text)
    assert field in _field_error(response)


def test_an_oversized_body_is_413_naming_the_body(client, user, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"title": "x", "description": "y" * limit})
    response = _raw_json(client, f"/api/{user.user_id}/tasks", body, user.headers)
    error = response.get_json()["error"]
    assert response.status_code == 413
    assert error["code"] == "body_too_large"
    assert str(limit) in error["fields"]["body"]
