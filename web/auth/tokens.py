"""Token pairs, rotation and revocation: a denylist in PostgreSQL checked on every request.

Every login starts a session *family*: its access and refresh tokens carry the same `fam` claim, and
so does every pair the refresh token is rotated into. Logging out revokes the family (the presented
token, its pair, and anything rotated from them). A refresh token is single use: using it records its
jti as "rotated"; presenting it again means it was copied, so the whole family is revoked.
Rows are kept only until the token they name would have expired anyway, then pruned.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import Table, bindparam, delete, literal_column, select
from sqlalchemy.dialects.postgresql import insert

from shared.db import SessionLike
from shared.driver import DriverStatement
from shared.models import User
from web.auth.models import RevokedToken

FAMILY_CLAIM = "fam"
ROTATED, LOGOUT, REUSED = "rotated", "logout", "reused"


def issue_pair(*, user_id: str, family: str | None = None) -> dict[str, str]:
    """A fresh access and refresh token for a session family (a new family when none is given)."""
    claims = {FAMILY_CLAIM: family or str(uuid.uuid4())}
    return {
        "access_token": create_access_token(identity=user_id, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=user_id, additional_claims=claims),
    }


def _family_key(payload: dict[str, Any]) -> str | None:
    """The denylist key of the token's family, if it has one."""
    family = payload.get(FAMILY_CLAIM)
    return f"family:{family}" if isinstance(family, str) else None


def _expiry(payload: dict[str, Any]) -> datetime:
    """When the token expires (its own exp claim)."""
    return datetime.fromtimestamp(int(payload["exp"]), tz=UTC)


def _family_expiry() -> datetime:
    """A family outlives any token issued before it was revoked by at most one refresh lifetime."""
    lifetime: timedelta = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    return datetime.now(UTC) + lifetime


def _deny(session: SessionLike, token_id: str, reason: str, expires_at: datetime) -> bool:
    """Add one denylist row; False when it was already there. Prunes rows past their expiry."""
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < datetime.now(UTC)))
    statement = (
        insert(RevokedToken)
        .values(token_id=token_id, reason=reason, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["token_id"])
        .returning(RevokedToken.token_id)
    )
    return session.execute(statement).first() is not None


def revoke_session(*, session: SessionLike, payload: dict[str, Any], reason: str = LOGOUT) -> None:
    """Revoke the token and its whole family (its pair and every rotation of it)."""
    _deny(session, str(payload["jti"]), reason, _expiry(payload))
    family = _family_key(payload)
    if family:
        _deny(session, family, reason, _family_expiry())
    session.commit()


def rotate(*, session: SessionLike, payload: dict[str, Any]) -> bool:
    """Use up a refresh token; False (and the family revoked) when it was already used."""
    first_use = _deny(session, str(payload["jti"]), ROTATED, _expiry(payload))
    session.commit()
    if not first_use:
        revoke_session(session=session, payload=payload, reason=REUSED)
    return first_use


@dataclass(frozen=True)
class Standing:
    """What the denylist holds for a token and for its family, and the token's account (None if gone)."""

    token_reason: str | None
    family_reason: str | None
    user: User | None


_users = cast(Table, User.__table__)
_revoked = cast(Table, RevokedToken.__table__)
_token_row, _family_row = _revoked.alias("token_row"), _revoked.alias("family_row")
_ACCOUNT_FIELDS = tuple(_users.c.keys())
# Every request asks this, so it is one round trip and one statement built once: the account and both
# denylist rows, each a primary-key lookup outer-joined to a single row (present or not), with fixed
# parameters so SQLAlchemy compiles it once per process (a NULL family key simply matches nothing).
# Core rather than ORM: loading through the session cost ~6% of an authenticated request's CPU; and
# run on the driver (shared.driver.DriverStatement), as SQLAlchemy's execution cost more than psycopg's.
_STANDING = DriverStatement(
    select(_token_row.c.reason, _family_row.c.reason, *_users.c)
    .select_from(select(literal_column("1").label("one")).subquery("one"))
    .outerjoin(_users, _users.c.id == bindparam("sub", type_=User.id.type))
    .outerjoin(_token_row, _token_row.c.token_id == bindparam("jti", type_=RevokedToken.token_id.type))
    .outerjoin(_family_row, _family_row.c.token_id == bindparam("family", type_=RevokedToken.token_id.type))
)


def token_standing(*, session: SessionLike, payload: dict[str, Any]) -> Standing:
    """The token's and its family's denylist reasons and its account, read in one statement.

    Read outside the request's transaction when it is the request's first statement (no BEGIN
    round trip): each statement sees the latest commits anyway, so a revocation counts at once.
    """
    params = {"sub": str(payload["sub"]), "jti": str(payload.get("jti")), "family": _family_key(payload)}
    ((token_reason, family_reason, *account),) = _STANDING.execute(session=session, params=params, alone=True)
    fields = dict(zip(_ACCOUNT_FIELDS, account, strict=True))
    user = User(**fields) if fields["id"] is not None else None  # detached: a copy for this request
    return Standing(token_reason=token_reason, family_reason=family_reason, user=user)


def is_revoked(*, session: SessionLike, payload: dict[str, Any], standing: Standing) -> bool:
    """Whether the token or its family is denied; a used refresh token shown again revokes its family."""
    if standing.token_reason is None and standing.family_reason is None:
        return False
    reused = standing.token_reason == ROTATED and standing.family_reason is None
    if payload.get("type") == "refresh" and reused:
        revoke_session(session=session, payload=payload, reason=REUSED)
    return True
