"""Activity over time through the API: hourly and daily buckets per type, from audit_log, worker away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from tests.conftest import ApiUser
from tests.web.audit.factories import Trail


def activity(client: FlaskClient, user: ApiUser, **args: str) -> tuple[int, dict]:
    """GET the activity series."""
    response = client.get(f"/api/{user.user_id}/audit/activity", query_string=args, headers=user.headers)
    return response.status_code, response.get_json()


def test_the_last_24_hours_by_hour_with_every_bucket(
    client: FlaskClient, user: ApiUser, trail: Trail
) -> None:
    now = datetime.now(UTC)
    trail.start, trail.step = now - timedelta(hours=30), timedelta(hours=10)
    for kind in ("created", "updated", "completed", "deleted"):
        trail.add(kind)

    status, body = activity(client, user)
    assert status == 200
    assert (body["range"], body["bucket"], body["source"]) == ("24h", "hour", "database")
    series = body["series"]
    assert len(series) == 24
    assert series[-1]["start"] == now.replace(minute=0, second=0, microsecond=0).strftime(
        "%Y-%m-%dT%H:00:00Z"
    )
    assert sum(point["total"] for point in series) == 3, "the event 30 hours ago is outside the range"
    by_type = {
        kind: sum(point[kind] for point in series) for kind in ("created", "updated", "completed", "deleted")
    }
    assert by_type == {"created": 0, "updated": 1, "completed": 1, "deleted": 1}


def test_the_last_30_days_by_day(client: FlaskClient, user: ApiUser, trail: Trail) -> None:
    now = datetime.now(UTC)
    trail.start, trail.step = now - timedelta(days=40), timedelta(days=12)
    for _ in range(4):
        trail.add("created")

    status, body = activity(client, user, range="30d")
    assert status == 200
    assert (len(body["series"]), body["bucket"]) == (30, "day")
    assert body["series"][-1]["start"] == now.strftime("%Y-%m-%dT00:00:00Z")
    assert sum(point["created"] for point in body["series"]) == 3


def test_an_unknown_range_is_a_422_naming_it(client: FlaskClient, user: ApiUser) -> None:
    status, body = activity(client, user, range="1y")
    assert status == 422
    assert "range" in body["error"]["fields"]
