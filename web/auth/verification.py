"""Email verification: a signed, expiring link mailed at registration; following it marks the address.

Only sent when completion mail requires a verified address (MAIL_REQUIRE_VERIFIED, on in production),
so `make run` stays quiet. A send failure is logged and does not fail the registration: the account
works, it just gets no completion mail until the address is verified.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.db import SessionLike
from shared.mail import send_message
from shared.models import User
from shared.settings import Settings

SALT = "verify-email"
MAX_AGE_SECONDS = 7 * 24 * 3600
log = logging.getLogger(__name__)


def _serializer() -> URLSafeTimedSerializer:
    """Links signed with the app's SECRET_KEY, for this purpose only."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def verification_link(user: User) -> str:
    """The absolute link that verifies this account's current address."""
    token = _serializer().dumps({"u": user.id, "e": user.email})
    return url_for("auth.verify_email", token=token, _external=True)


def confirm(*, session: SessionLike, token: str) -> User | None:
    """Mark the address the link was made for as verified; None for a bad, expired or stale link."""
    try:
        data = _serializer().loads(token, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    user = session.get(User, data.get("u")) if isinstance(data, dict) else None
    if user is None or user.email != data.get("e"):
        return None
    if user.email_verified_at is None:
        user.email_verified_at = datetime.now(UTC)
        session.commit()
    return user


def _message(user: User, settings: Settings) -> EmailMessage:
    """The plain-text mail carrying the link."""
    message = EmailMessage()
    message["Subject"] = "Confirm your email address"
    message["From"] = settings.mail_from
    message["To"] = user.email
    message.set_content(
        "Follow this link to confirm your address and get completion emails:\n\n"
        f"{verification_link(user)}\n\nIf you did not create an account, ignore this mail.\n"
    )
    return message


def send_verification(user: User) -> bool:
    """Mail the link when verification is required; False when it was not needed or could not be sent."""
    settings: Settings = current_app.config["TODO_SETTINGS"]
    if not settings.requires_verified_email:
        return False
    message = _message(user, settings)
    try:
        send_message(message=message, settings=settings)
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("verification mail for account %s not sent: %s", user.id, exc)
        return False
    return True
