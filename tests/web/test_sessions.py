"""The session cookie: untouched by requests without one, Flask's signed cookie for the pages' forms."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import AuthActions
from tests.web.test_pages import PASSWORD, page_token, set_cookie_headers, sign_up

SESSION = "session"


def _login(client: FlaskClient, token: str) -> int:
    """Post the login form with this CSRF token; the status."""
    data = {"csrf_token": token, "email": "session@example.com", "password": PASSWORD}
    return client.post("/login", data=data).status_code


def test_a_bearer_api_request_gets_no_session_cookie_and_no_vary(
    client: FlaskClient, auth: AuthActions
) -> None:
    user = auth.register()
    response = client.post(f"/api/{user.user_id}/tasks", json={"title": "t"}, headers=user.headers)
    assert response.status_code == 201
    assert SESSION not in set_cookie_headers(response)
    assert "Cookie" not in response.headers.get("Vary", "")


def test_a_form_token_is_kept_in_the_signed_session_cookie_and_read_back(client: FlaskClient) -> None:
    sign_up(client, "session@example.com")
    client.post("/logout", data={"csrf_token": page_token(client, "/")})
    token = page_token(client)
    assert client.get_cookie(SESSION) is not None
    assert _login(client, token) == 303


def test_a_form_without_its_session_cookie_or_with_a_forged_one_is_refused(client: FlaskClient) -> None:
    sign_up(client, "session@example.com")
    client.post("/logout", data={"csrf_token": page_token(client, "/")})
    token = page_token(client)
    client.delete_cookie(SESSION)
    assert _login(client, token) == 400
    client.set_cookie(SESSION, "forged.value.signature")
    assert _login(client, token) == 400
