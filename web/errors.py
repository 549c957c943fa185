"""The API's one error shape, produced here and reused by the JWT handlers.

Every API error is `{"error": {"code", "message", "fields"?}}`; pages get HTML instead.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_jwt_extended import unset_jwt_cookies
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, ServiceUnavailable

from web.extensions import db, jwt


class ApiError(Exception):
    """An error the API reports to the client as-is."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers: dict[str, str] = {}


class ValidationFailed(ApiError):
    """422 naming each offending field."""

    def __init__(self, fields: dict[str, str]) -> None:
        names = ", ".join(sorted(fields))
        super().__init__(422, "validation_failed", f"invalid fields: {names}", fields)


def json_error(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Response:
    """Render the API error body with the given status."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _wants_json() -> bool:
    """API paths always answer JSON."""
    return request.path.startswith("/api/")


def _handle_api_error(error: ApiError) -> Response:
    """Render an ApiError, with any headers it carries (Retry-After)."""
    response = json_error(error.status, error.code, error.message, error.fields)
    response.headers.update(error.headers)
    return response


def _handle_http_exception(error: HTTPException) -> Response | tuple[str, int]:
    """JSON for the API, an HTML page for everything else."""
    status = error.code or 500
    code = (error.name or "error").lower().replace(" ", "_")
    if _wants_json():
        return json_error(status, code, error.description or code)
    return render_template("errors/error.html", status=status, error=error), status


def _handle_too_large(error: RequestEntityTooLarge) -> Response | tuple[str, int]:
    """413 naming the body and the limit (MAX_CONTENT_LENGTH), so a client knows what to shrink."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if _wants_json():
        return json_error(
            413, "body_too_large", "the request body is too large", {"body": f"must be at most {limit} bytes"}
        )
    return render_template("errors/error.html", status=413, error=error), 413


def _handle_database_down(error: OperationalError) -> Response | tuple[str, int]:
    """503 with Retry-After while PostgreSQL is unreachable: a transient outage, not the request's fault.

    The session is rolled back so the connection pool drops the dead connection; the client may retry
    as soon as the server is back (web.database: SQLAlchemy replaces the pool's older connections).
    """
    current_app.logger.warning("database unavailable: %s", type(error.orig).__name__)
    _forget_dead_connection()
    if _wants_json():
        response = json_error(503, "database_unavailable", "the database is unavailable; retry shortly")
        response.headers["Retry-After"] = "1"
        return response
    page = ServiceUnavailable("The database is unavailable for a moment. Please try again shortly.")
    return render_template("errors/error.html", status=503, error=page), 503


def _forget_dead_connection(_error: BaseException | None = None) -> None:
    """Roll the session back, swallowing the error a dead connection raises on ROLLBACK.

    SQLAlchemy invalidates a connection whose ROLLBACK failed for a disconnect, so the session's
    own removal at teardown then finds nothing to roll back and cannot raise out of the request.
    """
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()


def _token_problem(code: str, message: str) -> Response:
    """401 in the API's shape; on pages, back to the login form with the cookies cleared."""
    if _wants_json():
        return json_error(401, code, message)
    response = make_response(redirect(url_for("auth.login_page", next=request.full_path.rstrip("?"))))
    unset_jwt_cookies(response)
    return response


def _register_jwt_handlers() -> None:
    """Every token problem is a 401 (API) or a trip to the login page (pages)."""

    @jwt.unauthorized_loader
    def _missing(reason: str) -> Response:
        return _token_problem("missing_token", reason)

    @jwt.invalid_token_loader
    def _invalid(reason: str) -> Response:
        return _token_problem("invalid_token", reason)

    @jwt.expired_token_loader
    def _expired(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return _token_problem("token_expired", "the token has expired")

    @jwt.revoked_token_loader
    def _revoked(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return _token_problem(
            "token_revoked", "the token was revoked (signed out, or a refresh token reused)"
        )

    @jwt.user_lookup_error_loader
    def _gone(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return _token_problem("invalid_token", "the token's account no longer exists")


def init_app(app: Flask) -> None:
    """Register the error handlers on the app."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(RequestEntityTooLarge, _handle_too_large)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(OperationalError, _handle_database_down)
    # Registered after Flask-SQLAlchemy's, so it runs before that removes the session.
    app.teardown_appcontext(_forget_dead_connection)
    _register_jwt_handlers()
