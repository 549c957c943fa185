"""Accounts in the database: registration and password checks (argon2id, memory-hard).

Each hash takes 64 MiB (argon2-cffi's RFC 9106 low-memory profile). Rather than weaken the
parameters, a process computes at most PASSWORD_HASH_CONCURRENCY hashes at once, so a burst of
sign-ins costs a web process at most that many times 64 MiB; the rest wait for a slot, and after
HASH_WAIT_SECONDS get a 503 with Retry-After instead of queueing without end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared.db import SessionLike
from shared.models import User
from web.errors import ApiError

_hasher = PasswordHasher()
# Verified when the email is unknown, so a miss costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


HASH_WAIT_SECONDS = 10.0
_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


class EmailTaken(Exception):
    """The email already belongs to an account."""


@contextmanager
def _hash_slot() -> Iterator[None]:
    """Hold one of the process's PASSWORD_HASH_CONCURRENCY hashing slots; 503 when none frees up."""
    size = current_app.config["TODO_SETTINGS"].password_hash_concurrency
    with _slots_lock:
        slots = _slots.setdefault(size, threading.BoundedSemaphore(size))
    if not slots.acquire(timeout=HASH_WAIT_SECONDS):
        error = ApiError(503, "busy", "too many sign-ins at once; try again shortly")
        error.headers = {"Retry-After": "1"}
        raise error
    try:
        yield
    finally:
        slots.release()


def hash_password(password: str) -> str:
    """An argon2id hash of the password with a fresh salt."""
    with _hash_slot():
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
        with _hash_slot():
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
