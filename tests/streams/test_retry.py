"""Failure classification and the one backoff policy: transient retried, everything else the message's."""

from __future__ import annotations

import asyncio
import smtplib

import psycopg
import pytest
from aiokafka import errors as kafka_errors
from sqlalchemy.exc import IntegrityError, OperationalError

from shared.retry import Backoff, backoff
from shared.settings import load_settings
from streams.notifications.mailer import PermanentMailError
from streams.retry import describe, is_transient, retry_transient


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.OperationalError("connection refused"),
        ConnectionRefusedError(),
        TimeoutError(),
        kafka_errors.KafkaConnectionError(),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.RequestTimedOutError(),
        kafka_errors.UnknownTopicOrPartitionError(),
        smtplib.SMTPServerDisconnected(),
        smtplib.SMTPDataError(451, b"try later"),
    ],
)
def test_unreachable_dependencies_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        kafka_errors.MessageSizeTooLargeError(),
        kafka_errors.TopicAuthorizationFailedError(),
        IntegrityError("INSERT", {}, Exception("duplicate")),
        psycopg.DataError("invalid byte sequence"),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        ValueError("Exceeds the limit (4300 digits)"),
        OverflowError("date value out of range"),
        PermanentMailError("bad address"),
        smtplib.SMTPDataError(554, b"content refused"),
        smtplib.SMTPNotSupportedError("SMTPUTF8 needed"),
        KeyError("anything unforeseen"),
    ],
)
def test_everything_else_is_permanent_for_the_message(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_backoff_doubles_from_a_short_first_wait_to_the_ceiling() -> None:
    policy = backoff(load_settings({"RETRY_MAX_BACKOFF_SECONDS": "2"}))
    assert [policy.delay(n) for n in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert Backoff(ceiling=30).delay(10_000) == 30


def test_retry_waits_out_transient_failures_and_raises_permanent_ones_at_once() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError
        return "done"

    async def poison() -> str:
        calls.append(1)
        raise ValueError("bad row")

    assert asyncio.run(retry_transient(flaky, what="flaky", max_backoff=0.01)) == "done"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ValueError, match="bad row"):
        asyncio.run(retry_transient(poison, what="poison", max_backoff=0.01))
    assert len(calls) == 1


def test_describe_is_one_encodable_line() -> None:
    text = describe(ValueError("first \ud800 line\nsecond"))
    assert text == "ValueError: first \\ud800 line"
    text.encode()
