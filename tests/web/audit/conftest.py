"""Fixtures for the audit tests: a signed-up user and a builder of that user's trail."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.conftest import ApiUser, AuthActions
from tests.web.audit.factories import Trail


@pytest.fixture
def user(auth: AuthActions) -> ApiUser:
    """A registered user with an API token."""
    return auth.register("auditor@example.com")


@pytest.fixture
def trail(engine: Engine, user: ApiUser) -> Trail:
    """Stores events for `user`, each one millisecond after the previous."""
    return Trail(engine=engine, user_id=user.user_id)
