"""Printing what came off the wire without letting it drive the operator's terminal."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the bidirectional overrides that can reorder what a terminal shows.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_text(text: str, *, keep_newlines: bool = False) -> str:
    """The text with every control character shown as an escape (\\x1b, \\u202e) instead of acting."""
    escaped = UNSAFE.sub(lambda match: match[0].encode("unicode_escape").decode("ascii"), text)
    return escaped if keep_newlines else escaped.replace("\n", "\\n").replace("\t", "\\t")


def safe_bytes(raw: bytes | None, *, keep_newlines: bool = False) -> str:
    """Bytes as UTF-8 text where they are, \\xNN where not, controls escaped; `-` for none."""
    if raw is None:
        return "-"
    return safe_text(raw.decode("utf-8", "backslashreplace"), keep_newlines=keep_newlines)
