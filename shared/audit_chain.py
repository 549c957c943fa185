"""The audit hash chain, defined once: the canonical JSON of a row and how each row's hash links.

The worker that writes audit_log and the verifier that reads it both import this module, so they
agree byte for byte. Each row stores `prev_hash` (the hash of the same user's row before it, or
GENESIS for the user's first row) and `hash = SHA-256(prev_hash || canonical JSON of the row)`.
Changing anything here breaks every stored chain: it needs a migration that rewrites the hashes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.events import TaskEvent, format_timestamp

GENESIS = bytes(32)
HASH_BYTES = 32


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, ASCII only (non-ASCII as \\u escapes), so every reader gets the same bytes."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.encode("ascii")


def row_document(
    *,
    event_id: uuid.UUID | str,
    event_type: str,
    user_id: str,
    task_id: int,
    timestamp: datetime,
    event_data: Mapping[str, Any],
) -> bytes:
    """The canonical bytes of one audit row's content (every column but id and the hashes)."""
    return _around_event_data(
        canonical_json(event_data),
        event_id=str(event_id),
        event_type=event_type,
        user_id=user_id,
        task_id=task_id,
        timestamp=format_timestamp(timestamp),
    )


def _around_event_data(event_data_json: bytes, **columns: Any) -> bytes:
    """canonical_json of the row, given event_data's canonical bytes (so the writer serialises it once).

    "event_data" sorts before every other column name, so the row's canonical JSON is exactly
    `{"event_data":<its bytes>,` followed by the other columns' canonical JSON without its `{`.
    """
    return b'{"event_data":' + event_data_json + b"," + canonical_json(columns)[1:]


def event_row(event: TaskEvent) -> tuple[bytes, bytes]:
    """(event_data as canonical JSON, the row's canonical bytes) for the row the worker stores."""
    data = event.to_dict()
    event_data_json = canonical_json(data)
    columns = {key: data[key] for key in ("event_id", "event_type", "user_id", "task_id", "timestamp")}
    return event_data_json, _around_event_data(event_data_json, **columns)


def event_document(event: TaskEvent) -> bytes:
    """The canonical bytes of the row the worker stores for this event."""
    return event_row(event)[1]


def link_hash(prev_hash: bytes, document: bytes) -> bytes:
    """The hash of a row whose predecessor's hash is prev_hash."""
    return hashlib.sha256(prev_hash + document).digest()
