"""Chromium enforces the pages' Content-Security-Policy: the pages still work and nothing is refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.e2e.test_browser import add_task, create_edit_complete_delete, sign_up_and_back_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _note_violation(message: ConsoleMessage, seen: list[str]) -> None:
    """Chromium reports every resource or script the policy refused on the console."""
    if "Content Security Policy" in message.text or "Refused to" in message.text:
        seen.append(message.text)


def test_pages_work_under_the_policy_with_no_violation(browser: Browser, live_url: str) -> None:
    violations: list[str] = []
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda message: _note_violation(message, violations))
    sign_up_and_back_in(page, live_url)
    create_edit_complete_delete(page)  # htmx swaps, so its script ran under the policy
    add_task(page, "Audit me")
    page.get_by_role("link", name="Audit trail").click()
    expect(page).to_have_title("Audit trail · Todo")
    page.get_by_role("link", name="Settings").click()
    assert violations == [], f"the policy refused something the pages need: {violations}"
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != "", "styles did not load"


def test_sign_out_revokes_the_session_even_if_its_cookies_come_back(browser: Browser, live_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_up_and_back_in(page, live_url)
    kept = context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_title("Sign in · Todo")
    context.add_cookies(kept)  # as if the cookies had been copied before sign-out
    page.goto(f"{live_url}/")
    expect(page).to_have_title("Sign in · Todo")
    context.close()
