"""A user's entry in the counts table: what counting one event, or correcting the counts, does to it.

Pure functions on plain JSON values (no app, no topic), shared by the tally (streams/counts.py), the
hourly activity (streams/activity.py) and `replay`. An entry is the counts shape (shared/counts.py)
plus two marks of what it counted:
- "offsets": per task-events partition, the highest offset counted for the user;
- "recent": the last RECENT_EVENT_IDS events counted, oldest first, each [event_id, partition,
  offset, event_type] (entries written before positions were kept hold the event_id alone).

An update (one event) is counted unless its offset is at or below the partition's mark (a
redelivery) or its event_id is recent (a second publication). That makes redelivery harmless, and
makes a replayed update a no-op too: an event the table missed below its mark can never be added.

A correction, sent by `replay --only counts`, repairs that: absolute counts of all the user's
events below a snapshot of task-events' end offsets, counted by the replay from the topic. The
tally may already have counted live events at or past the snapshot (the worker keeps running);
those are the newest it counted on their partition, so they are the tail of "recent", which says
where each came from. The new counts are the replay's plus those, so no live event is lost or
counted twice. If the recent list is too short to hold every event counted past the snapshot
(more than RECENT_EVENT_IDS live events of one user in the replay's window), the correction is
refused and the entry left as it was: the replay's last reading rounds keep that window short,
and running the replay again then succeeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from shared.counts import COUNT_FIELDS, counts_from, parse_counts
from shared.events import EVENT_TYPES

RECENT_EVENT_IDS = 50


class CountUpdate(NamedTuple):
    """One event to count, with where it came from (for spotting redeliveries)."""

    user_id: str
    event_id: str
    event_type: str
    source_partition: int
    source_offset: int
    # When the event happened (seconds since the epoch), for the hourly activity (streams/activity.py);
    # None only in an update forwarded by a worker from before that table.
    timestamp: float | None = None


class Counted(NamedTuple):
    """One event an entry counted, and where it was read: an element of "recent"."""

    event_id: str
    partition: int
    offset: int
    event_type: str


class CountCorrection(NamedTuple):
    """A user's counts from every one of their events below `snapshot`, as the replay read them."""

    user_id: str
    counts: dict[str, int]  # the counts shape
    offsets: dict[int, int]  # per partition, the user's last offset below the snapshot
    snapshot: dict[int, int]  # per partition, the end offset the replay read up to
    recent: list[Counted]  # the user's last RECENT_EVENT_IDS events below the snapshot, oldest first


def recent_ids(entry: Mapping[str, Any]) -> set[str]:
    """The event ids of an entry's recent list, whether stored with positions or alone."""
    return {item if isinstance(item, str) else str(item[0]) for item in entry.get("recent", [])}


def positioned(entry: Mapping[str, Any]) -> list[Counted]:
    """The recent events whose position the entry knows, oldest first."""
    return [Counted(*item) for item in entry.get("recent", []) if not isinstance(item, str)]


def marks(entry: Mapping[str, Any]) -> dict[int, int]:
    """The entry's highest counted offset per partition."""
    return {int(partition): int(offset) for partition, offset in entry.get("offsets", {}).items()}


def apply_update(current: dict[str, Any] | None, update: CountUpdate) -> dict[str, Any] | None:
    """The user's counts after this update, or None when it was already counted (a redelivery)."""
    counts = dict(current or dict.fromkeys(COUNT_FIELDS, 0))
    seen = marks(counts).get(update.source_partition, -1)
    if update.source_offset <= seen or update.event_id in recent_ids(counts):
        return None
    position = [update.event_id, update.source_partition, update.source_offset, update.event_type]
    counts[update.event_type] = counts.get(update.event_type, 0) + 1
    counts["total"] = counts.get("total", 0) + 1
    counts["recent"] = [*counts.get("recent", []), position][-RECENT_EVENT_IDS:]
    counts["offsets"] = {**counts.get("offsets", {}), str(update.source_partition): update.source_offset}
    return counts


def count_run(
    current: dict[str, Any] | None, updates: Iterable[CountUpdate]
) -> tuple[dict[str, Any] | None, list[bool]]:
    """One user's counts after a run of updates in order (None if nothing counted), and which counted."""
    changed, counted = None, []
    for update in updates:
        after = apply_update(changed or current, update)
        counted.append(after is not None)
        changed = after or changed
    return changed, counted


def apply_updates(current: dict[str, Any] | None, updates: Iterable[CountUpdate]) -> dict[str, Any] | None:
    """One user's counts after a run of updates in order, or None when every one was a redelivery."""
    return count_run(current, updates)[0]


def counted_past(entry: Mapping[str, Any], snapshot: Mapping[int, int]) -> list[Counted] | None:
    """The events the entry counted at or past the snapshot, or None when it cannot tell them all.

    Per partition an entry counts offsets in increasing order, and "recent" is the tail of what it
    counted, so a recent event below the snapshot on a partition means every later one there is
    recent too. A recent list never cut short (all positioned, fewer than the limit) is everything.
    """
    recent = positioned(entry)
    whole = len(recent) == len(entry.get("recent", [])) and len(recent) < RECENT_EVENT_IDS
    for partition, mark in marks(entry).items():
        end = snapshot.get(partition, 0)
        below = any(item.partition == partition and item.offset < end for item in recent)
        if mark >= end and not (whole or below):
            return None
    return [item for item in recent if item.offset >= snapshot.get(item.partition, 0)]


def apply_correction(current: dict[str, Any] | None, correction: CountCorrection) -> dict[str, Any] | None:
    """The user's entry set to the replay's counts plus what it counted past the snapshot; None: refused."""
    entry = current or {}
    past = counted_past(entry, correction.snapshot)
    if past is None:
        return None
    replayed = {item.event_id for item in correction.recent}
    extra = [item for item in past if item.event_id not in replayed]  # a republished event counts once
    per_type = Counter({kind: correction.counts.get(kind, 0) for kind in EVENT_TYPES})
    per_type.update(item.event_type for item in extra)
    offsets = marks(entry)
    for partition, offset in correction.offsets.items():
        offsets[partition] = max(offsets.get(partition, -1), offset)
    recent = [list(item) for item in [*correction.recent, *extra]][-RECENT_EVENT_IDS:]
    return {
        **counts_from(per_type),
        "recent": recent,
        "offsets": {str(partition): offset for partition, offset in sorted(offsets.items())},
    }


def correction_body(correction: CountCorrection) -> dict[str, Any]:
    """A correction as JSON (partition numbers as keys become strings)."""
    return {
        "user_id": correction.user_id,
        "counts": correction.counts,
        "offsets": {str(p): offset for p, offset in correction.offsets.items()},
        "snapshot": {str(p): end for p, end in correction.snapshot.items()},
        "recent": [list(item) for item in correction.recent],
    }


def correction_from(body: Any) -> CountCorrection | None:
    """The correction a JSON body holds, or None when it is not one (a message never crashes the tally)."""
    try:
        counts = parse_counts(body["counts"], body["user_id"])
        recent = [Counted(str(i), int(p), int(o), str(t)) for i, p, o, t in body["recent"]]
        correction = CountCorrection(
            user_id=str(body["user_id"]),
            counts=counts or {},
            offsets={int(p): int(offset) for p, offset in body["offsets"].items()},
            snapshot={int(p): int(end) for p, end in body["snapshot"].items()},
            recent=recent[-RECENT_EVENT_IDS:],
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return correction if counts is not None else None
