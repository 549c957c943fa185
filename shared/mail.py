"""One way to hand a message to the configured SMTP server, for the worker's mail and the web's links.

The completion mails (streams/notifications) and the verification link (web/auth) go through the same
server with the same security: STARTTLS verifying the certificate and the name, then the login.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import Message

from shared.settings import Settings

SMTP_TIMEOUT_SECONDS = 15.0


class MailConnection:
    """One SMTP connection for a run of messages, opened at the first send and again after a failure.

    The worker mails a batch of completions over one connection: a new connection per message (TCP,
    greeting, EHLO, STARTTLS, login, QUIT) cost more than the message itself (issue 9). A failed send
    closes the connection, so the retry of that message starts on a fresh one.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: Message) -> None:
        """Deliver one message (blocking; run it in a thread)."""
        try:
            self._connected().send_message(message)
        except BaseException:
            self._drop()
            raise

    def close(self) -> None:
        """Say goodbye to the server, if connected; a connection that already broke is just dropped."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                self._drop()

    def __enter__(self) -> MailConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _connected(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = _open(self._settings)
        return self._smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


def _open(settings: Settings) -> smtplib.SMTP:
    """A connection ready to send: STARTTLS verifying the certificate and the name, then the login."""
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if settings.smtp_starttls:
            # smtplib's default context checks neither the certificate nor the name: verify both.
            smtp.starttls(context=ssl.create_default_context(cafile=settings.smtp_ssl_cafile or None))
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def send_message(*, message: Message, settings: Settings) -> None:
    """Deliver one message through the configured SMTP server on a connection of its own (blocking)."""
    with MailConnection(settings) as connection:
        connection.send(message)
