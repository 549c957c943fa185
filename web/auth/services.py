"""Accounts in the database: registration and password checks (argon2id, memory-hard)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared.db import SessionLike
from shared.models import User

_hasher = PasswordHasher()
# Verified when the email is unknown, so a miss costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class EmailTaken(Exception):
    """The email already belongs to an account."""


def hash_password(password: str) -> str:
    """An argon2id hash of the password with a fresh salt."""
    return _hasher.hash(password)


def register_user(*, session: SessionLike, email: str, password: str) -> User:
    """Create an account, or raise EmailTaken (also when a concurrent request won the race)."""
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken(email)
    user = User(email=email, password_hash=hash_password(password))
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise EmailTaken(email) from None
    return user


def authenticate(*, session: SessionLike, email: str, password: str) -> User | None:
    """The account for these credentials, or None; rehashes when the parameters changed."""
    user = session.scalar(select(User).where(User.email == email))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.commit()
    return user


def get_user(*, session: SessionLike, user_id: str) -> User | None:
    """The account with this id, if any."""
    return session.get(User, user_id)


def set_email_notifications(*, session: SessionLike, user_id: str, enabled: bool) -> None:
    """Turn completion emails on or off for an account."""
    user = session.get(User, user_id)
    if user is not None:
        user.email_notifications = enabled
        session.commit()
