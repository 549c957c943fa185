"""`faust -A streams.app replay`: missing audit rows and stream counts rebuilt from task-events, once."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, select

from shared.counts import counts_body
from shared.db import make_sessionmaker
from shared.events import TaskEvent, new_event
from shared.models import AuditLog
from streams.audit.store import insert_audit_rows
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import Worker, wait_for
from tests.streams.commands.conftest import commit_to_end, faust, faust_started, summary
from tests.streams.helpers import bare, keyed, produce, produce_to

pytestmark = pytest.mark.slow


def events_for(*users: str, per_user: int = 3) -> list[TaskEvent]:
    """per_user events (created, then updates, never completed: no mail) for each user, in order."""
    kinds = ["created", *["updated"] * (per_user - 2), "deleted"]
    return [
        new_event(
            event_type=kind, user_id=user, task_id=1, title=f"{user} {n}", description="", completed=False
        )
        for user in users
        for n, kind in enumerate(kinds)
    ]


def rows(engine: Engine) -> list[tuple[int, uuid.UUID, dict]]:
    """Every audit row as (id, event_id, event_data), in id order."""
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                select(AuditLog.id, AuditLog.event_id, AuditLog.event_data).order_by(AuditLog.id)
            )
        ]


def audited(engine: Engine) -> set[uuid.UUID]:
    """The event ids audit_log holds."""
    return {event_id for _, event_id, _ in rows(engine)}


def test_replay_adds_each_missing_audit_row_once(
    command_env, kafka_bootstrap: str, kafka_topics: Topics, engine: Engine
):
    events = events_for("ann", "bob", "cy")
    produce(
        kafka_bootstrap,
        kafka_topics.events,
        [*(keyed(e, bare(e)) for e in events), (b"ann", b"not json", [])],
    )

    dry = faust(command_env, "replay", "--from-beginning", "--only", "audit", "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "10 events read" in summary(dry)
    assert "1 invalid skipped" in summary(dry)
    assert "audit_log: 9 rows missing, 0 already there" in summary(dry)
    assert rows(engine) == []

    first = faust(command_env, "replay", "--from-beginning", "--only", "audit")
    assert first.returncode == 0, first.stderr
    assert "audit_log: 9 rows added, 0 already there" in summary(first)
    assert "counts" not in summary(first)
    before = rows(engine)
    assert {event_id: data for _, event_id, data in before} == {e.event_id: e.to_dict() for e in events}

    second = faust(command_env, "replay", "--from-beginning", "--only", "audit")
    assert second.returncode == 0, second.stderr
    assert "audit_log: 0 rows added, 9 already there" in summary(second)
    assert rows(engine) == before


def test_replay_starts_at_a_time_or_at_an_offset(
    command_env, kafka_bootstrap: str, kafka_topics: Topics, engine: Engine
):
    early, late = events_for("dee"), events_for("eve")
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in early])
    time.sleep(1.5)
    since = datetime.now(UTC).isoformat()
    time.sleep(1.5)
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in late])
    result = faust(command_env, "replay", "--since", since, "--only", "audit")
    assert result.returncode == 0, result.stderr
    assert audited(engine) == {e.event_id for e in late}

    with engine.begin() as conn:
        conn.execute(delete(AuditLog))
    placed = events_for("fay", per_user=4)
    positions = produce_to(kafka_bootstrap, kafka_topics.events, [(4, b"fay", bare(e), []) for e in placed])
    partition, offset = positions[2]
    result = faust(command_env, "replay", "--from-offset", f"{partition}:{offset}", "--only", "audit")
    assert result.returncode == 0, result.stderr
    assert "2 events read" in summary(result)
    assert audited(engine) == {e.event_id for e in placed[2:]}
    # A user's totals need all their events: the whole topic is read, only fay's totals are set.
    result = faust(
        command_env, "replay", "--from-offset", f"{partition}:{offset}", "--only", "counts", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert "10 events read" in summary(result)
    assert "counts: 2 count updates to send, totals to set for 1 user" in summary(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one of --from-beginning, --since ISO-TIME, --from-offset P:N"),
        (("--from-beginning", "--since", "2026-01-01T00:00:00Z"), "exactly one of"),
        (("--from-offset", "two:5"), "--from-offset takes PARTITION:OFFSET"),
        (("--since", "yesterday"), "--since takes a time with a zone"),
        (("--check", "--dry-run"), "--check takes no other option"),
        (("--from-offset", "99:0"), "there is no partition 99"),
        (("--from-beginning", "--only", "mail"), "Invalid value for '--only'"),
    ],
)
def test_bad_usage_is_a_message_and_exit_2(command_env, args, message):
    result = faust(command_env, "replay", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def counted(worker: Worker, user: str, events: list[TaskEvent]) -> bool:
    """Whether the worker's counts for `user` have reached as many events as `events` holds of theirs."""
    total = sum(e.user_id == user for e in events)
    return (worker.get(f"/counts/{user}/")[1] or {}).get("total", -1) >= total


def expected_counts(user: str, events: list[TaskEvent]) -> dict:
    """The counts body for the user's events."""
    kinds = Counter(e.event_type for e in events if e.user_id == user)
    return counts_body(user, {**kinds, "total": sum(kinds.values())})


def test_check_finds_disagreements_either_way_and_a_counts_replay_fills_gaps_while_counting(
    command_env, kafka_bootstrap: str, kafka_topics: Topics, engine: Engine, tmp_path
):
    lost = events_for("gus", "hal", per_user=4)
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in lost])
    # The worker's group starts past these events, as if a crash had lost them from its table.
    commit_to_end(kafka_bootstrap, kafka_topics.events, command_env["WORKER_APP_ID"])
    worker = Worker(command_env, tmp_path / "worker.log").start()
    env = {**command_env, "WORKER_URL": worker.url}
    try:
        worker.wait_ready()
        # gus's table entry counts events past the lost ones; ida's are counted and audited.
        live = events_for("gus", "ida", per_user=2)
        produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in live])
        for user in ("gus", "ida"):
            wait_for(lambda user=user: counted(worker, user, live), what=user)
        assert faust(env, "replay", "--from-beginning", "--only", "audit").returncode == 0
        with engine.begin() as conn:  # the database loses ida's rows: stream counts, no audit rows
            conn.execute(delete(AuditLog).where(AuditLog.user_id == "ida"))

        check = faust(env, "replay", "--check")
        assert check.returncode == 1, check.stderr
        assert summary(check) == "replay --check: 3 users checked, 3 disagree"
        lines = check.stdout.splitlines()
        assert "gus: stream created=1 updated=0 completed=0 deleted=1 total=2; database created=2" in lines[0]
        assert "hal: stream created=0 updated=0 completed=0 deleted=0 total=0; database created=1" in lines[1]
        assert "ida: stream created=1 updated=0 completed=0 deleted=1 total=2; database created=0" in lines[2]

        # Live events for gus keep coming while the counts replay runs: none lost, none counted twice.
        mend = faust_started(env, "replay", "--from-beginning", "--only", "counts")
        during = []
        while mend.poll() is None:
            during += events_for("gus", per_user=2)[:1]
            produce(kafka_bootstrap, kafka_topics.events, [keyed(during[-1], bare(during[-1]))])
            time.sleep(0.2)
        out, err = mend.communicate()
        assert mend.returncode == 0, err
        assert "totals set for 3 users" in out.splitlines()[-1]
        everything = [*lost, *live, *during]
        for user in ("gus", "hal", "ida"):
            wait_for(lambda user=user: counted(worker, user, everything), what=user)
            assert worker.get(f"/counts/{user}/")[1] == expected_counts(user, everything)

        again = faust(env, "replay", "--from-beginning")
        assert again.returncode == 0, again.stderr
        assert "audit_log: 2 rows added" in summary(again)  # ida's, the database side of its disagreement
        # One more live event: counted after everything the second replay sent to gus's partition.
        last = events_for("gus", per_user=2)[1:]
        produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in last])
        everything += last
        wait_for(lambda: counted(worker, "gus", everything), what="gus's last event")
        assert worker.get("/counts/gus/")[1] == expected_counts("gus", everything)
        check = faust(env, "replay", "--check")
        assert (check.returncode, summary(check)) == (0, "replay --check: 3 users checked, 0 disagree")
    finally:
        worker.stop()


def test_check_without_a_worker_is_a_problem_not_a_pass(command_env, engine: Engine):
    insert_audit_rows(sessions=make_sessionmaker(engine), events=events_for("ivy")[:1])
    env = {**command_env, "WORKER_URL": f"http://127.0.0.1:{command_env['WORKER_WEB_PORT']}"}
    result = faust(env, "replay", "--check")
    assert result.returncode == 1
    assert "did not answer" in summary(result)


def test_a_terminal_sees_a_progress_bar_and_a_pipe_does_not(
    command_env, kafka_bootstrap: str, kafka_topics: Topics
):
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in events_for("joe")])
    leader, follower = pty.openpty()
    # A fresh pty is 0 columns wide and tqdm draws nothing in no room; a terminal has a size.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    argv = [sys.executable, "-m", "faust", "-A", "streams.app", "replay", "--from-beginning", "--dry-run"]
    process = subprocess.Popen(argv, env=command_env, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    shown = b""
    with os.fdopen(leader, "rb", buffering=0) as terminal, contextlib.suppress(OSError):
        while chunk := terminal.read(4096):  # EIO once the command has exited and all is read
            shown += chunk
    assert process.wait(timeout=180) == 1
    assert re.search(rb"events:\s+0%\|[^|]*\| 0/3", shown), shown[-500:]
    piped = faust(command_env, "replay", "--from-beginning", "--dry-run")
    assert "events:" not in piped.stderr
