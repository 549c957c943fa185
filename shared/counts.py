"""Per-user event counts, defined once: the worker's table serves them, web shows them, replay checks them.

`{"user_id": str, "created": int, "updated": int, "completed": int, "deleted": int, "total": int}`,
every count a non-negative integer and `total` their sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.events import EVENT_TYPES

COUNT_FIELDS = (*EVENT_TYPES, "total")


def counts_from(per_type: Mapping[str, int]) -> dict[str, int]:
    """The counts for events tallied by type (unknown types ignored), with their total."""
    counts = {kind: int(per_type.get(kind, 0)) for kind in EVENT_TYPES}
    return {**counts, "total": sum(counts.values())}


def counts_body(user_id: str, counts: Mapping[str, Any] | None) -> dict[str, Any]:
    """The public JSON for a user's counts: zeros for a user never seen."""
    counts = counts or {}
    return {"user_id": user_id, **{name: int(counts.get(name, 0)) for name in COUNT_FIELDS}}


def parse_counts(body: Any, user_id: str) -> dict[str, int] | None:
    """The counts in a body that keeps the contract for this user, else None."""
    if not isinstance(body, dict) or body.get("user_id", user_id) != user_id:
        return None
    counts: dict[str, int] = {}
    for name in COUNT_FIELDS:
        value = body.get(name)
        if type(value) is not int or value < 0:
            return None
        counts[name] = value
    return counts
