"""`faust -A streams.app dlq`: dead letters listed, shown safely, and redriven once each."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select, update

from shared.events import TaskEvent, new_event
from shared.models import AuditLog, User
from streams.count_entry import RECENT_EVENT_IDS
from streams.deadletter import dead_letter_headers
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import MailSink, Worker, wait_for
from tests.streams.commands.conftest import faust, summary
from tests.streams.conftest import add_user
from tests.streams.helpers import bare, produce, produce_to, read_topic

pytestmark = pytest.mark.slow

HOSTILE = b"not json \x1b]0;owned\x07 \x1b[2J \xe2\x80\xae reversed \xff"


def letter(topic: str, reason: str, offset: int, *extra: tuple[str, bytes]) -> list[tuple[str, bytes]]:
    """The headers the worker writes on a dead letter from partition 3 of this topic."""
    headers = dead_letter_headers(
        original=[("traceparent", b"00-abc-01")], reason=reason, message=f"{reason} here",
        topic=topic, partition=3, offset=offset,
    )  # fmt: skip
    return [*headers, *extra]


def test_list_show_and_redrive_each_letter_once(command_env, kafka_bootstrap: str, kafka_topics: Topics):
    event = new_event(
        event_type="created", user_id="ann", task_id=1, title="t", description="", completed=False
    )
    truncated = (("x-dlq-truncated", b"true"), ("x-dlq-original-size", b"2000000"))
    produce_to(
        kafka_bootstrap,
        kafka_topics.dlq,
        [
            (0, b"ann", bare(event), letter(kafka_topics.events, "oversized", 10)),
            (0, b"bob\x1b[1m", HOSTILE, letter(kafka_topics.events, "invalid-json", 11)),
            (0, b"cy", b"{", letter(kafka_topics.events, "oversized", 12, *truncated)),
        ],
    )

    listed = faust(command_env, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert summary(listed) == f"dlq list: 3 dead letters in {kafka_topics.dlq}, 3 pending"
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:4]] == ["0:0", "0:1", "0:2"]
    assert "2000000 (truncated)" in listed.stdout
    assert "\x1b" not in listed.stdout
    only = faust(command_env, "dlq", "list", "--reason", "invalid-json")
    assert summary(only) == f"dlq list: 1 dead letters in {kafka_topics.dlq}, 1 pending"
    later = faust(command_env, "dlq", "list", "--since", "2999-01-01T00:00:00Z")
    assert summary(later) == f"dlq list: 0 dead letters in {kafka_topics.dlq}, 0 pending"

    shown = faust(command_env, "dlq", "show", "0:1")
    assert shown.returncode == 0, shown.stderr
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in shown.stdout
    assert "\\x1b]0;owned\\x07" in shown.stdout
    assert "\\u202e reversed \\xff" in shown.stdout
    assert "x-dlq-error: invalid-json" in shown.stdout
    assert "x-dlq-source-offset: 11" in shown.stdout
    assert "still refused: invalid-json" in summary(shown)
    missing = faust(command_env, "dlq", "show", "0:99")
    assert (missing.returncode, summary(missing)) == (
        1,
        f"dlq show: no dead letter at 0:99 in {kafka_topics.dlq}",
    )

    one = faust(command_env, "dlq", "redrive", "0")
    assert one.returncode == 0, one.stderr
    assert (
        summary(one) == f"dlq redrive: 1 sent back to {kafka_topics.events}, 0 already redriven, 0 truncated"
    )
    everything = faust(command_env, "dlq", "redrive", "--all")
    assert everything.returncode == 1, everything.stderr
    assert (
        "0:2: only a truncated copy is here; replay `faust -A streams.app replay --from-offset 3:12`"
        in everything.stdout
    )
    assert (
        summary(everything)
        == f"dlq redrive: 1 sent back to {kafka_topics.events}, 1 already redriven, 1 truncated"
    )
    again = faust(command_env, "dlq", "redrive", "--all", "--reason", "invalid-json")
    assert (
        summary(again)
        == f"dlq redrive: 0 sent back to {kafka_topics.events}, 1 already redriven, 0 truncated"
    )

    back = sorted(read_topic(kafka_bootstrap, kafka_topics.events, count=10, timeout=5), key=lambda r: r.key)
    assert [(r.key, r.value) for r in back] == [(b"ann", bare(event)), (b"bob\x1b[1m", HOSTILE)]
    assert [dict(r.headers) for r in back] == [
        {"traceparent": b"00-abc-01", "x-dlq-redriven-from": f"{kafka_topics.dlq}:0:{n}".encode()}
        for n in (0, 1)
    ]
    final = faust(command_env, "dlq", "list")
    assert [line.split()[-1] for line in final.stdout.splitlines()[1:4]] == [
        "redriven",
        "redriven",
        "pending",
    ]


def test_a_letter_from_a_topic_the_worker_does_not_read_is_not_sent(
    command_env, kafka_bootstrap: str, kafka_topics: Topics
):
    produce_to(
        kafka_bootstrap, kafka_topics.dlq, [(0, b"ann", b"{}", letter("elsewhere", "mail-rejected", 4))]
    )
    refused = faust(command_env, "dlq", "redrive", "--all")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "0:0: it came from elsewhere, which this worker does not read; not sent" in refused.stdout
    assert summary(refused) == (
        f"dlq redrive: 0 sent back to {kafka_topics.events}, 0 already redriven, 0 truncated, "
        "1 from an unknown topic"
    )
    assert read_topic(kafka_bootstrap, kafka_topics.events, count=1, timeout=2) == []
    assert faust(command_env, "dlq", "list").stdout.splitlines()[1].split()[-1] == "pending"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show",), "dlq show needs the OFFSET"),
        (("redrive",), "dlq redrive takes one OFFSET or --all"),
        (("redrive", "0:1", "--all"), "dlq redrive takes one OFFSET or --all"),
        (("list", "0:1"), "dlq list takes no OFFSET"),
        (("show", "zero"), "OFFSET takes PARTITION:OFFSET"),
    ],
)
def test_bad_usage_is_a_message_and_exit_2(command_env, args, message):
    result = faust(command_env, "dlq", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_a_letter_redriven_after_the_fix_reaches_audit_log_once(
    command_env, kafka_bootstrap: str, kafka_topics: Topics, engine: Engine, tmp_path
):
    event = new_event(
        event_type="created", user_id="dan", task_id=2, title="t", description="x" * 600, completed=False
    )
    strict = Worker({**command_env, "MAX_EVENT_BYTES": "300"}, tmp_path / "strict.log").start()
    try:
        strict.wait_ready()
        produce(kafka_bootstrap, kafka_topics.events, [(b"dan", bare(event), [])])
        wait_for(
            lambda: read_topic(kafka_bootstrap, kafka_topics.dlq, count=1, timeout=1), timeout=60, what="DLQ"
        )
    finally:
        strict.stop()
    assert "oversized" in summary(faust(command_env, "dlq", "show", "0"))

    fixed = Worker(command_env, tmp_path / "fixed.log").start()
    try:
        fixed.wait_ready()
        first = faust(command_env, "dlq", "redrive", "--all", "--reason", "oversized")
        assert first.returncode == 0, first.stderr
        assert summary(first).startswith("dlq redrive: 1 sent back")
        wait_for(lambda: audit_count(engine, event.event_id) == 1, timeout=60, what="the audit row")
        second = faust(command_env, "dlq", "redrive", "--all")
        assert summary(second).startswith("dlq redrive: 0 sent back")
        assert len(read_topic(kafka_bootstrap, kafka_topics.events, count=5, timeout=3)) == 2
        assert audit_count(engine, event.event_id) == 1
    finally:
        fixed.stop()


def audit_count(engine: Engine, event_id) -> int:
    """How many audit rows the event has."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(AuditLog.event_id == event_id)) or 0)


def test_a_mail_rejected_letter_redriven_after_the_fix_mails_once_and_leaves_the_counts_alone(
    command_env, kafka_bootstrap: str, kafka_topics: Topics, engine: Engine, mail_sink: MailSink, tmp_path
):
    user = add_user(engine, email="not an address")
    done = new_event(
        event_type="completed", user_id=user, task_id=3, title="t", description="", completed=True
    )
    # More of the user's events than the tally remembers ids of: a copy of `done` on task-events would count.
    later = [updated(user) for _ in range(RECENT_EVENT_IDS + 1)]
    env = {**command_env, "SMTP_PORT": str(mail_sink[0].port)}
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        produce(kafka_bootstrap, kafka_topics.events, [(user.encode(), bare(e), []) for e in [done, *later]])
        wait_for(
            lambda: read_topic(kafka_bootstrap, kafka_topics.dlq, count=1, timeout=1), timeout=60, what="DLQ"
        )
        before = wait_for(lambda: counted(worker, user, len(later) + 1), timeout=60, what="counts")
        with engine.begin() as conn:
            conn.execute(update(User).where(User.id == user).values(email="fixed@example.com"))

        redriven = faust(env, "dlq", "redrive", "--all", "--reason", "mail-rejected")
        assert redriven.returncode == 0, redriven.stdout + redriven.stderr
        assert summary(redriven).startswith(f"dlq redrive: 1 sent back to {env['WORKER_APP_ID']}-completions")
        wait_for(lambda: mails_of(mail_sink, done.event_id), timeout=60, what="the completion mail")
        # One more event behind the redrive: once it is counted, whatever the redrive caused is counted too.
        produce(kafka_bootstrap, kafka_topics.events, [(user.encode(), bare(updated(user)), [])])
        after = wait_for(lambda: counted(worker, user, len(later) + 2), timeout=60, what="the last event")
    finally:
        worker.stop()
    assert {**after, "updated": after["updated"] - 1, "total": after["total"] - 1} == before
    assert len(mails_of(mail_sink, done.event_id)) == 1


def updated(user: str) -> TaskEvent:
    """A new `updated` event of the user's task 3."""
    return new_event(event_type="updated", user_id=user, task_id=3, title="t", description="", completed=True)


def counted(worker: Worker, user: str, total: int) -> dict[str, int]:
    """The user's counts once their total has reached this many events ({} until then)."""
    status, body = worker.get(f"/counts/{user}/")
    return dict(body) if status == 200 and body["total"] >= total else {}


def mails_of(sink: MailSink, event_id) -> list[str]:
    """The saved mails about this event."""
    texts = (path.read_text(errors="replace") for path in sink[1].messages())
    return [text for text in texts if f"X-Todo-Event-Id: {event_id}" in text]
