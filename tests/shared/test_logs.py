"""The one logging setup: JSON lines in production, text in development, ids stamped, secrets masked."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import logging.config

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.logs import _REDACTIONS, bound, log_config, log_format, redact
from shared.settings import Settings, SettingsError, load_settings

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def capture(settings: Settings, emit) -> list[str]:
    """Configure logging for settings with a StringIO stream, run emit, return the lines written."""
    stream = io.StringIO()
    config = log_config(settings)
    config["handlers"]["default"]["stream"] = stream
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logging.config.dictConfig(config)
    try:
        emit(logging.getLogger("todo.test"))
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    return stream.getvalue().splitlines()


def test_production_logs_json_lines_with_the_bound_ids():
    production = dataclasses.replace(Settings(), app_env="production")

    def emit(log: logging.Logger) -> None:
        with bound(request_id="req-1", event_id="0f8c"):
            log.info("relayed %d events", 3)
        log.warning("no ids here")

    first, second = (json.loads(line) for line in capture(production, emit))
    assert first["message"] == "relayed 3 events"
    assert (first["level"], first["logger"], first["request_id"], first["event_id"]) == (
        "INFO", "todo.test", "req-1", "0f8c"
    )  # fmt: skip
    assert first["time"].endswith("+00:00")
    assert "request_id" not in second
    assert "event_id" not in second


def test_an_explicit_event_id_and_a_traceback_make_it_into_the_json():
    def emit(log: logging.Logger) -> None:
        try:
            raise RuntimeError("boom for alice@example.com")
        except RuntimeError:
            log.exception("failed", extra={"event_id": "e-9"})

    (line,) = capture(dataclasses.replace(Settings(), log_format="json"), emit)
    body = json.loads(line)
    assert body["event_id"] == "e-9"
    assert "RuntimeError: boom for <email>" in body["exception"]


def test_development_logs_readable_text_with_the_ids_appended():
    def emit(log: logging.Logger) -> None:
        with bound(request_id="abc"):
            log.info("hello")

    (line,) = capture(Settings(), emit)
    assert line.endswith("INFO todo.test: hello [request_id=abc]")
    assert log_format(Settings()) == "text"


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("mail sent to alice.smith+todo@example.co.uk", "alice.smith+todo@example.co.uk"),
        (f"Authorization: Bearer {JWT}", JWT),
        (f"refresh with {JWT} now", JWT),
        ("login password=hunter2hunter2 for x", "hunter2hunter2"),
        ('{"password": "correct horse battery"}', "correct"),
        ("GET /verify?token=s3cr3t-t0ken&x=1", "s3cr3t-t0ken"),
        ("csrf_token: abcdef123456", "abcdef123456"),
        ("connecting to postgresql://todo:pa55word@db:5432/todo", "pa55word"),
    ],
)
def test_redact_masks_addresses_tokens_and_passwords(raw: str, secret: str):
    assert secret not in redact(raw)


def test_redact_leaves_ordinary_lines_alone():
    line = "dead-lettering task-events[3]@42: invalid-json: user 9b2e published 12, failed 0"
    assert redact(line) == line


FRAGMENTS = [
    "password=", "PassWD: ", '"api_key": "', "apikey=", "Authorization: ", "csrf_token=", "secret:",
    "Bearer ", "bearer\t", JWT, "eyJ", "postgresql://todo:pa55@db/x", "https://", "alice@example.com",
    "@", "<token>", "\u017fecret=", "\u212aey", "İ", " ", "=", ":", "/", "x1", "hunter2", "\n",
]  # fmt: skip


def _every_pattern(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=12).map("".join))
def test_redact_masks_exactly_what_every_pattern_would(raw: str):
    assert redact(raw) == _every_pattern(raw)


def test_an_access_log_line_is_left_as_it_is():
    line = (
        '127.0.0.1 "POST /api/290d3642-e1a7-4580-86ec-ae9e09225e37/tasks HTTP/1.1" 201 212 3ms'
        " request_id=5f0c3a8e1f2b4c6d8e9fa0b1c2d3e4f5"
    )
    assert redact(line) == line


def test_log_format_is_checked():
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings({"LOG_FORMAT": "xml"})
