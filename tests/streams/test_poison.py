"""Poison among good events on a real worker: every good one audited, every bad one dead-lettered."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, func, select

from devstack.mailsink import SaveToDirectory
from shared.events import new_event
from shared.models import AuditLog
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import Worker, wait_for
from tests.streams.conftest import add_user
from tests.streams.helpers import produce_to, read_topic
from tests.streams.test_worker import mails_to

pytestmark = pytest.mark.slow

MEGABYTE = 1024 * 1024


def wire(**changes: Any) -> dict[str, Any]:
    """A valid event's wire form with some fields replaced (task_data fields by their own name)."""
    body = new_event(
        event_type="created", user_id="user-poisoned", task_id=1, title="t", description="", completed=False
    ).to_dict()
    data = {key: changes.pop(key) for key in ("title", "description", "completed") if key in changes}
    return {**body, **changes, "task_data": {**body["task_data"], **data}}


def raw(obj: Any) -> bytes:
    """JSON text of obj, lone surrogates written as \\ud800 escapes (as another producer may)."""
    return json.dumps(obj).encode()


POISON: dict[str, bytes | None] = {
    "one megabyte": b'{"pad":"' + b"x" * MEGABYTE + b'"}',
    "5000-digit task_id": raw(wire()).replace(b'"task_id": 1', b'"task_id": ' + b"9" * 5000),
    "4000-digit task_id": raw(wire(task_id=10**3999)),
    "huge int as completed": raw(wire(completed=10**3000)),
    "date past year 9999 in UTC": raw(wire(timestamp="9999-12-31T23:59:59-01:00")),
    "date before year 1 in UTC": raw(wire(timestamp="0001-01-01T00:00:00+01:00")),
    "month 13": raw(wire(timestamp="2026-13-01T00:00:00Z")),
    "NUL in title": raw(wire(title="a\x00b")),
    "lone surrogate in description": raw(wire(description="\ud800")),
    "NUL in a key": raw({**wire(), "x\x00": 1}),
    "not JSON": b"\x00\xff\xfe not json",
    "no value": None,
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "bad base64 envelope": raw({"specversion": "1.0", "data_base64": "%%%"}),
}
KEYS: list[bytes | None] = [None, b"\xff\xfe", b"k" * 5000, b"user-poisoned"]
HEADERS: list[list[tuple[str, bytes]]] = [[], [("x", b"\xff\x00")], [("trace", b"y" * 2000), ("", b"")]]


def good_events(user_id: str, count: int) -> list[Any]:
    """Valid events for one user; the last completes its task (so a mail is due)."""
    return [
        new_event(
            event_type="completed" if n == count - 1 else "created",
            user_id=user_id,
            task_id=n,
            title=f"good \u2028 {n}",
            description="fine\r\nline",
            completed=n == count - 1,
        )
        for n in range(count)
    ]


def test_poison_across_partitions_never_stops_good_events(
    shared_worker: Worker,
    module_topics: Topics,
    kafka_bootstrap: str,
    engine: Engine,
    mail_sink: tuple[Controller, SaveToDirectory],
) -> None:
    user_id = add_user(engine, email="poisoned@example.com")
    good = good_events(user_id, 30)
    records: list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
    poison = list(POISON.items())
    for n, event in enumerate(good):
        partition = n % module_topics.partitions
        # Good events too come with odd keys and headers: only the value decides.
        records.append((partition, KEYS[n % len(KEYS)], event.to_json().encode(), HEADERS[n % len(HEADERS)]))
        if n < len(poison):
            value = poison[n][1]
            key = KEYS[(n + 1) % len(KEYS)] if value is not None else b"tombstone"  # Kafka needs one
            records.append((partition, key, value, HEADERS[(n + 1) % 3]))
    sent = time.monotonic()
    positions = produce_to(kafka_bootstrap, module_topics.events, records)
    bad_values = {id(value) for _, value in poison}
    expected_dead = {pos for pos, rec in zip(positions, records, strict=True) if id(rec[2]) in bad_values}

    def audited() -> int:
        """Good events of this test in audit_log."""
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).where(AuditLog.user_id == user_id)) or 0)

    wait_for(lambda: audited() == len(good), timeout=60, what="every good event audited")
    audited_after = time.monotonic() - sent
    wait_for(
        lambda: len(_dead(kafka_bootstrap, module_topics)) == len(poison),
        timeout=60,
        what=f"{len(poison)} dead letters",
    )
    dead = _dead(kafka_bootstrap, module_topics)
    dead_after = time.monotonic() - sent
    [mail] = wait_for(lambda: mails_to(mail_sink[1], "poisoned@example.com"), what="the completion mail")
    counts = {"user_id": user_id, "created": 29, "updated": 0, "completed": 1, "deleted": 0, "total": 30}
    wait_for(lambda: shared_worker.get(f"/counts/{user_id}/") == (200, counts), what="exact counts")
    print(
        f"\npoison: sent {len(good)} good + {len(poison)} poison over {module_topics.partitions} partitions;"
        f" audited {audited()} in {audited_after:.1f}s; dead-lettered {len(dead)} in {dead_after:.1f}s;"
        f" {sum(1 for r in dead if dict(r.headers).get('x-dlq-truncated'))} as truncated copies"
    )
    assert audited_after < 30
    assert dead_after < 30
    assert mail["Subject"] == f"Task completed: {good[-1].task_data.title.replace(chr(0x2028), ' ')}"
    assert {_position(r) for r in dead} == expected_dead
    for record in dead:
        headers = dict(record.headers)
        if headers.get("x-dlq-truncated") == b"true":
            assert int(headers["x-dlq-original-size"]) > MEGABYTE
            assert len(record.value) == 16 * 1024
            assert b"MessageSizeTooLarge" in headers["x-dlq-write-error"]
            assert headers["x-dlq-error"] == b"oversized"
        else:
            assert record.value in {value for _, value in poison}


def _position(record: Any) -> tuple[int, int]:
    """The source (partition, offset) a dead letter names."""
    headers = dict(record.headers)
    return int(headers["x-dlq-source-partition"]), int(headers["x-dlq-source-offset"])


def _dead(bootstrap: str, topics: Topics) -> list[Any]:
    """The dead letters on the module's DLQ, one per source position."""
    found = read_topic(bootstrap, topics.dlq, 1000, 3)
    return list({_position(r): r for r in found}.values())
