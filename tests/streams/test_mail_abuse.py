"""Completion mail only to verified addresses when required, and at most MAIL_RATE_LIMIT_PER_HOUR per user."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update

from shared.db import make_sessionmaker
from shared.models import SentNotification, User
from streams.notifications.abuse import mail_allowances
from tests.streams.conftest import add_user


@pytest.fixture
def sessions(engine):
    return make_sessionmaker(engine)


def mail_allowed(*, sessions, user_id, settings):
    """Whether this user may get another completion mail now."""
    return mail_allowances(sessions=sessions, user_ids=[user_id], settings=settings)[user_id] > 0


def _verify(engine, user_id):
    with engine.begin() as conn:
        conn.execute(update(User).where(User.id == user_id).values(email_verified_at=datetime.now(UTC)))


def _mails(engine, user_id, count, *, ago=timedelta(0)):
    moment = datetime.now(UTC) - ago
    rows = [
        {
            "event_id": uuid.uuid4(),
            "user_id": user_id,
            "task_id": 1,
            "recipient": "a@example.com",
            "claimed_at": moment,
            "sent_at": moment,
        }
        for _ in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(SentNotification), rows)


def test_an_unverified_address_gets_no_mail_when_verification_is_required(engine, sessions, settings):
    required = dataclasses.replace(settings, mail_require_verified=True)
    user_id = add_user(engine, email="u@example.com")
    assert mail_allowed(sessions=sessions, user_id=user_id, settings=required) is False
    _verify(engine, user_id)
    assert mail_allowed(sessions=sessions, user_id=user_id, settings=required) is True


def test_development_mails_unverified_addresses_and_production_does_not(engine, sessions, settings):
    user_id = add_user(engine, email="dev@example.com")
    assert settings.requires_verified_email is False
    assert mail_allowed(sessions=sessions, user_id=user_id, settings=settings) is True
    production = dataclasses.replace(settings, app_env="production")
    assert production.requires_verified_email is True
    assert mail_allowed(sessions=sessions, user_id=user_id, settings=production) is False


def test_a_user_gets_at_most_the_hourly_cap(engine, sessions, settings):
    capped = dataclasses.replace(settings, mail_rate_limit_per_hour=3)
    user_id, other = add_user(engine, email="c@example.com"), add_user(engine, email="o@example.com")
    _mails(engine, user_id, 5, ago=timedelta(hours=2))  # older than the hour: not counted
    _mails(engine, user_id, 2)
    assert mail_allowed(sessions=sessions, user_id=user_id, settings=capped) is True
    _mails(engine, user_id, 1)
    assert mail_allowed(sessions=sessions, user_id=user_id, settings=capped) is False
    assert mail_allowed(sessions=sessions, user_id=other, settings=capped) is True
