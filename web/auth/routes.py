"""The account API: register, login, refresh."""

from __future__ import annotations

from flask import Response, jsonify
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt_identity, jwt_required

from web.auth import bp
from web.auth.schemas import parse_credentials
from web.auth.services import EmailTaken, authenticate, register_user
from web.errors import ApiError, ValidationFailed
from web.extensions import db
from web.requests import json_body


@bp.post("/api/auth/register")
def register() -> tuple[Response, int]:
    """Create an account: 201, 409 when the email is taken, 422 for bad input."""
    credentials, errors = parse_credentials(json_body(), check_strength=True)
    if credentials is None:
        raise ValidationFailed(errors)
    try:
        user = register_user(session=db.session, email=credentials.email, password=credentials.password)
    except EmailTaken:
        raise ApiError(
            409, "email_taken", "an account with this email already exists", {"email": "taken"}
        ) from None
    return jsonify({"user_id": user.id, "email": user.email}), 201


@bp.post("/api/auth/login")
def login() -> Response:
    """Exchange credentials for an access and a refresh token."""
    credentials, errors = parse_credentials(json_body(), check_strength=False)
    if credentials is None:
        raise ValidationFailed(errors)
    user = authenticate(session=db.session, email=credentials.email, password=credentials.password)
    if user is None:
        raise ApiError(401, "invalid_credentials", "wrong email or password")
    return jsonify(
        {
            "access_token": create_access_token(identity=user.id),
            "refresh_token": create_refresh_token(identity=user.id),
            "token_type": "Bearer",
            "user_id": user.id,
        }
    )


@bp.post("/api/auth/refresh")
@jwt_required(refresh=True, locations=["headers"])
def refresh() -> Response:
    """Trade a refresh token for a new access token."""
    user_id = get_jwt_identity()
    return jsonify(
        {"access_token": create_access_token(identity=user_id), "token_type": "Bearer", "user_id": user_id}
    )
