"""web/jwt_manager.py: one verified decode per token, with exactly the library's answers and errors."""

from __future__ import annotations

import hashlib
import inspect
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    default_callbacks,
    tokens,
)

from tests.conftest import AuthActions
from web.extensions import jwt
from web.jwt_manager import SingleDecodeJWTManager

# What web/jwt_manager.py was written against (flask-jwt-extended 4.7.4). A change here means the
# library's decoding changed under the override: re-read these three, adapt the override, then
# record the new digests.
LIBRARY_SOURCES = {
    "JWTManager._decode_jwt_from_config": "f72f79921e45f5bc",
    "_decode_jwt": "a85a54d6b2126079",
    "default_decode_key_callback": "d86a11f3362ae1c4",
}


def _digest(function: Callable[..., Any]) -> str:
    """A short digest of a function's source."""
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def test_the_library_still_decodes_the_way_the_override_was_written_against() -> None:
    """The private method replaced, the helper it calls and the default key callback are unchanged."""
    functions = (
        JWTManager._decode_jwt_from_config,
        tokens._decode_jwt,
        default_callbacks.default_decode_key_callback,
    )
    assert {function.__qualname__: _digest(function) for function in functions} == LIBRARY_SOURCES


@pytest.fixture
def in_request(app: Flask) -> Iterator[Flask]:
    """A request context of the app (the library reads its configuration from current_app)."""
    with app.test_request_context():
        yield app


def _outcome(decode: Callable[[], dict[str, Any]]) -> tuple[Any, ...]:
    """The claims, or the error's type, message and the header and claims an expired token carries."""
    try:
        return ("claims", decode())
    except Exception as exc:
        return (type(exc), str(exc), getattr(exc, "jwt_header", None), getattr(exc, "jwt_data", None))


def _tokens(app: Flask) -> dict[str, tuple[str, str | None, bool]]:
    """Tokens good and bad, each with the CSRF value and allow_expired to decode it with."""
    secret = app.config["JWT_SECRET_KEY"]
    later = datetime.now(UTC) + timedelta(minutes=5)
    expired = create_access_token(identity="u-1", expires_delta=timedelta(seconds=-30))
    return {
        "access": (create_access_token(identity="u-1", additional_claims={"fam": "f"}), None, False),
        "refresh": (create_refresh_token(identity="u-1"), None, False),
        "expired": (expired, None, False),
        "expired, allowed": (expired, None, True),
        "other secret": (
            pyjwt.encode({"sub": "u-1", "exp": later}, "x" * 32),
            None,
            False,
        ),
        "unsigned": (pyjwt.encode({"sub": "u-1"}, None, algorithm="none"), None, False),
        "malformed": ("not.a.token", None, False),
        "no subject": (pyjwt.encode({"jti": "j", "exp": later}, secret), None, False),
        "csrf matches": (pyjwt.encode({"sub": "u-1", "csrf": "c-1"}, secret), "c-1", False),
        "csrf differs": (pyjwt.encode({"sub": "u-1", "csrf": "c-1"}, secret), "c-2", False),
        "csrf missing": (pyjwt.encode({"sub": "u-1"}, secret), "c-1", False),
    }


def test_every_token_gets_the_librarys_own_answer(in_request: Flask) -> None:
    """Claims, or the same error with the same message (and the expired token's header and claims)."""
    assert isinstance(jwt, SingleDecodeJWTManager)
    for name, (token, csrf, allow_expired) in _tokens(in_request).items():
        library = _outcome(lambda: JWTManager._decode_jwt_from_config(jwt, token, csrf, allow_expired))  # noqa: B023
        for attempt in ("first", "again, verified before"):
            ours = _outcome(lambda: jwt._decode_jwt_from_config(token, csrf, allow_expired))  # noqa: B023
            assert ours == library, (name, attempt)
    assert _outcome(lambda: jwt._decode_jwt_from_config(_tokens(in_request)["expired"][0]))[0] is (
        pyjwt.ExpiredSignatureError
    )


def test_a_custom_key_loader_is_still_asked(in_request: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a decode-key callback of one's own, the library's path runs: the callback sees the token."""
    asked: list[str] = []

    def key(header: dict[str, Any], claims: dict[str, Any]) -> str:
        asked.append(claims["sub"])
        return str(in_request.config["JWT_SECRET_KEY"])

    token = create_access_token(identity="u-7")
    monkeypatch.setattr(jwt, "_decode_key_callback", key)
    assert jwt._decode_jwt_from_config(token)["sub"] == "u-7"
    assert asked == ["u-7"]


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count PyJWT's verified decodes (each still runs)."""
    calls: list[str] = []
    original = pyjwt.PyJWT.decode_complete

    def counting(self: pyjwt.PyJWT, token: str | bytes, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append("decode")
        return original(self, token, *args, **kwargs)

    monkeypatch.setattr(pyjwt.PyJWT, "decode_complete", counting)
    return calls


def test_an_authenticated_request_decodes_its_token_once(
    client: FlaskClient, auth: AuthActions, decodes: list[str]
) -> None:
    """One PyJWT decode for a new token (the library alone made two, plus two header parses), none after."""
    user = auth.register()
    assert client.get(f"/api/{user.user_id}/tasks", headers=user.headers).status_code == 200
    assert decodes == ["decode"]
    assert client.get(f"/api/{user.user_id}/tasks", headers=user.headers).status_code == 200
    assert decodes == ["decode"]


def test_a_token_verified_before_is_not_decoded_again_until_it_expires(
    in_request: Flask, decodes: list[str]
) -> None:
    """The claims come back (a copy each time) without PyJWT; once exp passes, the library's error."""
    token = create_access_token(identity="u-1", expires_delta=timedelta(seconds=1))
    first = jwt._decode_jwt_from_config(token)
    first["sub"] = "someone else"
    assert jwt._decode_jwt_from_config(token)["sub"] == "u-1"
    assert len(decodes) == 1
    time.sleep(1.1)
    library = _outcome(lambda: JWTManager._decode_jwt_from_config(jwt, token))
    assert library[0] is pyjwt.ExpiredSignatureError
    assert _outcome(lambda: jwt._decode_jwt_from_config(token)) == library


def test_a_token_verified_under_another_secret_is_decoded_again(
    in_request: Flask, decodes: list[str]
) -> None:
    """The settings are part of what was verified: a new key checks the signature afresh."""
    token = create_access_token(identity="u-1")
    jwt._decode_jwt_from_config(token)
    in_request.config["JWT_SECRET_KEY"] = "y" * 32
    with pytest.raises(pyjwt.InvalidSignatureError):
        jwt._decode_jwt_from_config(token)
    assert len(decodes) == 2
