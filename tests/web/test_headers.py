"""Security headers on every page and API answer; HSTS behind TLS; production cookies Secure and Lax."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from shared.settings import Settings
from tests.web.test_pages import csrf_token, set_cookie_headers, sign_up
from web import create_app
from web.extensions import db

TEMPLATES = Path(__file__).resolve().parents[2] / "frontend" / "templates"
SECRET = "s" * 40


@contextmanager
def app_client(settings: Settings, **changes: object) -> Iterator[FlaskClient]:
    """A client of an app built with changed settings, its connections closed afterwards."""
    app = create_app({"TESTING": True}, settings=dataclasses.replace(settings, **changes))
    yield app.test_client()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _policy(response) -> dict[str, str]:
    """The CSP directives by name."""
    directives = (
        part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";")
    )
    return dict(directives)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/login", "/register", "/nope", "/api/auth/login", "/healthz"])
def test_every_response_carries_the_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    policy = _policy(response)
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: HSTS would be ignored


def test_signed_in_pages_are_never_stored(client: FlaskClient) -> None:
    sign_up(client)
    for path in ("/", "/settings", "/audit"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store", path


def test_api_answers_with_tokens_are_never_stored(client: FlaskClient, auth) -> None:
    auth.register("cache@example.com")
    response = client.post(
        "/api/auth/login", json={"email": "cache@example.com", "password": "correct horse battery"}
    )
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached(client: FlaskClient) -> None:
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    response.close()


def test_hsts_is_sent_when_the_ingress_says_https(settings: Settings) -> None:
    with app_client(settings, proxy_fix_hops=1) as client:
        response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_forwarded_headers_are_ignored_without_proxy_fix_hops(client: FlaskClient) -> None:
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


def test_production_cookies_are_secure_and_same_site(settings: Settings) -> None:
    with app_client(settings, app_env="production", secret_key=SECRET, jwt_secret_key=SECRET) as client:
        form = client.get("/register")  # sets the session cookie that holds the CSRF secret
        data = {
            "csrf_token": csrf_token(form.get_data(as_text=True)),
            "email": "p@example.com",
            "password": "x" * 12,
        }
        signed_up = client.post("/register", data=data)  # sets the access and refresh cookies
    cookies = {**set_cookie_headers(form), **set_cookie_headers(signed_up)}
    assert {"session", "access_token_cookie", "refresh_token_cookie"} <= set(cookies)
    assert cookies, "no cookie was set"
    for name, header in cookies.items():
        assert "Secure" in header, name
        assert "SameSite=Lax" in header, name
        assert "HttpOnly" in header, name


def test_templates_hold_no_inline_script_or_style() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"inline script in {template}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {template}"
        assert "<style" not in text, f"inline style in {template}"
        assert " style=" not in text, f"inline style in {template}"
