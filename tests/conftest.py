"""Fixtures every suite shares: the database, the Flask app and client, and an API user helper."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine

from shared.settings import Settings
from web import create_app

FIXTURES = ("database", "kafka", "streams", "pipeline", "webhooks")
pytest_plugins = [f"tests.fixtures.{name}" for name in FIXTURES]


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[Flask]:
    """The app on the test database."""
    app = create_app({"TESTING": True}, settings=settings)
    yield app
    with app.app_context():
        from web.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner for the app's commands."""
    return app.test_cli_runner()


@dataclass
class ApiUser:
    """A registered, logged-in API user."""

    user_id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        """Bearer authorization headers."""
        return {"Authorization": f"Bearer {self.access_token}"}


class AuthActions:
    """Registers and logs in users through the real API."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client
        self._count = 0

    def register(self, email: str | None = None, password: str = "correct horse battery") -> ApiUser:
        """Register and log in a user; returns its tokens."""
        self._count += 1
        email = email or f"user{self._count}@example.com"
        created = self._client.post("/api/auth/register", json={"email": email, "password": password})
        assert created.status_code == 201, created.get_json()
        return self.login(email, password)

    def login(self, email: str, password: str) -> ApiUser:
        """Log in an existing user."""
        response = self._client.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return ApiUser(body["user_id"], email, password, body["access_token"], body["refresh_token"])


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Register and log in users through the API."""
    return AuthActions(client)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that touches PostgreSQL or the broker, so CI can rerun them on other servers."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"database_url", "engine", "settings", "app"}:
            item.add_marker(pytest.mark.db)
        if names & {"kafka_bootstrap", "kafka_topics"}:
            item.add_marker(pytest.mark.kafka)
