"""Activity end to end: API -> outbox -> relay -> Tansu -> worker's hourly table -> the audit activity API."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from shared.activity import RANGES
from shared.events import new_event
from shared.models import AuditLog
from tests.conftest import ApiUser, AuthActions
from tests.fixtures.pipeline import Pipeline
from tests.fixtures.streams import wait_for
from tests.streams.helpers import bare, keyed, produce
from web.audit.activity import database_series
from web.extensions import db

pytestmark = pytest.mark.slow


def activity(client: FlaskClient, user: ApiUser, span: str) -> dict[str, Any]:
    """GET /api/<user_id>/audit/activity for the range."""
    response = client.get(f"/api/{user.user_id}/audit/activity?range={span}", headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def from_database(pipeline: Pipeline, user: ApiUser, span: str) -> list[dict[str, Any]]:
    """The series audit_log gives for the range, now."""
    with pipeline.app.app_context():
        series = database_series(
            session=db.session, user_id=user.user_id, span=RANGES[span], now=datetime.now(UTC)
        )
        db.session.remove()
    return series


def from_the_stream_as_in_the_database(
    pipeline: Pipeline, client: FlaskClient, user: ApiUser, span: str
) -> dict[str, Any] | None:
    """The API's answer once it comes from the stream with the series audit_log gives, else None."""
    answer = activity(client, user, span)
    if answer["source"] != "stream" or answer["series"] != from_database(pipeline, user, span):
        return None
    return answer


def audited(engine: Engine, user: ApiUser) -> int:
    """The user's audit rows."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(AuditLog.user_id == user.user_id)) or 0)


def test_the_activity_api_answers_from_the_stream_with_the_databases_series(
    pipeline: Pipeline, engine: Engine
) -> None:
    client = pipeline.app.test_client()
    user = AuthActions(client).register(f"activity-{uuid.uuid4().hex[:8]}@example.com")
    task = client.post(f"/api/{user.user_id}/tasks", json={"title": "Plot"}, headers=user.headers).get_json()
    client.patch(f"/api/{user.user_id}/tasks/{task['id']}/complete", headers=user.headers)
    # Earlier events, as if the user had been busy over the past weeks (published straight to the topic).
    earlier = [
        dataclasses.replace(
            new_event(
                event_type=kind,
                user_id=user.user_id,
                task_id=99,
                title="old",
                description="",
                completed=False,
            ),
            timestamp=datetime.now(UTC) - ago,
        )
        for kind, ago in [
            ("created", timedelta(hours=3)),
            ("updated", timedelta(hours=3, minutes=30)),
            ("deleted", timedelta(days=4)),
            ("created", timedelta(days=12, hours=6)),
            ("created", timedelta(days=45)),
        ]
    ]
    produce(
        pipeline.settings.kafka_bootstrap_servers,
        pipeline.topics.events,
        [keyed(e, bare(e)) for e in earlier],
    )
    wait_for(lambda: audited(engine, user) == 7, what="all seven events audited")

    for span in RANGES:
        body = wait_for(
            lambda s=span: from_the_stream_as_in_the_database(pipeline, client, user, s),
            what=f"the {span} series from the stream, equal to audit_log's",
        )
        assert sum(point["total"] for point in body["series"]) == (4 if span == "24h" else 6)
