"""The one retry policy of the relay and the worker: capped exponential backoff from a short first wait.

Defined once so both sides back off the same way from an unreachable database, broker or mail
server: the first retry after RETRY_INITIAL_SECONDS, doubling each time, never more than
RETRY_MAX_BACKOFF_SECONDS apart. Transient failures are retried for as long as they last; what is
transient is each side's classification (streams.retry, web.outbox.relay), never a count of attempts.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import errors as kafka_errors

from shared.settings import Settings

RETRY_INITIAL_SECONDS = 0.1

# Broker errors that mean "not reachable or not ready now", whatever aiokafka's `retriable` says
# (a timeout waiting for metadata is not marked retriable, yet it is what a stopped broker gives).
BROKER_UNREACHABLE = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.NotLeaderForPartitionError,
    kafka_errors.LeaderNotAvailableError,
    kafka_errors.NotEnoughReplicasError,
    kafka_errors.NotEnoughReplicasAfterAppendError,
    kafka_errors.CoordinatorNotAvailableError,
    kafka_errors.NotCoordinatorError,
)


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: initial * 2**attempt seconds, capped at the ceiling."""

    ceiling: float
    initial: float = RETRY_INITIAL_SECONDS

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the attempt-th consecutive failure (0-based)."""
        return float(min(self.ceiling, self.initial * 2 ** min(max(attempt, 0), 30)))


def is_broker_unreachable(exc: BaseException) -> bool:
    """Whether a Kafka client error means the broker is away (retry) rather than refusing the record.

    aiokafka's own `retriable` errors count as away too: a topic missing from the metadata
    (UnknownTopicOrPartitionError) is also what a send gets while the broker is unreachable.
    """
    retriable = isinstance(exc, kafka_errors.KafkaError) and bool(getattr(exc, "retriable", False))
    return retriable or isinstance(exc, (*BROKER_UNREACHABLE, OSError))


def backoff(settings: Settings) -> Backoff:
    """The policy with the configured ceiling (RETRY_MAX_BACKOFF_SECONDS)."""
    return Backoff(ceiling=settings.retry_max_backoff_seconds)
