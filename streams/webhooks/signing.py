"""Standard Webhooks signatures: v1 HMAC-SHA256 over "<id>.<timestamp>.<body>" with the whsec_ key."""

from __future__ import annotations

import base64
import hashlib
import hmac

from shared.webhooks import SECRET_PREFIX


def secret_key(secret: str) -> bytes:
    """The raw key behind a `whsec_...` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for this message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, plus the content type."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret=secret, message_id=message_id, timestamp=timestamp, body=body),
    }
