"""The mail claim on real PostgreSQL: one holder at a time, taken over only once stale, final once sent."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Engine

from shared.db import make_sessionmaker
from shared.events import new_event
from streams.notifications.store import (
    claim_notification,
    mark_sent,
    refresh_claim,
    take_stale_claims,
)

EVENT = new_event(event_type="completed", user_id="u1", task_id=1, title="T", description="", completed=True)


def test_a_claim_is_held_until_stale_then_taken_over_once_and_final_once_sent(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    first, second, sweeper = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    claim = {"sessions": sessions, "event": EVENT, "recipient": "a@example.com"}
    assert claim_notification(**claim, token=first, timeout=60)
    assert not claim_notification(**claim, token=second, timeout=60)  # fresh: the holder may yet send
    assert take_stale_claims(sessions=sessions, token=sweeper, timeout=60, limit=10) == []
    time.sleep(0.05)
    [stale] = take_stale_claims(sessions=sessions, token=sweeper, timeout=0.01, limit=10)
    assert (stale.event_data, stale.recipient) == (EVENT.to_dict(), "a@example.com")
    # The first holder, were it alive, learns it no longer holds the claim and does not send.
    assert not refresh_claim(sessions=sessions, event_id=EVENT.event_id, token=first)
    assert refresh_claim(sessions=sessions, event_id=EVENT.event_id, token=sweeper)
    assert take_stale_claims(sessions=sessions, token=second, timeout=60, limit=10) == []
    mark_sent(sessions=sessions, event_id=EVENT.event_id)
    time.sleep(0.05)
    assert not claim_notification(**claim, token=second, timeout=0.01)
    assert take_stale_claims(sessions=sessions, token=second, timeout=0.01, limit=10) == []
    assert not refresh_claim(sessions=sessions, event_id=EVENT.event_id, token=sweeper)


def test_a_redelivered_event_takes_a_stale_claim_over_itself(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    claim = {"sessions": sessions, "event": EVENT, "recipient": "a@example.com"}
    assert claim_notification(**claim, token=uuid.uuid4(), timeout=60)
    time.sleep(0.05)
    taker = uuid.uuid4()
    assert claim_notification(**claim, token=taker, timeout=0.01)
    assert refresh_claim(sessions=sessions, event_id=EVENT.event_id, token=taker)


def test_a_claim_can_settle_the_previous_mail_and_a_retry_keeps_its_own_claim(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    token, other = uuid.uuid4(), uuid.uuid4()
    claim = {"sessions": sessions, "recipient": "a@example.com", "timeout": 60}
    assert claim_notification(**claim, event=EVENT, token=token)
    following = new_event(
        event_type="completed", user_id="u1", task_id=2, title="T2", description="", completed=True
    )
    # The next mail's claim marks the first one sent in the same transaction.
    assert claim_notification(**claim, event=following, token=token, settling=EVENT.event_id)
    assert not refresh_claim(sessions=sessions, event_id=EVENT.event_id, token=token)  # sent: final
    time.sleep(0.05)
    assert not claim_notification(**{**claim, "timeout": 0.01}, event=EVENT, token=other)
    # A retry of a claim whose commit went in unseen takes it again; nobody else may while it is fresh.
    assert claim_notification(**claim, event=following, token=token)
    assert not claim_notification(**claim, event=following, token=other)
