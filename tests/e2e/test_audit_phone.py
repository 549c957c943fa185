"""The audit page on a 390 x 844 phone: the folded filters leave the history on the first screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine

from tests.conftest import AuthActions
from tests.e2e.conftest import shoot
from tests.web.audit.factories import Trail

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    """Sign in through the login page."""
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


@pytest.mark.browser
def test_first_event_is_visible_without_scrolling_on_a_phone(
    browser: Browser, live_url: str, auth: AuthActions, engine: Engine
) -> None:
    from playwright.sync_api import expect

    user = auth.register("phone@example.com")
    trail = Trail(engine=engine, user_id=user.user_id)
    for task_id in range(1, 6):
        trail.add(task_id=task_id, title=f"Errand {task_id}")
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, live_url, user.email, user.password)

    page.goto(f"{live_url}/audit?event_type=created&q=Errand")
    first = page.locator("#audit-rows > li").first
    expect(first).to_contain_text("Errand")
    expect(page.locator(".audit-chip")).to_have_count(2)
    expect(page.locator("#audit-filters")).not_to_be_visible()
    assert page.evaluate("window.scrollY") == 0
    box = first.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= PHONE["height"], f"first event ends at {box} on an 844 px screen"
    shoot(page, "audit-phone")

    page.get_by_text("Filters (2 active)").click()
    expect(page.locator("#audit-filters")).to_be_visible()
    page.close()
