"""The audit page in a browser: on a 390 x 844 phone the history comes first; the activity charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


@pytest.mark.browser
def test_activity_charts_show_the_last_day_by_hour_with_a_table(
    browser: Browser, live_url: str, auth: AuthActions, engine: Engine
) -> None:
    from playwright.sync_api import expect

    user = auth.register("charts@example.com")
    now = datetime.now(UTC)
    trail = Trail(
        engine=engine, user_id=user.user_id, start=now - timedelta(hours=3), step=timedelta(hours=1)
    )
    trail.add("created", task_id=1, title="One")
    trail.add("completed", task_id=1, title="One", completed=True)
    trail.add("created", task_id=2, title="Two")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    sign_in(page, live_url, user.email, user.password)
    page.goto(f"{live_url}/audit")

    day = page.locator("#activity-24h")
    expect(day.locator("figcaption")).to_have_text("Last 24 hours, by hour: 3 events")
    expect(day.locator("rect")).to_have_count(3)
    expect(page.locator("#activity-30d figcaption")).to_have_text("Last 30 days, by day: 3 events")
    day.get_by_text("as a table").click()
    expect(day.locator("tbody tr")).to_have_count(3)
    shoot(page, "audit-activity")
    page.close()
