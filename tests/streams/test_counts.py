"""The counts table's pure functions, and the tally agent run with test_context()."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.counts import counts_body, counts_from
from streams.count_entry import (
    CountCorrection,
    Counted,
    CountUpdate,
    apply_update,
    apply_updates,
    correction_body,
)
from streams.counts import (
    CountBatch,
    by_partition,
    by_user,
    counts_partition,
    tally,
    tally_take,
    updates_in,
    user_to_counts,
)
from tests.streams.helpers import counts_message, queued_table_records


def update(
    event_type: str, offset: int, event_id: str | None = None, partition: int = 0, user_id: str = "u"
) -> CountUpdate:
    """An update for user u (or user_id)."""
    return CountUpdate(
        user_id=user_id,
        event_id=event_id or f"e{offset}",
        event_type=event_type,
        source_partition=partition,
        source_offset=offset,
    )


def batch(*updates: CountUpdate) -> CountBatch:
    """The message the audit agent forwards for these updates."""
    return CountBatch(updates=[list(u) for u in updates])


def test_apply_update_counts_types_and_total() -> None:
    counts = apply_update(None, update("created", 0))
    counts = apply_update(counts, update("completed", 1))
    assert counts is not None
    assert counts_body("u", counts) == {
        "user_id": "u", "created": 1, "updated": 0, "completed": 1, "deleted": 0, "total": 2,
    }  # fmt: skip


def test_apply_update_skips_redelivered_offsets_and_repeated_event_ids() -> None:
    counts = apply_update(None, update("created", 5))
    assert apply_update(counts, update("created", 5)) is None
    assert apply_update(counts, update("created", 4, event_id="other")) is None
    assert apply_update(counts, update("created", 9, event_id="e5")) is None
    assert apply_update(counts, update("created", 0, partition=1)) is not None


def test_apply_updates_counts_only_what_a_redelivered_batch_adds() -> None:
    counts = apply_updates(None, [update("created", 1), update("updated", 2)])
    # Redelivered with a different batch boundary: offsets 1-2 again, then 3 new.
    again = apply_updates(counts, [update("created", 1), update("updated", 2), update("deleted", 3)])
    assert counts_body("u", again) == {
        "user_id": "u", "created": 1, "updated": 1, "completed": 0, "deleted": 1, "total": 3,
    }  # fmt: skip
    assert apply_updates(again, [update("created", 1), update("deleted", 3)]) is None


def test_by_user_keeps_each_users_updates_in_order() -> None:
    grouped = by_user([update("created", 1), update("created", 7, user_id="v"), update("deleted", 2)])
    assert [u.source_offset for u in grouped["u"]] == [1, 2]
    assert [u.source_offset for u in grouped["v"]] == [7]


def test_counts_body_is_zero_for_unknown_user() -> None:
    assert counts_body("x", None)["total"] == 0


def test_tally_agent_updates_the_table_once_per_event() -> None:
    async def run() -> None:
        async with tally.test_context() as agent:
            await agent.put(batch(update("created", 0), update("created", 0), update("deleted", 1)))
            await agent.put(batch(update("deleted", 1), update("updated", 2)))
        assert counts_body("u", user_to_counts.get("u")) == {
            "user_id": "u", "created": 1, "updated": 1, "completed": 0, "deleted": 1, "total": 3,
        }  # fmt: skip

    asyncio.run(run())


def replayed_with_correction(user_id: str) -> tuple[list[CountUpdate], CountCorrection]:
    """The user's first three events (offsets 0-2), and a replay's correction counting all of them."""
    replayed = [
        update("created", 0, user_id=user_id),
        update("updated", 1, user_id=user_id),
        update("updated", 2, user_id=user_id),
    ]
    correction = CountCorrection(
        user_id=user_id,
        counts=counts_from({"created": 1, "updated": 2}),
        offsets={0: 2},
        snapshot={0: 3},
        recent=[Counted(u.event_id, 0, u.source_offset, u.event_type) for u in replayed],
    )
    return replayed, correction


def test_tally_agent_applies_a_correction_after_live_updates_and_ignores_a_malformed_one() -> None:
    # The tally missed offset 1 ("w"'s), then counted 3 live, past the snapshot (end 3) of the replay.
    replayed, correction = replayed_with_correction("w")

    async def run() -> None:
        async with tally.test_context() as agent:
            await agent.put(batch(replayed[0], replayed[2], update("deleted", 3, user_id="w")))
            await agent.put(
                CountBatch(updates=[], corrections=[{"user_id": "w"}, correction_body(correction)])
            )
            await agent.put(batch(*replayed, update("deleted", 3, user_id="w")))
        assert counts_body("w", user_to_counts.get("w")) == {
            "user_id": "w", "created": 1, "updated": 2, "completed": 0, "deleted": 1, "total": 4,
        }  # fmt: skip

    asyncio.run(run())


def as_forwarded(take: list[CountBatch]) -> list[Any]:
    """The messages the audit agent would send for these batches: one per counts partition, in order."""
    messages = []
    for each in take:
        for partition, group in by_partition(updates_in(each)).items():
            messages.append(counts_message(CountBatch(updates=[list(u) for u in group]), partition=partition))
        for body in each.corrections or []:
            alone = CountBatch(updates=[], corrections=[body])
            messages.append(counts_message(alone, partition=counts_partition(body["user_id"])))
    return messages


def tally_take_of(take: list[CountBatch]) -> list[tuple[bytes, int]]:
    """Count the forwarded batches as one take, as the agent does; the table records it wrote."""

    async def run() -> list[tuple[bytes, int]]:
        queued_table_records(user_to_counts)
        tally_take(as_forwarded(take))
        return queued_table_records(user_to_counts)

    return asyncio.run(run())


def test_a_take_of_batches_writes_each_user_once_on_the_partition_table_route_asks() -> None:
    take = [
        batch(update("created", 3 * i, user_id="t1"), update("created", i, user_id=f"t{2 + i % 2}"))
        for i in range(6)
    ] + [batch(update("updated", 18, user_id="t1"))]
    written = tally_take_of(take)
    assert sorted(written) == sorted(
        (f'"{user}"'.encode(), counts_partition(user)) for user in ("t1", "t2", "t3")
    )
    totals = {user: counts_body(user, user_to_counts.get(user))["total"] for user in ("t1", "t2", "t3")}
    assert totals == {"t1": 7, "t2": 3, "t3": 3}


def test_a_correction_inside_a_take_applies_to_what_was_counted_before_it_only() -> None:
    # As the agent test above, but all three messages in one take: the result must be the same.
    replayed, correction = replayed_with_correction("x")
    written = tally_take_of([
        batch(replayed[0], replayed[2], update("deleted", 3, user_id="x")),
        CountBatch(updates=[], corrections=[correction_body(correction)]),
        batch(*replayed, update("deleted", 3, user_id="x"), update("completed", 4, user_id="x")),
    ])  # fmt: skip
    assert counts_body("x", user_to_counts.get("x")) == {
        "user_id": "x", "created": 1, "updated": 2, "completed": 1, "deleted": 1, "total": 5,
    }  # fmt: skip
    assert [key for key, _ in written] == [b'"x"', b'"x"', b'"x"'], "before, at and after the correction"
