"""The account pages and the layout, through the test client with real CSRF tokens and cookies."""

from __future__ import annotations

import re

import pytest
from flask import Blueprint, Flask, render_template
from flask.testing import FlaskClient
from sqlalchemy import Engine, delete, select

from shared.models import User

PASSWORD = "correct horse battery"
ACCESS, REFRESH = "access_token_cookie", "refresh_token_cookie"


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a rendered page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def page_token(client: FlaskClient, path: str = "/login") -> str:
    """Load a page and take its form's CSRF token, as a browser would."""
    response = client.get(path)
    assert response.status_code == 200
    return csrf_token(response.get_data(as_text=True))


def sign_up(client: FlaskClient, email: str = "page@example.com", password: str = PASSWORD) -> None:
    """Register through the page (which also signs in)."""
    data = {"csrf_token": page_token(client, "/register"), "email": email, "password": password}
    response = client.post("/register", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)


def set_cookie_headers(response: object) -> dict[str, str]:
    """The Set-Cookie headers of a response, by cookie name."""
    headers = response.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    return {header.split("=", 1)[0]: header for header in headers}


def test_visitor_is_sent_to_login(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_register_sets_httponly_cookies_and_shows_the_list(client: FlaskClient, engine: Engine) -> None:
    data = {"csrf_token": page_token(client, "/register"), "email": "New@Example.com", "password": PASSWORD}
    response = client.post("/register", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    cookies = set_cookie_headers(response)
    for name in (ACCESS, REFRESH):
        assert "HttpOnly" in cookies[name]
        assert "SameSite=Lax" in cookies[name]
    home = client.get("/")
    assert home.status_code == 200
    assert "Welcome! Your account is ready." in home.get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.scalar(select(User.email)) == "new@example.com"


@pytest.mark.parametrize(
    ("email", "password", "status", "message"),
    [
        ("not-an-email", PASSWORD, 422, "An email address must have an @-sign."),
        ("short@example.com", "short", 422, "Must be at least 8 characters"),
        ("", "", 422, "An email address is required"),
    ],
)
def test_register_errors_rerender_the_form(
    client: FlaskClient, email: str, password: str, status: int, message: str
) -> None:
    data = {"csrf_token": page_token(client, "/register"), "email": email, "password": password}
    response = client.post("/register", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in html
    assert 'aria-invalid="true"' in html
    assert ACCESS not in set_cookie_headers(response)


def test_register_taken_email_is_409(client: FlaskClient) -> None:
    sign_up(client, "taken@example.com")
    client.post("/logout", data={"csrf_token": page_token(client, "/")})
    data = {"csrf_token": page_token(client, "/register"), "email": "taken@example.com", "password": PASSWORD}
    response = client.post("/register", data=data)
    assert response.status_code == 409
    assert "already exists" in response.get_data(as_text=True)


def test_login_and_logout_set_and_clear_cookies(client: FlaskClient) -> None:
    sign_up(client, "in-out@example.com")
    client.post("/logout", data={"csrf_token": page_token(client, "/")})
    assert client.get_cookie(ACCESS) is None
    data = {"csrf_token": page_token(client), "email": "in-out@example.com", "password": PASSWORD}
    response = client.post("/login", data=data)
    assert response.status_code == 303
    assert "HttpOnly" in set_cookie_headers(response)[ACCESS]
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": page_token(client, "/")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    for name in (ACCESS, REFRESH):
        assert "Expires=Thu, 01 Jan 1970" in set_cookie_headers(response)[name]
        assert client.get_cookie(name) is None
    assert client.get("/").status_code == 302


def test_login_wrong_password_is_401_without_cookies(client: FlaskClient) -> None:
    sign_up(client, "wrong@example.com")
    client.post("/logout", data={"csrf_token": page_token(client, "/")})
    data = {"csrf_token": page_token(client), "email": "wrong@example.com", "password": "not the password"}
    response = client.post("/login", data=data)
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert 'value="wrong@example.com"' in response.get_data(as_text=True)
    assert ACCESS not in set_cookie_headers(response)


def test_login_follows_a_local_next(client: FlaskClient) -> None:
    sign_up(client, "next@example.com")
    client.post("/logout", data={"csrf_token": page_token(client, "/")})
    form = client.get("/login?next=/settings").get_data(as_text=True)
    assert 'name="next" value="/settings"' in form
    data = {"csrf_token": csrf_token(form), "email": "next@example.com", "password": PASSWORD}
    data["next"] = "/settings"
    response = client.post("/login", data=data)
    assert response.headers["Location"] == "/settings"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "x",
    ],
)
def test_login_refuses_an_open_redirect(client: FlaskClient, target: str) -> None:
    sign_up(client, "open@example.com")
    client.post("/logout", data={"csrf_token": page_token(client, "/")})
    form = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert 'name="next"' not in form
    data = {"csrf_token": csrf_token(form), "email": "open@example.com", "password": PASSWORD, "next": target}
    response = client.post("/login", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("path", ["/login", "/register", "/logout"])
def test_visitor_forms_without_csrf_token_are_rejected(client: FlaskClient, path: str) -> None:
    response = client.post(path, data={"email": "csrf@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert ACCESS not in set_cookie_headers(response)


def test_settings_toggle_persists(client: FlaskClient, engine: Engine) -> None:
    sign_up(client, "settings@example.com")
    page = client.get("/settings").get_data(as_text=True)
    assert "settings@example.com" in page
    assert re.search(r'id="email_notifications"[^>]*checked', page)
    response = client.post("/settings", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    with engine.connect() as conn:
        assert conn.scalar(select(User.email_notifications)) is False
    page = client.get("/settings").get_data(as_text=True)
    assert "Completion emails are off." in page
    assert not re.search(r'id="email_notifications"[^>]*checked', page)
    client.post("/settings", data={"csrf_token": csrf_token(page), "email_notifications": "on"})
    with engine.connect() as conn:
        assert conn.scalar(select(User.email_notifications)) is True


def test_settings_without_csrf_token_changes_nothing(client: FlaskClient, engine: Engine) -> None:
    sign_up(client, "settings-csrf@example.com")
    assert client.post("/settings", data={}).status_code == 400
    with engine.connect() as conn:
        assert conn.scalar(select(User.email_notifications)) is True


def test_pages_have_titles_landmarks_and_labels(client: FlaskClient) -> None:
    sign_up(client, "a11y@example.com")
    for path, title in [("/", "Your tasks"), ("/settings", "Settings")]:
        html = client.get(path).get_data(as_text=True)
        assert f"<title>{title} · Todo</title>" in html
        assert '<html lang="en">' in html
        assert 'href="#main"' in html
        assert '<main id="main"' in html
        assert 'role="status" aria-live="polite"' in html
        for field_id in re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html):
            assert f'for="{field_id}"' in html, f"{path}: #{field_id} has no label"


def test_unknown_page_renders_the_error_layout(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "<title>404 Not Found · Todo</title>" in html
    assert "<main" in html


def test_audit_link_shows_when_the_audit_page_exists(app: Flask, client: FlaskClient) -> None:
    if "audit.audit_page" not in app.view_functions:
        # The audit blueprint is another module's; stand in for it with a real route of that name.
        probe = Blueprint("audit", __name__)
        probe.add_url_rule("/audit", "audit_page", lambda: "audit trail")
        app.register_blueprint(probe)
    sign_up(client, "audit@example.com")
    assert '<a href="/audit"' in client.get("/").get_data(as_text=True)


def test_no_audit_link_without_the_audit_page(app: Flask) -> None:
    with app.test_request_context("/"):
        html = render_template("base.html", url_endpoints={}, signed_in=True)
    assert "Audit trail" not in html
    assert "Sign out" in html


def test_a_signed_in_browser_whose_account_is_gone_is_sent_to_login(
    client: FlaskClient, engine: Engine
) -> None:
    sign_up(client)
    with engine.begin() as conn:
        conn.execute(delete(User))
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert ACCESS in set_cookie_headers(response)  # cleared
