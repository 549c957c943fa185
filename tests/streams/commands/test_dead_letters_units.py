"""What the dlq command makes of the records redrives leave in the DLQ, without a broker."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from shared.settings import get_settings
from streams.commands.dead_letters import DeadLetter, Letters, intent_value
from streams.commands.destination import destination
from streams.commands.redrive import beyond_retention
from streams.deadletter import TOPIC_HEADER

EVENTS = "task-events"


def letter(offset: int) -> DeadLetter:
    """A dead letter at DLQ partition 0, this offset."""
    return DeadLetter(0, offset, datetime.now(UTC), b"k", b"{}", ())


def letters(*intents: bytes | None, marked: tuple[str, ...] = ()) -> Letters:
    """Three letters, these intents read in order, and these positions marked."""
    found = Letters(letters=[letter(n) for n in range(3)], redriven=set(marked), intended={})
    for value in intents:
        found.add_intent(value, task_events=EVENTS)
    return found


def test_a_letter_is_interrupted_from_its_intent_until_its_mark():
    found = letters(intent_value(["0:0", "0:1"], {EVENTS: {0: 5, 1: 7}}), marked=("0:0",))
    assert [found.state(le) for le in found.letters] == ["redriven", "interrupted", "pending"]


def test_a_letter_named_by_two_intents_is_looked_for_from_the_earlier_offsets():
    found = letters(
        intent_value(["0:1"], {EVENTS: {0: 5, 1: 9}}),
        intent_value(["0:1", "0:2"], {EVENTS: {0: 8, 1: 3, 2: 4}, "app-completions": {0: 6}}),
    )
    # partition 2 is in only one of the intents: the first may have sent there from its beginning.
    assert found.intended == {
        "0:1": {EVENTS: {0: 5, 1: 3}, "app-completions": {0: 6}},
        "0:2": {EVENTS: {0: 8, 1: 3, 2: 4}, "app-completions": {0: 6}},
    }


def test_an_intent_from_before_several_destinations_names_task_events():
    found = letters(b'{"letters": ["0:0"], "task_events_from": {"0": 5, "1": 7}}')
    assert found.intended == {"0:0": {EVENTS: {0: 5, 1: 7}}}


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
    found = letters(
        intent_value(["0:0"], {EVENTS: {0: 10, 1: 10}}), intent_value(["0:1"], {EVENTS: {0: 50, 1: 50}})
    )
    interrupted = found.letters[:2]
    assert beyond_retention(interrupted, found, EVENTS, {0: 0, 1: 10}) == set()
    assert beyond_retention(interrupted, found, EVENTS, {0: 0, 1: 11}) == {"0:0"}
    assert beyond_retention(interrupted, found, EVENTS, {0: 0, 1: 10, 2: 1}) == {"0:0", "0:1"}
    # No intent recorded where the letters' copies would be on this topic: from its beginning.
    assert beyond_retention(interrupted, found, "app-completions", {0: 0}) == set()
    assert beyond_retention(interrupted, found, "app-completions", {0: 1}) == {"0:0", "0:1"}


def test_a_letter_goes_back_to_the_topic_it_came_from_when_the_worker_reads_it():
    settings = replace(get_settings(), task_events_topic="events", worker_app_id="app")

    def from_topic(name: bytes | None) -> str | None:
        headers = () if name is None else ((TOPIC_HEADER, name),)
        return destination(DeadLetter(0, 0, datetime.now(UTC), b"k", b"{}", headers), settings)

    assert from_topic(b"events") == "events"
    assert from_topic(b"app-completions") == "app-completions"
    assert from_topic(b"sent_notifications") == "app-completions"  # a taken-over mail: audited already
    assert [from_topic(name) for name in (b"other-completions", b"task-events", b"", None)] == [None] * 4
