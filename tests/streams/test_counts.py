"""The counts table's pure functions, and the tally agent run with test_context()."""

from __future__ import annotations

import asyncio

from streams.counts import CountUpdate, apply_update, counts_body, tally, user_to_counts


def update(event_type: str, offset: int, event_id: str | None = None, partition: int = 0) -> CountUpdate:
    """An update for user u."""
    return CountUpdate(
        user_id="u",
        event_id=event_id or f"e{offset}",
        event_type=event_type,
        source_partition=partition,
        source_offset=offset,
    )


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


def test_counts_body_is_zero_for_unknown_user() -> None:
    assert counts_body("x", None)["total"] == 0


def test_tally_agent_updates_the_table() -> None:
    async def run() -> None:
        async with tally.test_context() as agent:
            await agent.put(update("created", 0), key="u")
            await agent.put(update("created", 0), key="u")
            await agent.put(update("deleted", 1), key="u")
        assert counts_body("u", user_to_counts.get("u"))["total"] == 2

    asyncio.run(run())
