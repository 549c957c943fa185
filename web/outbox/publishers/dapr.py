"""Publishing through the Dapr sidecar's pub/sub API with one long-lived gRPC client."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from dapr.clients import DaprClient
from dapr.conf import settings as dapr_settings

from shared.settings import Settings
from web.outbox.publishers.base import SKIPPED, Outgoing, Refused, failed_all

log = logging.getLogger(__name__)

# The sidecar itself is gone or hung: every later call would fail the same way.
_SIDECAR_DOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# The sidecar refuses this event itself. INTERNAL and UNKNOWN are what Dapr answers while Kafka is
# down behind it, so they stay transient: parking on them would park every event of an outage.
_REFUSED = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNIMPLEMENTED,
)


class _Deadline(grpc.UnaryUnaryClientInterceptor):
    """Give every unary call a deadline, so a hung sidecar cannot stall the relay."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        """Call on with the deadline set when the caller gave none."""
        if details.timeout is None:
            details = details._replace(timeout=self._seconds)
        return continuation(details, request)


class DaprPublisher:
    """`DaprClient.publish_event` per event, keyed by user_id via the `partitionKey` metadata."""

    def __init__(self, *, settings: Settings, topic: str | None = None) -> None:
        self._settings = settings
        self._topic = topic or settings.task_events_topic
        self._client: DaprClient | None = None

    @property
    def health_url(self) -> str:
        """The sidecar's readiness endpoint (components loaded, outbound calls possible)."""
        return f"http://{self._settings.dapr_host}:{self._settings.dapr_http_port or '3500'}"

    def publish(self, batch: Sequence[Outgoing]) -> list[str | None]:
        """Publish in order; a user's failure skips their later events, a dead sidecar ends the call."""
        client = self._connect()
        if client is None:
            return failed_all(batch, "dapr sidecar not ready")
        results: list[str | None] = []
        failed_users: set[str] = set()
        down: str | None = None
        for item in batch:
            if down or item.user_id in failed_users:
                results.append(down or SKIPPED)
                continue
            error = self._publish_one(client, item)
            results.append(error)
            if error is not None:
                failed_users.add(item.user_id)
                if self._client is None:
                    down = error
        return results

    def close(self) -> None:
        """Close the gRPC channel."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _publish_one(self, client: DaprClient, item: Outgoing) -> str | None:
        """One PublishEvent call: None, or why not (dropping the client when the sidecar is gone)."""
        try:
            client.publish_event(
                pubsub_name=self._settings.pubsub_name,
                topic_name=self._topic,
                data=json.dumps(item.event, separators=(",", ":"), ensure_ascii=False),
                data_content_type="application/json",
                publish_metadata={"partitionKey": item.user_id},
            )
        except grpc.RpcError as exc:
            if exc.code() in _SIDECAR_DOWN:
                # A fresh channel next time: gRPC's own reconnect backoff can grow to minutes.
                self.close()
            reason = f"dapr {exc.code().name}: {exc.details()}"
            return Refused(reason) if exc.code() in _REFUSED else reason
        return None

    def _connect(self) -> DaprClient | None:
        """The client, created once the sidecar answers its health check (never blocks for long)."""
        if self._client is None and self._sidecar_ready():
            # The SDK re-checks health in its constructor from its own settings: point them at ours.
            setattr(dapr_settings, "DAPR_HTTP_ENDPOINT", self.health_url)  # noqa: B010  (dynamic settings object)
            setattr(dapr_settings, "DAPR_HEALTH_TIMEOUT", self._settings.dapr_timeout_seconds)  # noqa: B010
            address = f"{self._settings.dapr_host}:{self._settings.dapr_grpc_port or '50001'}"
            self._client = DaprClient(
                address=address, interceptors=[_Deadline(self._settings.dapr_timeout_seconds)]
            )
        return self._client

    def _sidecar_ready(self) -> bool:
        """Whether the sidecar's /v1.0/healthz/outbound answers 2xx right now."""
        url = f"{self.health_url}/v1.0/healthz/outbound"
        try:
            with urllib.request.urlopen(url, timeout=self._settings.dapr_timeout_seconds) as response:  # noqa: S310
                return 200 <= response.status < 300
        except (OSError, urllib.error.URLError) as exc:
            log.info("dapr sidecar not ready at %s: %s", url, exc)
            return False
