"""Tables only the web app uses: the token denylist and the sign-in rate-limit counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models import Base


class RevokedToken(Base):
    """A revoked token (its jti) or a whole session family ("family:<id>"), kept until it would expire."""

    __tablename__ = "revoked_tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class RateLimit(Base):
    """Attempts counted for one key (action and client, or action and account) in its current window."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    hits: Mapped[int] = mapped_column(Integer)
