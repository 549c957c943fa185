"""Fault fixtures: the relay ones from the outbox tests (the worker ones live in tests/fixtures)."""

from __future__ import annotations

from tests.web.outbox.conftest import _engine_before_teardown, kafka_settings, start_relay

__all__ = ["_engine_before_teardown", "kafka_settings", "start_relay"]
