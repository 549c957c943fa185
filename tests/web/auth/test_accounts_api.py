"""Registration, login and refresh through the JSON API."""

from datetime import timedelta

import jwt as pyjwt
import pytest
from sqlalchemy import delete, select

from shared.models import User


def test_register_returns_the_new_account(client):
    response = client.post("/api/auth/register", json={"email": "Ada@Example.com", "password": "longenough"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "ada@example.com"
    assert set(body) == {"user_id", "email"}


def test_password_is_stored_as_an_argon2id_hash(client, engine):
    client.post("/api/auth/register", json={"email": "ada@example.com", "password": "longenough"})
    with engine.connect() as conn:
        stored = conn.execute(select(User.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert "longenough" not in stored


def test_a_taken_email_is_409_whatever_its_case(client):
    client.post("/api/auth/register", json={"email": "ada@example.com", "password": "longenough"})
    response = client.post("/api/auth/register", json={"email": "ADA@example.com", "password": "longenough"})
    assert response.status_code == 409
    assert response.get_json()["error"]["fields"] == {"email": "taken"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "longenough"}, "email"),
        ({"email": "ada@example.com", "password": "short"}, "password"),
        ({"password": "longenough"}, "email"),
        ({"email": "ada@example.com"}, "password"),
        ({"email": 42, "password": "longenough"}, "email"),
        ({"email": "ada@example.com", "password": ["x"] * 9}, "password"),
    ],
)
def test_invalid_registration_is_422_naming_the_field(client, body, field):
    response = client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["fields"]


def test_a_body_that_is_not_json_is_400(client):
    response = client.post("/api/auth/register", data="email=a", content_type="text/plain")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_a_json_body_that_is_not_an_object_is_422(client):
    response = client.post("/api/auth/register", json=["ada@example.com", "longenough"])
    assert response.status_code == 422


def test_login_returns_bearer_tokens_whose_subject_is_the_user(client, auth, app):
    user = auth.register("ada@example.com", "longenough")
    response = client.post("/api/auth/login", json={"email": "ada@example.com", "password": "longenough"})
    body = response.get_json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["user_id"] == user.user_id
    claims = pyjwt.decode(body["access_token"], app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert claims["sub"] == user.user_id
    assert claims["type"] == "access"


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "ada@example.com", "password": "wrong password"},
        {"email": "nobody@example.com", "password": "longenough"},
    ],
)
def test_bad_credentials_are_401(client, auth, credentials):
    auth.register("ada@example.com", "longenough")
    response = client.post("/api/auth/login", json=credentials)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_credentials"


def test_refresh_issues_a_new_access_token(client, auth):
    user = auth.register()
    response = client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {user.refresh_token}"})
    assert response.status_code == 200
    new_token = response.get_json()["access_token"]
    listed = client.get(f"/api/{user.user_id}/tasks", headers={"Authorization": f"Bearer {new_token}"})
    assert listed.status_code == 200


def test_an_access_token_cannot_refresh(client, auth):
    user = auth.register()
    response = client.post("/api/auth/refresh", headers=user.headers)
    assert response.status_code == 401


def test_a_refresh_token_cannot_call_the_api(client, auth):
    user = auth.register()
    response = client.get(
        f"/api/{user.user_id}/tasks", headers={"Authorization": f"Bearer {user.refresh_token}"}
    )
    assert response.status_code == 401


def _forge(app, claims_change, secret=None):
    from flask_jwt_extended import create_access_token

    with app.app_context():
        token = create_access_token(identity="someone", expires_delta=timedelta(minutes=5))
    claims = pyjwt.decode(token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    claims.update(claims_change)
    return pyjwt.encode(claims, secret or app.config["JWT_SECRET_KEY"], algorithm="HS256")


def test_expired_forged_tampered_and_malformed_tokens_are_401(client, auth, app):
    user = auth.register()
    url = f"/api/{user.user_id}/tasks"
    expired = _forge(app, {"sub": user.user_id, "exp": 1})
    forged = _forge(app, {"sub": user.user_id}, secret="another-secret-of-at-least-32-bytes!")
    header, _payload, signature = user.access_token.split(".")
    tampered_payload = _forge(app, {"sub": "intruder"}).split(".")[1]
    tampered = f"{header}.{tampered_payload}.{signature}"
    cases = {
        "token_expired": expired,
        "invalid_token": forged,
    }
    for code, token in cases.items():
        response = client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, code
        assert response.get_json()["error"]["code"] == code
    for token in (tampered, "not.a.jwt", "garbage"):
        assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.get(url, headers={"Authorization": "Token abc"}).status_code == 401
    missing = client.get(url)
    assert missing.status_code == 401
    assert missing.get_json()["error"]["code"] == "missing_token"


def test_a_valid_token_whose_account_is_gone_is_401_not_a_500(client, auth, engine):
    user = auth.register()
    with engine.begin() as conn:
        conn.execute(delete(User).where(User.id == user.user_id))
    response = client.post(f"/api/{user.user_id}/tasks", json={"title": "orphan"}, headers=user.headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"
