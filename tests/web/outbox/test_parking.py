"""An event the broker refuses for good is parked after a bounded number of attempts, not retried for ever."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, text

from shared.db import make_sessionmaker
from shared.events import TaskEvent, new_event
from shared.settings import Settings
from tests.fixtures.streams import wait_for
from tests.web.outbox.conftest import consume
from web.outbox.publishers.base import Refused
from web.outbox.relay import Relay
from web.outbox.store import commit_with_events

MEGABYTES = 1024 * 1024


def event(user_id: str, title: str, description: str = "") -> TaskEvent:
    """A created event for user_id."""
    fields = {"title": title, "description": description, "completed": False}
    return new_event(event_type="created", user_id=user_id, task_id=1, **fields)  # type: ignore[arg-type]


def parked_rows(engine: Engine) -> list[tuple[int, int, str]]:
    """(id, attempts, last_error) of every parked row."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, attempts, last_error FROM outbox WHERE parked_at IS NOT NULL"))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_refused_event_is_parked_and_holds_back_nobody_for_long(
    kafka_settings: Settings,
    start_relay: Callable[..., Relay],
    engine: Engine,
    client: FlaskClient,
    runner: FlaskCliRunner,
) -> None:
    """Too large for the producer: parked after RELAY_MAX_ATTEMPTS; everyone's later events go out."""
    huge = event("user-a", "huge", "x" * (2 * MEGABYTES))
    before, after, other = event("user-a", "a-before"), event("user-a", "a-after"), event("user-b", "b")
    with make_sessionmaker(engine)() as session:
        commit_with_events(session=session, events=[before, huge, after, other])
    config = dataclasses.replace(kafka_settings, relay_max_attempts=3)
    started = time.monotonic()
    start_relay(config)

    [(row_id, attempts, error)] = wait_for(lambda: parked_rows(engine), timeout=30, what="huge event parked")
    parked_after = time.monotonic() - started
    records = consume(config.kafka_bootstrap_servers, config.task_events_topic, expect=3)
    titles = [r.event["task_data"]["title"] for r in sorted(records, key=lambda r: (r.key, r.offset))]
    print(f"\nparking: parked after {attempts} attempts in {parked_after:.1f}s; published {titles}")
    assert attempts == 3
    assert "MessageSizeTooLarge" in error
    # The same user's later event goes out after the parked one, in order among what was published.
    assert titles == ["a-before", "a-after", "b"]

    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["outbox"] | {"oldest_age_seconds": 0} == {
        "pending": 0, "oldest_age_seconds": 0, "parked": 1,
    }  # fmt: skip

    listed = runner.invoke(args=["outbox", "parked"])
    assert listed.exit_code == 0
    assert str(huge.event_id) in listed.output
    assert listed.output.splitlines()[-1] == "1 parked event(s)"

    missing = runner.invoke(args=["outbox", "retry", str(row_id), "999999"])
    assert missing.exit_code == 1
    assert "not parked: 999999" in missing.output
    assert "requeued 1 event(s)" in missing.output
    # Requeued with a fresh count, refused again, parked again: bounded every time.
    [(_, attempts_again, _)] = wait_for(lambda: parked_rows(engine), timeout=30, what="parked again")
    assert attempts_again == 3

    assert runner.invoke(args=["outbox", "retry", "--all"]).output.strip() == "requeued 1 event(s)"


def test_outbox_commands_explain_themselves_and_refuse_bad_usage(runner: FlaskCliRunner) -> None:
    for args in (["outbox", "--help"], ["outbox", "parked", "--help"], ["outbox", "retry", "--help"]):
        shown = runner.invoke(args=args)
        assert shown.exit_code == 0
        assert "Usage:" in shown.output
    assert runner.invoke(args=["outbox", "retry"]).exit_code == 2
    assert runner.invoke(args=["outbox", "retry", "1", "--all"]).exit_code == 2
    assert runner.invoke(args=["outbox", "retry", "abc"]).exit_code == 2
    empty = runner.invoke(args=["outbox", "parked"])
    assert (empty.exit_code, empty.output) == (0, "0 parked event(s)\n")
    nothing = runner.invoke(args=["outbox", "retry", "--all"])
    assert (nothing.exit_code, nothing.output) == (0, "requeued 0 event(s)\n")


def test_only_consecutive_refusals_count_towards_parking(settings: Settings) -> None:
    """An unreachable broker in between starts the count again; a long outage parks nothing."""
    relay = Relay(engine=None, publisher=None, settings=dataclasses.replace(settings, relay_max_attempts=3))  # type: ignore[arg-type]
    down = "broker unavailable: KafkaConnectionError"
    rounds = [{1: Refused("too large"), 2: down}, {1: Refused("too large"), 2: down}, {1: down, 2: down}]
    assert [relay._to_park(failed) for failed in rounds] == [set(), set(), set()]
    refused = {1: Refused("too large"), 2: down}
    assert [relay._to_park(refused) for _ in range(3)] == [set(), set(), {1}]
