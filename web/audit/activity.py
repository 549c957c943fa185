"""Activity over time: a user's events per type by hour (24h) or by day (30d).

The stream worker's windowed table answers first (`/activity/<user_id>/?range=`); when it is down,
slow or wrong, the same series is counted in audit_log, like the counts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from shared.activity import RANGES, Range, bucket_starts, format_start
from shared.db import SessionLike
from shared.events import EVENT_TYPES
from shared.settings import Settings
from web.audit import services
from web.audit.counts import worker_client
from web.audit.worker import WorkerUnavailable


def parse_range(raw: str | None) -> tuple[Range | None, dict[str, str]]:
    """The asked-for range (24h by default), or the error naming `range`."""
    chosen = RANGES.get(raw or "24h")
    if chosen is None:
        return None, {"range": f"must be one of {', '.join(RANGES)}"}
    return chosen, {}


def _series(starts: list[datetime], counts: dict[tuple[datetime, str], int]) -> list[dict[str, Any]]:
    """One point per bucket, zeros filled in, with a total."""
    points = []
    for start in starts:
        point: dict[str, Any] = {"start": format_start(start)}
        point.update({kind: counts.get((start, kind), 0) for kind in EVENT_TYPES})
        point["total"] = sum(point[kind] for kind in EVENT_TYPES)
        points.append(point)
    return points


def database_series(
    *, session: SessionLike, user_id: str, span: Range, now: datetime
) -> list[dict[str, Any]]:
    """The series counted in audit_log."""
    starts = bucket_starts(span, now)
    counts = services.activity_counts(session=session, user_id=user_id, since=starts[0], bucket=span.bucket)
    return _series(starts, counts)


def _valid_series(body: Any, starts: list[datetime]) -> list[dict[str, Any]] | None:
    """The worker's series when it has every bucket with non-negative integer counts, else None."""
    if not isinstance(body, dict) or not isinstance(body.get("series"), list):
        return None
    counts: dict[tuple[datetime, str], int] = {}
    for point in body["series"]:
        if not isinstance(point, dict) or not isinstance(point.get("start"), str):
            return None
        try:
            start = datetime.fromisoformat(point["start"].replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return None
        for kind in EVENT_TYPES:
            value = point.get(kind, 0)
            if type(value) is not int or value < 0:
                return None
            counts[(start, kind)] = value
    return _series(starts, counts)


def stream_series(
    *, settings: Settings, user_id: str, span: Range, now: datetime
) -> list[dict[str, Any]] | None:
    """Ask the worker's windowed table; None when it is down, slow or answers nonsense."""
    try:
        status, answer = worker_client(settings).get(
            f"/activity/{quote(user_id, safe='')}/", params={"range": span.name}
        )
        body = json.loads(answer) if status == 200 else None
    except (WorkerUnavailable, ValueError):
        return None
    return _valid_series(body, bucket_starts(span, now))


def user_activity(*, session: SessionLike, settings: Settings, user_id: str, span: Range) -> dict[str, Any]:
    """The series with its source: "stream" from the worker, "database" from audit_log."""
    now = datetime.now(UTC)
    series = stream_series(settings=settings, user_id=user_id, span=span, now=now)
    source = "stream"
    if series is None:
        series, source = database_series(session=session, user_id=user_id, span=span, now=now), "database"
    return {"user_id": user_id, "range": span.name, "bucket": span.bucket, "source": source, "series": series}
