"""The completion email: building it, sending it over SMTP, and telling transient failures from permanent."""

from __future__ import annotations

import html
import smtplib
import unicodedata
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from shared.events import TaskEvent


class PermanentMailError(Exception):
    """The mail can never be delivered as it is (bad address, content refused)."""


def completed_at_text(event: TaskEvent) -> str:
    """The completion time as people read it, in UTC."""
    return event.timestamp.strftime("%Y-%m-%d %H:%M UTC")


def header_text(text: str) -> str:
    """Text safe in a header: control characters and line or paragraph separators become spaces."""
    return "".join(" " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in text)


def set_subject(message: Message, subject: str) -> None:
    """Set the Subject so that it reads back exactly, whatever the text.

    Non-ASCII text is encoded whole as encoded words: Python's own folding (3.11) drops a space that
    falls where it splits non-ASCII text into encoded words ("… ¡" arrived as "…¡"; found by
    tests/streams/test_properties.py), while decoders keep every space inside an encoded word.
    """
    message["Subject"] = (
        subject if subject.isascii() else Header(subject, "utf-8", header_name="Subject").encode()
    )


def message_id(event: TaskEvent) -> str:
    """A Message-ID derived from the event alone, so a repeated send is recognisable downstream."""
    return f"<{event.event_id}.{event.event_type}@todo-platform>"


def build_completion_message(*, event: TaskEvent, recipient: str, mail_from: str) -> Message:
    """A plain-text email with an HTML alternative naming the task and when it was completed.

    Built with the email package's compat32 classes: the EmailMessage API parses every header it is
    given and picks each body's encoding by trying them all, which took ~1.5 ms a mail, a fifth of
    the worker's busy time while mailing a backlog (issue 9); this takes ~0.1 ms. The recipient is
    still checked with the strict parser, and a body that is not ASCII goes as UTF-8 in base64.
    """
    title = event.task_data.title
    when = completed_at_text(event)
    try:
        to = str(Address(addr_spec=recipient))
    except (ValueError, IndexError) as exc:
        raise PermanentMailError(f"invalid recipient address {recipient!r}: {exc}") from None
    message = MIMEMultipart("alternative")
    set_subject(message, f"Task completed: {header_text(title)}")
    message["From"] = mail_from
    message["To"] = to
    message["Message-ID"] = message_id(event)
    message["X-Todo-Event-Id"] = str(event.event_id)
    message.attach(_text(f'Your task "{title}" was completed on {when}.\n\nTask #{event.task_id}\n', "plain"))
    message.attach(
        _text(
            f"<html><body><p>Your task <strong>{html.escape(title)}</strong> was completed on "
            f"{html.escape(when)}.</p><p>Task #{event.task_id}</p></body></html>\n",
            "html",
        )
    )
    return message


def _text(body: str, subtype: str) -> MIMEText:
    """A text part: 7-bit when the text is ASCII, UTF-8 in base64 otherwise."""
    return MIMEText(body, subtype, "us-ascii" if body.isascii() else "utf-8")


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
