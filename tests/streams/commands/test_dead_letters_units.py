"""What the dlq command makes of the records redrives leave in the DLQ, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.commands.dead_letters import DeadLetter, Letters, intent_value
from streams.commands.redrive import beyond_retention


def letter(offset: int) -> DeadLetter:
    """A dead letter at DLQ partition 0, this offset."""
    return DeadLetter(0, offset, datetime.now(UTC), b"k", b"{}", ())


def letters(*intents: bytes | None, marked: tuple[str, ...] = ()) -> Letters:
    """Three letters, these intents read in order, and these positions marked."""
    found = Letters(letters=[letter(n) for n in range(3)], redriven=set(marked), intended={})
    for value in intents:
        found.add_intent(value)
    return found


def test_a_letter_is_interrupted_from_its_intent_until_its_mark():
    found = letters(intent_value(["0:0", "0:1"], {0: 5, 1: 7}), marked=("0:0",))
    assert [found.state(le) for le in found.letters] == ["redriven", "interrupted", "pending"]


def test_a_letter_named_by_two_intents_is_looked_for_from_the_earlier_offsets():
    found = letters(intent_value(["0:1"], {0: 5, 1: 9}), intent_value(["0:1", "0:2"], {0: 8, 1: 3, 2: 4}))
    # partition 2 is in only one of the intents: the first may have sent there from its beginning.
    assert found.intended == {"0:1": {0: 5, 1: 3}, "0:2": {0: 8, 1: 3, 2: 4}}


def test_an_intent_that_is_not_ours_puts_no_letter_in_doubt():
    for junk in (
        None,
        b"",
        b"not json",
        b"[]",
        b'{"letters": ["0:0"]}',
        b'{"letters": 1, "task_events_from": {}}',
    ):
        assert letters(junk).intended == {}, junk


def test_a_letter_whose_copy_retention_may_have_removed_cannot_be_told():
    found = letters(intent_value(["0:0"], {0: 10, 1: 10}), intent_value(["0:1"], {0: 50, 1: 50}))
    interrupted = found.letters[:2]
    assert beyond_retention(interrupted, found, {0: 0, 1: 10}) == set()
    assert beyond_retention(interrupted, found, {0: 0, 1: 11}) == {"0:0"}
    assert beyond_retention(interrupted, found, {0: 0, 1: 10, 2: 1}) == {"0:0", "0:1"}
