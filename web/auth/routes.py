"""The account API: register, login, refresh (rotating), logout (revoking)."""

from __future__ import annotations

from flask import Response, jsonify
from flask_jwt_extended import get_jwt, get_jwt_identity, jwt_required

from web.auth import bp
from web.auth.schemas import parse_credentials
from web.auth.services import EmailTaken, authenticate, register_user
from web.auth.throttle import throttle
from web.auth.tokens import FAMILY_CLAIM, issue_pair, revoke_session, rotate
from web.auth.verification import send_verification
from web.errors import ApiError, ValidationFailed
from web.extensions import db
from web.requests import json_body


def _email_key(body: dict[str, object]) -> str | None:
    """The account an attempt is aimed at, as typed (lower-cased), even if it will not validate."""
    email = body.get("email")
    return email.strip().lower() if isinstance(email, str) and email.strip() else None


@bp.post("/api/auth/register")
def register() -> tuple[Response, int]:
    """Create an account: 201, 409 when the email is taken, 422 for bad input."""
    body = json_body()
    throttle(session=db.session, action="register", account=_email_key(body))
    credentials, errors = parse_credentials(body, check_strength=True)
    if credentials is None:
        raise ValidationFailed(errors)
    try:
        user = register_user(session=db.session, email=credentials.email, password=credentials.password)
    except EmailTaken:
        raise ApiError(
            409, "email_taken", "an account with this email already exists", {"email": "taken"}
        ) from None
    send_verification(user)
    return jsonify({"user_id": user.id, "email": user.email}), 201


@bp.post("/api/auth/login")
def login() -> Response:
    """Exchange credentials for an access and a refresh token."""
    body = json_body()
    throttle(session=db.session, action="login", account=_email_key(body))
    credentials, errors = parse_credentials(body, check_strength=False)
    if credentials is None:
        raise ValidationFailed(errors)
    user = authenticate(session=db.session, email=credentials.email, password=credentials.password)
    if user is None:
        raise ApiError(401, "invalid_credentials", "wrong email or password")
    return jsonify({**issue_pair(user_id=user.id), "token_type": "Bearer", "user_id": user.id})


@bp.post("/api/auth/refresh")
@jwt_required(refresh=True, locations=["headers"])
def refresh() -> Response:
    """Trade a refresh token, once, for a new pair; a second use revokes the whole session."""
    claims = get_jwt()
    throttle(session=db.session, action="refresh", account=str(claims["sub"]))
    if not rotate(session=db.session, payload=claims):
        raise ApiError(401, "token_revoked", "this refresh token was already used; the session is revoked")
    user_id = str(get_jwt_identity())
    pair = issue_pair(user_id=user_id, family=claims.get(FAMILY_CLAIM))
    return jsonify({**pair, "token_type": "Bearer", "user_id": user_id})


@bp.post("/api/auth/logout")
@jwt_required(locations=["headers"], verify_type=False)
def logout_api() -> tuple[str, int]:
    """Revoke the presented token (access or refresh) and the rest of its session: 204."""
    revoke_session(session=db.session, payload=get_jwt())
    return "", 204
