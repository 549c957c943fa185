"""One way to hand a message to the configured SMTP server, for the worker's mail and the web's links.

The completion mails (streams/notifications) and the verification link (web/auth) go through the same
server with the same security: STARTTLS verifying the certificate and the name, then the login.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from shared.settings import Settings

SMTP_TIMEOUT_SECONDS = 15.0


def send_message(*, message: EmailMessage, settings: Settings) -> None:
    """Deliver one message through the configured SMTP server (blocking; run it in a thread)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            # smtplib's default context checks neither the certificate nor the name: verify both.
            smtp.starttls(context=ssl.create_default_context(cafile=settings.smtp_ssl_cafile or None))
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)
