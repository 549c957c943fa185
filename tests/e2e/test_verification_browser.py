"""In a browser: registering (verification required) mails a link; following it verifies the address."""

from __future__ import annotations

import dataclasses
import email
import re
from collections.abc import Iterator
from email.policy import default as default_policy

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from devstack.kafka import free_port
from devstack.mailsink import SaveToDirectory, start_sink
from shared.settings import Settings
from web import create_app
from web.extensions import db

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def sink(tmp_path) -> Iterator[tuple[int, SaveToDirectory]]:
    controller, handler = start_sink(tmp_path / "mail", port=free_port())
    yield controller.port, handler
    controller.stop()


@pytest.fixture
def live_app(settings: Settings, engine, sink) -> Iterator[Flask]:
    """The app as production runs it for mail: verification required, mail to the sink."""
    changed = dataclasses.replace(settings, mail_require_verified=True, smtp_port=sink[0])
    app = create_app({"TESTING": True}, settings=changed)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_person_verifies_their_address_from_the_mailed_link(browser: Browser, live_url: str, sink) -> None:
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_url}/register")
    page.get_by_label("Email").fill("verify@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("We sent a link to verify@example.com")
    (path,) = sink[1].messages()
    body = (
        email.message_from_bytes(path.read_bytes(), policy=default_policy).get_body(("plain",)).get_content()
    )
    link = re.search(r"http://\S+/verify-email/\S+", body).group(0)
    assert link.startswith(live_url)
    page.goto(link)
    expect(page).to_have_title("Your tasks · Todo")
    expect(page.get_by_role("status")).to_contain_text("verify@example.com is verified.")
