"""The worker's fetch loop decisions: each record handed on once, in order, and commits never jump.

The loop itself runs in every worker test; the kill test (tests/faults/test_worker_killed.py) and the
cluster tests (test_cluster.py) are what found Faust's loop skipping records after rebalances. These
pin down the two decisions it is built on.
"""

from __future__ import annotations

from streams.transport import (
    TABLE_WRITE_BUFFER,
    PartitionCursor,
    Place,
    Producer,
    broker_urls,
    committable_offset,
    take_holes_before,
)


def test_a_record_at_the_cursor_is_handed_on_and_moves_it() -> None:
    cursor = PartitionCursor(next_offset=10)
    assert cursor.place(10) is Place.NEXT
    cursor.handed_on(10)
    assert cursor.next_offset == 11


def test_a_record_behind_the_cursor_is_a_duplicate() -> None:
    assert PartitionCursor(next_offset=10).place(9) is Place.BEHIND


def test_a_record_ahead_of_the_cursor_means_records_were_skipped() -> None:
    assert PartitionCursor(next_offset=10).place(12) is Place.AHEAD


def test_an_unknown_cursor_takes_whatever_comes_first() -> None:
    cursor = PartitionCursor()
    assert cursor.place(57) is Place.NEXT
    cursor.handed_on(57)
    assert cursor.place(59) is Place.AHEAD


def test_a_hole_is_confirmed_only_when_seeking_back_finds_it_again() -> None:
    cursor = PartitionCursor(next_offset=10)
    assert not cursor.hole_confirmed()
    cursor.sought_back()
    assert cursor.hole_confirmed()


def test_handing_on_a_record_forgets_the_seek_back() -> None:
    cursor = PartitionCursor(next_offset=10)
    cursor.sought_back()
    cursor.handed_on(10)
    assert not cursor.hole_confirmed()
    assert cursor.place(12) is Place.AHEAD


def test_the_commit_covers_the_run_of_acknowledged_records_from_the_head() -> None:
    assert committable_offset([5, 6, 7, 9, 10], head=5) == (8, 3)


def test_nothing_is_committed_while_the_record_at_the_head_is_unacknowledged() -> None:
    """Faust allowed one offset of slack here, and none at all while nothing was committed."""
    assert committable_offset([6, 7, 8], head=5) == (None, 0)
    assert committable_offset([1, 2], head=0) == (None, 0)


def test_a_partition_with_an_unknown_head_commits_its_first_run() -> None:
    assert committable_offset([3, 4], head=None) == (5, 2)


def test_nothing_acknowledged_commits_nothing() -> None:
    assert committable_offset([], head=0) == (None, 0)


def test_broker_urls_use_our_transport() -> None:
    assert broker_urls("a:9092, b:9093") == ["todo-kafka://a:9092", "todo-kafka://b:9093"]


def test_confirmed_holes_below_the_last_acknowledged_record_count_as_done() -> None:
    holes = [(20, 22), (10, 13)]  # offsets 10, 11, 12, 20 and 21 no longer on the broker
    assert take_holes_before(holes, 21) == [10, 11, 12, 20]
    assert holes == [(21, 22)]


def test_a_commit_passes_a_confirmed_hole_at_the_head() -> None:
    holes = [(100, 150)]
    acked = sorted([150, 151, *take_holes_before(holes, 151)])
    assert committable_offset(acked, head=100) == (152, 52)


def test_the_workers_producer_buffers_a_takes_table_writes_without_stopping_intake() -> None:
    from streams.app import app  # the app is built from the environment: only this test needs it

    assert isinstance(app.producer, Producer)
    # A take writes at most one counts and one activity entry per user of its messages: with the
    # bench's 1,000 users that is 2,000 records, which Faust's default (100) turned into 20 stalls.
    assert app.producer.buffer.max_messages == TABLE_WRITE_BUFFER > 2 * 1000
