"""The completion mail: its content, real SMTP delivery, and the transient/permanent split."""

from __future__ import annotations

import email
import smtplib
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from devstack.kafka import free_port
from devstack.mailsink import SaveToDirectory, start_sink
from shared.events import new_event
from shared.mail import MailConnection, send_message
from shared.settings import load_settings
from streams.notifications.mailer import (
    PermanentMailError,
    build_completion_message,
    is_permanent_mail_error,
    is_transient_mail_error,
)

EVENT = new_event(
    event_type="completed", user_id="u", task_id=3, title="Pay <rent>", description="", completed=True
)


def test_message_names_task_and_time_in_text_and_html() -> None:
    built = build_completion_message(event=EVENT, recipient="a@example.com", mail_from="x@example.com")
    message = email.message_from_bytes(built.as_bytes(), policy=default_policy)  # as a mail client reads it
    assert message["Subject"] == "Task completed: Pay <rent>"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Pay <rent>" in text.get_content()
    assert EVENT.timestamp.strftime("%Y-%m-%d %H:%M UTC") in text.get_content()
    assert "Pay &lt;rent&gt;" in html.get_content()


def test_bad_address_is_permanent() -> None:
    with pytest.raises(PermanentMailError):
        build_completion_message(event=EVENT, recipient="not an address", mail_from="x@example.com")


def test_sends_through_a_real_smtp_server(tmp_path: Path) -> None:
    controller, sink = start_sink(tmp_path, port=free_port())
    try:
        settings = load_settings({"SMTP_PORT": str(controller.port)})
        message = build_completion_message(
            event=EVENT, recipient="a@example.com", mail_from=settings.mail_from
        )
        send_message(message=message, settings=settings)
    finally:
        controller.stop()
    [saved] = sink.messages()
    received = email.message_from_bytes(saved.read_bytes(), policy=default_policy)
    assert received["To"] == "a@example.com"
    assert received["X-Envelope-To"] == "a@example.com"


class CountingSink(SaveToDirectory):
    """The dev sink, also counting the connections that greeted it (smtplib says EHLO once each)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.greetings = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        self.greetings += 1
        session.host_name = hostname  # a handler answering EHLO itself records the greeting (aiosmtpd)
        return responses


def test_a_mail_connection_sends_a_run_of_messages_over_one_connection_and_reconnects_after_a_failure(
    tmp_path: Path,
) -> None:
    port = free_port()
    sink = CountingSink(tmp_path / "first")
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings = load_settings({"SMTP_PORT": str(port)})
    message = build_completion_message(event=EVENT, recipient="a@example.com", mail_from=settings.mail_from)
    with MailConnection(settings) as connection:
        for _ in range(3):
            connection.send(message)
        assert (len(sink.messages()), sink.greetings) == (3, 1)
        controller.stop()  # the server goes away under the open connection
        with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
            connection.send(message)
        again = CountingSink(tmp_path / "second")
        controller = Controller(again, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            connection.send(message)
        finally:
            controller.stop()
    assert (len(again.messages()), again.greetings) == (1, 1), "a new connection after the failure"


def test_server_down_is_transient() -> None:
    settings = load_settings({"SMTP_PORT": str(free_port())})
    message = build_completion_message(event=EVENT, recipient="a@example.com", mail_from=settings.mail_from)
    with pytest.raises(ConnectionRefusedError) as caught:
        send_message(message=message, settings=settings)
    assert is_transient_mail_error(caught.value)


def test_classification_of_smtp_replies() -> None:
    assert is_permanent_mail_error(smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}))
    assert is_transient_mail_error(smtplib.SMTPRecipientsRefused({"a@x": (451, b"try later")}))
    assert is_transient_mail_error(smtplib.SMTPServerDisconnected("gone"))
    assert is_transient_mail_error(smtplib.SMTPSenderRefused(550, b"bad sender", "x@example.com"))


def test_titles_with_line_breaks_make_one_line_subjects_and_a_stable_message_id() -> None:
    event = new_event(
        event_type="completed", user_id="u", task_id=3, title="a\r\nBcc: x@y\u2028z\x85\x00",
        description="", completed=True,
    )  # fmt: skip
    first = build_completion_message(event=event, recipient="a@example.com", mail_from="x@example.com")
    again = build_completion_message(event=event, recipient="a@example.com", mail_from="x@example.com")
    assert first["Subject"] == "Task completed: a  Bcc: x@y z  "
    assert first["Bcc"] is None
    assert first["Message-ID"] == again["Message-ID"] == f"<{event.event_id}.completed@todo-platform>"
    first.as_bytes()
