"""The activity series contract: its ranges, their buckets and how a bucket start is written.

The web side (web/audit/activity.py) and the worker's windowed table (streams/activity.py) both
build the series from these, so a worker answer lines up bucket for bucket with audit_log's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Range:
    """A span of activity and the width of its buckets."""

    name: str
    bucket: str
    step: timedelta
    buckets: int


RANGES = {
    "24h": Range("24h", "hour", timedelta(hours=1), 24),
    "30d": Range("30d", "day", timedelta(days=1), 30),
}


def bucket_starts(span: Range, now: datetime) -> list[datetime]:
    """The span's bucket starts, oldest first, the last one holding `now`."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if span.bucket == "day":
        current = current.replace(hour=0)
    return [current - span.step * back for back in range(span.buckets - 1, -1, -1)]


def format_start(start: datetime) -> str:
    """A bucket start as the series writes it: RFC 3339 UTC with a Z, to the second."""
    return start.astimezone(UTC).isoformat().replace("+00:00", "Z")
