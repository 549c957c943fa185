"""What goes to the DLQ when the original cannot: a bounded copy that says what it stands for."""

from __future__ import annotations

import hashlib

from aiokafka.errors import MessageSizeTooLargeError

from streams.deadletter import TRUNCATED_BYTES, dead_letter_headers, truncated_copy


def test_truncated_copy_keeps_a_prefix_the_size_the_digest_and_why() -> None:
    value = b"x" * (3 * 1024 * 1024)
    headers = dead_letter_headers(
        original=[("trace", b"t" * 10_000)], reason="oversized", message="too big \ud800",
        topic="task-events", partition=2, offset=41,
    )  # fmt: skip
    key, body, copied = truncated_copy(
        key=b"k" * 5000, value=value, headers=headers, refused=MessageSizeTooLargeError("1 MB")
    )
    fields = dict(copied)
    assert body == value[:TRUNCATED_BYTES]
    assert key == b"k" * 1024
    assert "trace" not in fields  # the original headers may be what was too large
    assert fields["x-dlq-error"] == b"oversized"
    assert fields["x-dlq-error-message"] == b"too big \\ud800"
    assert (fields["x-dlq-source-partition"], fields["x-dlq-source-offset"]) == (b"2", b"41")
    assert fields["x-dlq-truncated"] == b"true"
    assert fields["x-dlq-original-size"] == str(len(value)).encode()
    assert fields["x-dlq-original-sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert fields["x-dlq-write-error"].startswith(b"MessageSizeTooLargeError")


def test_truncated_copy_of_an_empty_message() -> None:
    key, body, copied = truncated_copy(key=None, value=None, headers=[], refused=ValueError())
    assert (key, body, dict(copied)["x-dlq-original-size"]) == (None, b"", b"0")
