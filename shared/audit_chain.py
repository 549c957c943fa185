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
    return canonical_json(
        {
            "event_id": str(event_id),
            "event_type": event_type,
            "user_id": user_id,
            "task_id": task_id,
            "timestamp": format_timestamp(timestamp),
            "event_data": event_data,
        }
    )


def event_document(event: TaskEvent) -> bytes:
    """The canonical bytes of the row the worker stores for this event."""
    return row_document(
        event_id=event.event_id,
        event_type=event.event_type,
        user_id=event.user_id,
        task_id=event.task_id,
        timestamp=event.timestamp,
        event_data=event.to_dict(),
    )


def link_hash(prev_hash: bytes, document: bytes) -> bytes:
    """The hash of a row whose predecessor's hash is prev_hash."""
    return hashlib.sha256(prev_hash + document).digest()
