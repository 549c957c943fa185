"""The CloudEvents 1.0 structured envelope exactly as Dapr's pub/sub writes it to Kafka.

Dapr (runtime `NewCloudEvent`, components-contrib `pubsub.NewCloudEventsEnvelope`) wraps an
`application/json` payload as: `id` (a uuid), `specversion` "1.0", `datacontenttype`,
`source` (the publishing app id), `type` "com.dapr.event.sent", `topic`, `pubsubname`,
`traceid` and `traceparent` (both the W3C traceparent of the publish span), `tracestate`
("" without upstream state), `data` (the JSON object itself, not a string) and `time`
(RFC 3339, seconds, UTC). Publishing straight to Kafka writes the same fields so the stream
processor reads one format whichever path published. `id` is the event_id here (Dapr picks a
fresh uuid), which keeps redeliveries recognisable and is the same format.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"
DAPR_EVENT_TYPE = "com.dapr.event.sent"
JSON_CONTENT_TYPE = "application/json"


def new_traceparent() -> str:
    """A W3C traceparent for a new, sampled root span, the form Dapr fills `traceparent` with."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def envelope(*, event: dict[str, Any], source: str, topic: str, pubsub_name: str) -> dict[str, Any]:
    """Wrap a task event the way Dapr does before it reaches the broker."""
    traceparent = new_traceparent()
    return {
        "id": str(event["event_id"]),
        "specversion": SPEC_VERSION,
        "datacontenttype": JSON_CONTENT_TYPE,
        "source": source,
        "type": DAPR_EVENT_TYPE,
        "topic": topic,
        "pubsubname": pubsub_name,
        "traceid": traceparent,
        "traceparent": traceparent,
        "tracestate": "",
        "data": event,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def encode(envelope_: dict[str, Any]) -> bytes:
    """Compact JSON with sorted keys, as Go's encoding/json writes a map."""
    return json.dumps(envelope_, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
