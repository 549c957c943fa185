"""Validation of the account forms and JSON bodies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from web.requests import text_problem

MIN_PASSWORD = 8
MAX_PASSWORD = 1024


@dataclass(frozen=True)
class Credentials:
    """A validated email (normalised, lower-case) and password."""

    email: str
    password: str


def parse_credentials(
    body: dict[str, Any], *, check_strength: bool
) -> tuple[Credentials | None, dict[str, str]]:
    """Validate {email, password}; returns the credentials or the per-field errors."""
    errors: dict[str, str] = {}
    email = body.get("email")
    password = body.get("password")
    normalised = ""
    if not isinstance(email, str) or not email.strip():
        errors["email"] = "an email address is required"
    elif problem := text_problem(email):
        errors["email"] = problem
    else:
        try:
            normalised = validate_email(email.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            errors["email"] = str(exc)
    if not isinstance(password, str) or not password:
        errors["password"] = "a password is required"  # noqa: S105  (a message, not a secret)
    elif check_strength and len(password) < MIN_PASSWORD:
        errors["password"] = f"must be at least {MIN_PASSWORD} characters"
    elif len(password) > MAX_PASSWORD:
        errors["password"] = f"must be at most {MAX_PASSWORD} characters"
    elif problem := text_problem(password):
        errors["password"] = problem
    if errors:
        return None, errors
    return Credentials(email=normalised, password=str(password)), {}


# The JSON Schemas the OpenAPI document publishes, from the limits parse_credentials enforces.
def credentials_schema(*, check_strength: bool) -> dict[str, Any]:
    """The {email, password} body: registration also asks for MIN_PASSWORD characters."""
    password: dict[str, Any] = {"type": "string", "minLength": MIN_PASSWORD if check_strength else 1}
    password.update({"maxLength": MAX_PASSWORD, "pattern": r"^[^\u0000]*$"})
    return {
        "type": "object",
        "required": ["email", "password"],
        "properties": {
            "email": {"type": "string", "format": "email", "maxLength": 254},
            "password": password,
        },
    }


ACCOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["user_id", "email"],
    "properties": {"user_id": {"type": "string"}, "email": {"type": "string"}},
}
TOKENS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["access_token", "refresh_token", "token_type", "user_id"],
    "properties": {
        "access_token": {"type": "string"},
        "refresh_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "user_id": {"type": "string"},
    },
}
