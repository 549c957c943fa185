"""Turn the bytes on `task-events` into a TaskEvent, or a DecodeError saying why not.

Two shapes arrive: Dapr's CloudEvents 1.0 structured JSON (the event in `data`, or base64 JSON in
`data_base64`) and the bare event object. Both are validated against the shared schema, plus the
limits the database imposes (column widths, no NUL or lone surrogate in text) so a valid event
always inserts. Whatever goes wrong while decoding is the message's fault: `try_decode` turns even an
error of unforeseen kind into a DecodeError, so no message can crash an agent that decodes it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any

from shared.events import EventValidationError, TaskEvent, parse_event

log = logging.getLogger(__name__)
USER_ID_MAX = 36
BIGINT_MAX = 2**63 - 1
# PostgreSQL text holds neither U+0000 nor a lone surrogate (UTF-8 cannot encode one).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# What JSON text must hold for a value parsed from it to hold such a character: the character itself,
# or its escape (\u0000, \uD800-\uDFFF, any case). Text without either needs no walk of the value.
MAY_BE_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]|\\u(?:0000|[dD][89a-fA-F])")


class DecodeError(ValueError):
    """A message that can never become a TaskEvent; `reason` is a short stable code for the DLQ."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def _json(raw: bytes | str, what: str) -> Any:
    """Parse JSON text, mapping every failure to a DecodeError."""
    try:
        return json.loads(raw)
    # ValueError covers bad UTF-8, bad JSON and integers past Python's digit limit (4300 digits).
    except (ValueError, RecursionError) as exc:
        raise DecodeError("invalid-json", f"{what} is not JSON: {exc}") from None


def _text(raw: bytes) -> str:
    """A message's JSON text, decoded exactly as json.loads decodes bytes (any UTF, surrogates kept)."""
    try:
        return raw.decode(json.detect_encoding(raw), "surrogatepass")
    except ValueError as exc:
        raise DecodeError("invalid-json", f"message is not JSON: {exc}") from None


def is_cloudevent(obj: object) -> bool:
    """Whether a decoded object is a CloudEvents envelope rather than a bare event."""
    return isinstance(obj, dict) and "specversion" in obj


def unwrap_cloudevent(envelope: dict[str, Any]) -> Any:
    """The event inside a structured CloudEvent: `data` (object or JSON text) or `data_base64`."""
    if "data_base64" in envelope:
        encoded = envelope["data_base64"]
        if not isinstance(encoded, str):
            raise DecodeError("invalid-envelope", "data_base64 must be a string")
        try:
            return _json(base64.b64decode(encoded, validate=True), "data_base64")
        except binascii.Error:
            raise DecodeError("invalid-envelope", "data_base64 is not base64") from None
    if "data" not in envelope:
        raise DecodeError("invalid-envelope", "CloudEvent has neither data nor data_base64")
    data = envelope["data"]
    return _json(data, "data") if isinstance(data, str) else data


def _unstorable(value: Any) -> bool:
    """Whether any string in a JSON value holds a character PostgreSQL text cannot store."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _check_storable(event: TaskEvent, obj: Any, *, suspect: bool) -> None:
    """Refuse values the schema allows but the audit_log columns cannot hold.

    `suspect`: whether the text the value came from may hold an unstorable character at all; the walk
    over every string of the value (half of decoding's time, py-spy) runs only then.
    """
    if len(event.user_id) > USER_ID_MAX:
        raise DecodeError("invalid-event", f"user_id: longer than {USER_ID_MAX} characters")
    if not 0 <= event.task_id <= BIGINT_MAX:
        raise DecodeError("invalid-event", "task_id: out of range")
    if suspect and _unstorable(obj):
        raise DecodeError("invalid-event", "text must not contain NUL characters or lone surrogates")


def decode_event(raw: bytes | None, *, max_bytes: int) -> TaskEvent:
    """Decode and validate one message value (enveloped or bare) into a TaskEvent."""
    if raw is None:
        raise DecodeError("empty", "message has no value")
    if len(raw) > max_bytes:
        raise DecodeError("oversized", f"{len(raw)} bytes is more than the {max_bytes} allowed")
    text = _text(raw)
    obj = _json(text, "message")
    # A `data` given as JSON text is inside this text, its escapes escaped once more (still matched);
    # `data_base64` is not, so its value is always walked.
    suspect = MAY_BE_UNSTORABLE.search(text) is not None
    if is_cloudevent(obj):
        suspect = suspect or "data_base64" in obj
        obj = unwrap_cloudevent(obj)
    try:
        event = parse_event(obj)
    except EventValidationError as exc:
        unknown_type = exc.field == "event_type" and "one of" in exc.message
        reason = "unknown-event-type" if unknown_type else "invalid-event"
        raise DecodeError(reason, str(exc)) from None
    _check_storable(event, obj, suspect=suspect)
    return event


def try_decode(raw: bytes | None, *, max_bytes: int) -> TaskEvent | DecodeError:
    """decode_event, returning the error instead of raising; an unforeseen error is the message's too."""
    try:
        return decode_event(raw, max_bytes=max_bytes)
    except DecodeError as exc:
        return exc
    except Exception as exc:
        log.exception("undecodable message")
        text = f"{type(exc).__name__}: {exc}".encode("utf-8", "backslashreplace").decode()
        return DecodeError("undecodable", text[:1000])
