"""What the relay hands a publisher, and what it expects back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

SKIPPED = "not sent: an earlier event of this user failed"


class Refused(str):
    """A failure about the event itself (too large, not allowed), not the broker's availability.

    A str, so results stay `str | None` for every caller; the relay parks an event refused like
    this once it has been attempted RELAY_MAX_ATTEMPTS times. Anything else is retried for ever.
    """


@dataclass(frozen=True)
class Outgoing:
    """One outbox row on its way out: the event and the key that keeps a user's events in order."""

    row_id: int
    user_id: str
    event: dict[str, Any]


class Publisher(Protocol):
    """Sends events to `task-events`; one result per event, None when the broker acknowledged it.

    Events arrive in outbox order. The relay marks only each user's acknowledged prefix, so a
    failed event is retried before anything after it counts as published; where it can (one
    call per event, as with Dapr) an implementation also stops sending that user's later
    events in the call and reports SKIPPED for them.
    """

    def publish(self, batch: Sequence[Outgoing]) -> list[str | None]:
        """Send the batch in order and report, per event, None (acked) or why not."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...


def failed_all(batch: Sequence[Outgoing], reason: str) -> list[str | None]:
    """The same failure for every event of a batch (the broker or sidecar is unreachable)."""
    return [reason] * len(batch)
