"""A counts entry corrected by a replay: gaps below its marks filled, live events past the snapshot kept."""

from __future__ import annotations

from typing import Any

from shared.counts import counts_body, counts_from
from streams.count_entry import (
    RECENT_EVENT_IDS,
    CountCorrection,
    Counted,
    CountUpdate,
    apply_correction,
    apply_update,
    apply_updates,
    correction_body,
    correction_from,
)


def update(kind: str, offset: int, event_id: str | None = None, partition: int = 0) -> CountUpdate:
    """An update for user u, event e<offset> unless named."""
    return CountUpdate("u", event_id or f"e{offset}", kind, partition, offset)


def correction(events: list[tuple[str, int]], *, end: int, partition: int = 0) -> CountCorrection:
    """What a replay reading user u's (type, offset) events up to `end` sends."""
    recent = [Counted(f"e{offset}", partition, offset, kind) for kind, offset in events]
    kinds = [kind for kind, _ in events]
    return CountCorrection(
        user_id="u",
        counts=counts_from({kind: kinds.count(kind) for kind in kinds}),
        offsets={partition: max(offset for _, offset in events)},
        snapshot={partition: end},
        recent=recent[-RECENT_EVENT_IDS:],
    )


def body(entry: dict[str, Any] | None) -> dict[str, int]:
    """The entry's counts without user_id."""
    served = counts_body("u", entry)
    del served["user_id"]
    return served


def test_a_correction_fills_a_gap_below_the_marks_and_redeliveries_stay_skipped() -> None:
    entry = apply_updates(None, [update("created", 0), update("updated", 1), update("deleted", 3)])
    assert apply_update(entry, update("updated", 2)) is None  # the gap a replayed update cannot fill

    history = [("created", 0), ("updated", 1), ("updated", 2), ("deleted", 3)]
    fixed = apply_correction(entry, correction(history, end=4))
    assert body(fixed) == counts_from({"created": 1, "updated": 2, "deleted": 1})
    assert apply_update(fixed, update("updated", 2)) is None
    assert body(apply_update(fixed, update("completed", 4))) == counts_from(
        {"created": 1, "updated": 2, "deleted": 1, "completed": 1}
    )


def test_a_correction_keeps_what_the_tally_counted_past_its_snapshot() -> None:
    # Offset 1 was lost; 5 and 6 arrived live after the replay read up to 5 but before its correction.
    entry = apply_updates(None, [update("created", 0), update("updated", 2), update("updated", 5)])
    entry = apply_update(entry, update("completed", 6))
    history = [("created", 0), ("updated", 1), ("updated", 2)]
    fixed = apply_correction(entry, correction(history, end=5))
    assert body(fixed) == counts_from({"created": 1, "updated": 3, "completed": 1})
    assert apply_updates(fixed, [update("updated", 1), update("updated", 5), update("completed", 6)]) is None


def test_an_event_republished_past_the_snapshot_is_counted_once() -> None:
    # e1 was lost, then published again at offset 7 and counted there.
    entry = apply_updates(None, [update("created", 0), update("updated", 7, event_id="e1")])
    fixed = apply_correction(entry, correction([("created", 0), ("updated", 1)], end=5))
    assert body(fixed) == counts_from({"created": 1, "updated": 1})


def test_a_correction_is_refused_when_the_entry_cannot_tell_what_it_counted_past_the_snapshot() -> None:
    live = [update("updated", offset) for offset in range(10, 11 + RECENT_EVENT_IDS)]
    entry = apply_updates(None, [update("created", 0), *live])
    assert apply_correction(entry, correction([("created", 0)], end=10)) is None
    # The same entry with fewer live events past the snapshot is corrected.
    entry = apply_updates(None, [update("created", 0), *live[:-2]])
    assert body(apply_correction(entry, correction([("created", 0)], end=10)))["total"] == RECENT_EVENT_IDS


def test_an_entry_from_before_positions_were_kept_is_corrected_unless_it_counted_past() -> None:
    legacy = {**counts_from({"created": 1}), "recent": ["e3"], "offsets": {"0": 3}}
    assert apply_update(legacy, update("created", 9, event_id="e3")) is None
    fixed = apply_correction(legacy, correction([("created", 1), ("created", 3)], end=4))
    assert body(fixed) == counts_from({"created": 2})
    assert apply_correction(legacy, correction([("created", 1)], end=2)) is None


def test_a_correction_crosses_the_wire_and_anything_else_is_not_one() -> None:
    sent = correction([("created", 0), ("deleted", 4)], end=9, partition=3)
    assert correction_from(correction_body(sent)) == sent
    for bad in [
        None,
        [],
        {},
        {**correction_body(sent), "counts": {"total": -1}},
        {**correction_body(sent), "recent": [[1]]},
    ]:
        assert correction_from(bad) is None
