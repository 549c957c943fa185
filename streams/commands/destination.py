"""Where `dlq redrive` sends a letter: back to the topic it was read from, when the worker reads that.

A letter from the worker's completions topic (`mail-rejected`) was audited and counted before it
reached the mail path. Sent to task-events it would go through the whole pipeline again: the audit
row and the mail are idempotent per event_id, but the tally recognises a repeat only among a user's
last RECENT_EVENT_IDS events, so the user's counts could double. Sent to the completions topic, only
the mail is retried. A mail the sweeper took over from a stale claim was dead-lettered with the
source `sent_notifications` (no topic): it too is a completion already audited, so it goes to the
completions topic. Any other source (another app's topics, a letter written by hand without
`x-dlq-source-topic`) has no destination: the redrive leaves it in the DLQ and says so.
"""

from __future__ import annotations

from shared.settings import Settings
from streams.commands.dead_letters import DeadLetter
from streams.deadletter import TOPIC_HEADER
from streams.notifications.service import CLAIM_SOURCE
from streams.topics import completions_topic_name


def source_topic(letter: DeadLetter) -> str:
    """The topic the worker read the letter from (x-dlq-source-topic), or "" when it names none."""
    return (letter.header(TOPIC_HEADER) or b"").decode("utf-8", "backslashreplace")


def destination(letter: DeadLetter, settings: Settings) -> str | None:
    """The topic this letter goes back to, or None when its source is not one this worker reads."""
    completions = completions_topic_name(settings)
    destinations = {
        settings.task_events_topic: settings.task_events_topic,
        completions: completions,
        CLAIM_SOURCE: completions,
    }
    return destinations.get(source_topic(letter))
