"""Every response carries a request id: the caller's when well formed, a new one otherwise."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.logs import request_id_var


def test_a_well_formed_request_id_is_propagated(client: FlaskClient):
    response = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.42"})
    assert response.headers["X-Request-ID"] == "edge-7f3a.42"


def test_a_missing_or_malformed_request_id_is_replaced(client: FlaskClient):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    forged = client.get("/healthz", headers={"X-Request-ID": 'x level=ERROR fake" {'}).headers["X-Request-ID"]
    assert len({first, second, forged}) == 3
    assert all(len(value) == 32 and value.isalnum() for value in (first, second, forged))


def test_log_lines_inside_a_request_carry_its_id(app: Flask, caplog: pytest.LogCaptureFixture):
    @app.get("/_log_something")
    def log_something() -> str:
        logging.getLogger("web.test").warning("inside %s", request_id_var.get())
        return "ok"

    with caplog.at_level(logging.WARNING, logger="web.test"):
        app.test_client().get("/_log_something", headers={"X-Request-ID": "req-123"})
    assert [r.getMessage() for r in caplog.records if r.name == "web.test"] == ["inside req-123"]
    assert request_id_var.get() is None, "the id must not leak past the request"
