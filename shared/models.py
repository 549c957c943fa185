"""The data model both processes share, as plain SQLAlchemy 2.0 so the worker needs no Flask."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names keep Alembic migrations reproducible across servers.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_user_id() -> str:
    """A fresh opaque user id (the string the events and URLs carry)."""
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    """Declarative base whose metadata the migrations describe."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """An account; email is stored lower-cased so uniqueness ignores case."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_user_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Set when the owner followed the link mailed at registration; production mails only verified addresses.
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Task(Base):
    """A user's todo item."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    completed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OutboxEvent(Base):
    """An event written in the same transaction as its change, waiting to be published."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
        Index("ix_outbox_published_at", "published_at", postgresql_where=text("published_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    user_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set when the broker refused the event for good RELAY_MAX_ATTEMPTS times: the relay skips it
    # until `flask --app web outbox retry` clears this.
    parked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# The task's title and description as the search reads them, each with a pg_trgm index (migration
# 0013). SQL text, not SQLAlchemy expressions with bound keys: the planner matches an expression
# index only against the same constants, so queries use exactly these strings.
AUDIT_SEARCH_FIELDS = {
    "title": "(event_data['task_data'] ->> 'title')",
    "description": "(event_data['task_data'] ->> 'description')",
}


class AuditLog(Base):
    """One row per task event ever consumed, hash-chained per user (shared.audit_chain); append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("octet_length(prev_hash) = 32 AND octet_length(hash) = 32", name="hash_lengths"),
        Index("ix_audit_log_user_id_id", "user_id", "id"),
        Index("ix_audit_log_user_time", "user_id", "timestamp", "id"),
        Index("ix_audit_log_user_type_time", "user_id", "event_type", "timestamp", "id"),
        Index("ix_audit_log_task_time", "task_id", "timestamp", "id"),
        # pg_trgm: a rare word is found without reading a user's whole trail.
        *(
            Index(f"ix_audit_log_search_{name}", text(f"{sql} gin_trgm_ops"), postgresql_using="gin")
            for name, sql in AUDIT_SEARCH_FIELDS.items()
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    event_type: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(36))
    task_id: Mapped[int] = mapped_column(BigInteger)
    event_data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class SentNotification(Base):
    """A completion email claimed (sent_at NULL) or sent, so redelivery never mails twice.

    A claim whose mail was never sent (its worker died in between) is taken over once claimed_at
    is older than MAIL_CLAIM_TIMEOUT_SECONDS; claimed_by tells the holder whether it still holds it,
    and event_data is the event, so whoever takes over can build the same mail.
    """

    __tablename__ = "sent_notifications"
    __table_args__ = (
        Index("ix_sent_notifications_unsent", "claimed_at", postgresql_where=text("sent_at IS NULL")),
        Index("ix_sent_notifications_user_id", "user_id", "claimed_at"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36))
    task_id: Mapped[int] = mapped_column(BigInteger)
    recipient: Mapped[str] = mapped_column(String(254))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    event_data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class WebhookEndpoint(Base):
    """Where a user wants chosen task events POSTed, signed per the Standard Webhooks specification.

    failing_since marks the first failed attempt of an unbroken run of failures; an endpoint still
    failing a day later is disabled (disabled_at, disabled_reason) and the settings page says so.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(Base):
    """One event owed to one endpoint: pending until delivered, or failed for good.

    Per endpoint, deliveries go out in id order (the order the worker queued them, which is the
    user's event order); leased_until lets several workers share the work without sending twice.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("uq_webhook_deliveries_endpoint_event", "endpoint_id", "event_id", unique=True),
        Index(
            "ix_webhook_deliveries_pending", "endpoint_id", "id", postgresql_where=text("status = 'pending'")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
