"""Event publishers: Dapr's pub/sub API or Kafka directly, chosen by EVENT_PUBLISHER."""

from __future__ import annotations

from shared.settings import Settings
from web.outbox.publishers.base import Outgoing, Publisher

__all__ = ["Outgoing", "Publisher", "make_publisher"]


def make_publisher(settings: Settings, *, topic: str | None = None) -> Publisher:
    """The configured publisher (`dapr` when a sidecar announced itself, else `kafka`)."""
    if settings.publisher == "dapr":
        from web.outbox.publishers.dapr import DaprPublisher

        return DaprPublisher(settings=settings, topic=topic)
    from web.outbox.publishers.kafka import KafkaPublisher

    return KafkaPublisher(settings=settings, topic=topic)
