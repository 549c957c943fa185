"""The completion email: building it, sending it over SMTP, and telling transient failures from permanent."""

from __future__ import annotations

import html
import smtplib
import unicodedata
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage

from shared.events import TaskEvent


class PermanentMailError(Exception):
    """The mail can never be delivered as it is (bad address, content refused)."""


def completed_at_text(event: TaskEvent) -> str:
    """The completion time as people read it, in UTC."""
    return event.timestamp.strftime("%Y-%m-%d %H:%M UTC")


def header_text(text: str) -> str:
    """Text safe in a header: control characters and line or paragraph separators become spaces."""
    return "".join(" " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in text)


def set_subject(message: EmailMessage, subject: str) -> None:
    """Set the Subject so that it reads back exactly, whatever the text.

    Python's header folding (3.11) drops a space that falls where it splits non-ASCII text into
    encoded words ("… ¡" arrived as "…¡"; found by tests/streams/test_properties.py). Encoding the
    whole subject as encoded words ourselves keeps every space inside them, where decoders keep it.
    """
    if subject.isascii():
        message["Subject"] = subject
    else:
        message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def message_id(event: TaskEvent) -> str:
    """A Message-ID derived from the event alone, so a repeated send is recognisable downstream."""
    return f"<{event.event_id}.{event.event_type}@todo-platform>"


def build_completion_message(*, event: TaskEvent, recipient: str, mail_from: str) -> EmailMessage:
    """A plain-text email with an HTML alternative naming the task and when it was completed."""
    title = event.task_data.title
    when = completed_at_text(event)
    message = EmailMessage()
    set_subject(message, f"Task completed: {header_text(title)}")
    message["From"] = mail_from
    try:
        message["To"] = Address(addr_spec=recipient)
    except (ValueError, IndexError) as exc:
        raise PermanentMailError(f"invalid recipient address {recipient!r}: {exc}") from None
    message["Message-ID"] = message_id(event)
    message["X-Todo-Event-Id"] = str(event.event_id)
    message.set_content(f'Your task "{title}" was completed on {when}.\n\nTask #{event.task_id}\n')
    message.add_alternative(
        f"<html><body><p>Your task <strong>{html.escape(title)}</strong> was completed on "
        f"{html.escape(when)}.</p><p>Task #{event.task_id}</p></body></html>\n",
        subtype="html",
    )
    return message


def is_permanent_mail_error(exc: BaseException) -> bool:
    """Whether a send failure is about this message (5xx for the recipient or content), not the server."""
    if isinstance(exc, PermanentMailError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    return isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500


def is_transient_mail_error(exc: BaseException) -> bool:
    """Everything else SMTP or the network raises: server down, 4xx, auth misconfigured -- retry."""
    return isinstance(exc, smtplib.SMTPException | OSError) and not is_permanent_mail_error(exc)
