"""GET /api/openapi.json describes every API route, and the limits it publishes are the ones enforced."""

from __future__ import annotations

import pytest

from web.openapi.document import api_rules
from web.openapi.operations import OPERATIONS


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def user(auth):
    return auth.register()


def _body_property(document, path, method, name):
    operation = document["paths"][path][method]
    return operation["requestBody"]["content"]["application/json"]["schema"]["properties"][name]


def _query(document, path, name):
    parameters = document["paths"][path]["get"]["parameters"]
    return next(p["schema"] for p in parameters if p["name"] == name and p["in"] == "query")


def test_the_document_is_openapi_3_1_with_every_api_route(app, document):
    assert document["openapi"] == "3.1.0"
    served = {
        (rule.endpoint, method.lower())
        for rule in api_rules(app)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        (op["operationId"], method) for item in document["paths"].values() for method, op in item.items()
    }
    assert documented == served


def test_every_api_endpoint_has_its_own_entry_and_no_entry_is_stale(app):
    endpoints = {rule.endpoint for rule in api_rules(app)}
    assert endpoints - set(OPERATIONS) == set(), "document these endpoints in web/openapi/operations.py"
    assert set(OPERATIONS) - endpoints == set(), "these entries name no route"


def test_public_operations_are_only_the_ones_that_need_no_token(client, document):
    public = {
        op["operationId"]
        for item in document["paths"].values()
        for op in item.values()
        if op.get("security") == []
    }
    assert public == {"auth.register", "auth.login", "openapi.openapi_document"}
    for operation_id in {
        op["operationId"] for item in document["paths"].values() for op in item.values()
    } - public:
        assert (
            "401"
            in next(
                op
                for item in document["paths"].values()
                for op in item.values()
                if op["operationId"] == operation_id
            )["responses"]
        )


@pytest.mark.parametrize("field", ["title", "description"])
def test_task_text_limits_are_the_enforced_ones(client, user, document, field):
    limit = _body_property(document, "/api/{user_id}/tasks", "post", field)["maxLength"]
    url = f"/api/{user.user_id}/tasks"
    assert client.post(url, json={"title": "t", field: "x" * limit}, headers=user.headers).status_code == 201
    response = client.post(url, json={"title": "t", field: "x" * (limit + 1)}, headers=user.headers)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_a_blank_title_breaks_the_published_pattern_and_is_refused(client, user, document):
    import re

    pattern = _body_property(document, "/api/{user_id}/tasks", "post", "title")["pattern"]
    assert re.search(pattern, "   ") is None
    assert re.search(pattern, " a ") is not None
    response = client.post(f"/api/{user.user_id}/tasks", json={"title": "   "}, headers=user.headers)
    assert "title" in response.get_json()["error"]["fields"]


def test_the_registration_password_minimum_is_the_enforced_one(client, document):
    minimum = _body_property(document, "/api/auth/register", "post", "password")["minLength"]
    short = client.post(
        "/api/auth/register", json={"email": "a@example.com", "password": "x" * (minimum - 1)}
    )
    assert "password" in short.get_json()["error"]["fields"]
    assert (
        client.post(
            "/api/auth/register", json={"email": "a@example.com", "password": "x" * minimum}
        ).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/{user_id}/tasks", "status"),
        ("/api/{user_id}/tasks", "sort"),
        ("/api/{user_id}/audit", "sort"),
        ("/api/{user_id}/audit/export", "format"),
        ("/api/{user_id}/audit/activity", "range"),
    ],
)
def test_every_published_choice_is_accepted_and_nothing_else(client, user, document, path, name):
    url = path.replace("{user_id}", user.user_id)
    for value in _query(document, path, name)["enum"]:
        assert client.get(url, query_string={name: value}, headers=user.headers).status_code == 200, value
    refused = client.get(url, query_string={name: "no-such-choice"}, headers=user.headers)
    assert name in refused.get_json()["error"]["fields"]


@pytest.mark.parametrize("name", ["limit", "task_id"])
def test_published_integer_bounds_are_the_enforced_ones(client, user, document, name):
    bounds = _query(document, "/api/{user_id}/audit", name)
    url = f"/api/{user.user_id}/audit"
    for ok in (bounds["minimum"], bounds["maximum"]):
        assert client.get(url, query_string={name: ok}, headers=user.headers).status_code == 200
    for bad in (bounds["minimum"] - 1, bounds["maximum"] + 1):
        assert (
            name
            in client.get(url, query_string={name: bad}, headers=user.headers).get_json()["error"]["fields"]
        )
