"""The verification link: mailed at registration when required (production), and it marks the address."""

from __future__ import annotations

import email
import re
from email.policy import default as default_policy

import pytest
from sqlalchemy import select

from devstack.kafka import free_port
from devstack.mailsink import start_sink
from shared.models import User
from tests.web.test_headers import app_client

PASSWORD = "correct horse battery"


@pytest.fixture
def sink(tmp_path):
    controller, handler = start_sink(tmp_path / "mail", port=free_port())
    yield controller.port, handler
    controller.stop()


def _link(handler) -> str:
    (path,) = handler.messages()
    return _link_of(path)


def _link_of(path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://localhost(/verify-email/\S+)", body).group(1)


def _verified_at(engine, email_address):
    with engine.connect() as conn:
        return conn.scalar(select(User.email_verified_at).where(User.email == email_address))


def test_registration_mails_a_link_that_verifies_the_address(settings, engine, sink):
    port, handler = sink
    with app_client(settings, mail_require_verified=True, smtp_port=port) as client:
        assert (
            client.post(
                "/api/auth/register", json={"email": "v@example.com", "password": PASSWORD}
            ).status_code
            == 201
        )
        assert _verified_at(engine, "v@example.com") is None
        followed = client.get(_link(handler))
    assert followed.status_code == 303
    assert _verified_at(engine, "v@example.com") is not None


def test_a_tampered_link_verifies_nothing(settings, engine, sink):
    port, handler = sink
    with app_client(settings, mail_require_verified=True, smtp_port=port) as client:
        client.post("/api/auth/register", json={"email": "t@example.com", "password": PASSWORD})
        link = _link(handler)
        response = client.get(link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb"))
    assert response.status_code == 400
    assert _verified_at(engine, "t@example.com") is None


def test_development_sends_no_verification_mail(client, sink):
    _port, handler = sink
    assert (
        client.post("/api/auth/register", json={"email": "d@example.com", "password": PASSWORD}).status_code
        == 201
    )
    assert handler.messages() == []


def test_a_mail_server_that_is_down_does_not_fail_registration(settings, engine):
    with app_client(settings, mail_require_verified=True, smtp_port=free_port()) as client:
        response = client.post("/api/auth/register", json={"email": "down@example.com", "password": PASSWORD})
    assert response.status_code == 201
    assert _verified_at(engine, "down@example.com") is None


def test_an_unverified_account_can_ask_for_the_link_again_from_settings(settings, engine, sink):
    from tests.web.test_pages import page_token, sign_up

    port, handler = sink
    with app_client(
        settings, mail_require_verified=True, smtp_port=port, auth_rate_limit_per_account=2
    ) as client:
        sign_up(client, email="again@example.com")
        page = client.get("/settings").get_data(as_text=True)
        assert "not verified yet" in page
        for _ in range(2):
            sent = client.post("/settings/verify-email", data={"csrf_token": page_token(client, "/settings")})
            assert sent.status_code == 303
        assert len(handler.messages()) == 3  # registration, then two asked for
        client.post("/settings/verify-email", data={"csrf_token": page_token(client, "/settings")})
        assert len(handler.messages()) == 3, "a third request in the window is refused"
        assert "Too many links" in client.get("/settings").get_data(as_text=True)
        client.get(_link_of(handler.messages()[-1]))
        assert "not verified yet" not in client.get("/settings").get_data(as_text=True)


def test_development_settings_page_says_nothing_about_verification(client):
    from tests.web.test_pages import sign_up

    sign_up(client)
    assert "not verified" not in client.get("/settings").get_data(as_text=True)
