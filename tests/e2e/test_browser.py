"""One real browser (Debian's chromium via Playwright) through the pages of a real server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect
from sqlalchemy import Engine, select

from shared.models import OutboxEvent
from tests.e2e.conftest import shoot

XSS = "<script>alert(1)</script>"
EMAIL, PASSWORD = "browser@example.com", "correct horse battery"


def refuse(dialog: Dialog, seen: list[str]) -> None:
    """Note a dialog the page opened (none should ever open) and dismiss it."""
    seen.append(dialog.message)
    dialog.dismiss()


def sign_up_and_back_in(page: Page, live_url: str) -> None:
    """A visitor lands on the sign-in page, creates an account, signs out and signs in again."""
    page.goto(f"{live_url}/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_role("link", name="Create one").click()
    expect(page).to_have_title("Create account · Todo")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{live_url}/")
    expect(page.get_by_role("status")).to_contain_text("Welcome!")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_title("Sign in · Todo")
    shoot(page, "login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_title("Your tasks · Todo")


def add_task(page: Page, title: str, notes: str = "") -> None:
    """Add a task with the list page's form and wait for it at the top of the list."""
    page.get_by_label("Title").fill(title)
    page.get_by_label("Notes (optional)").fill(notes)
    page.get_by_role("button", name="Add task").click()
    expect(page.locator("li.task").first.locator(".task-title")).to_have_text(title)


def create_edit_complete_delete(page: Page) -> None:
    """One task through its whole life; completing and deleting swap the list in without a reload."""
    add_task(page, "Write the report", "quarterly numbers")
    page.locator("li.task", has_text="Write the report").get_by_role("link", name=re.compile("^Edit")).click()
    expect(page).to_have_title("Edit task · Todo")
    shoot(page, "edit")
    page.get_by_label("Title").fill("Write the annual report")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Task saved.")
    row = page.locator("li.task", has_text="Write the annual report")
    page.evaluate("window.__still_here = true")
    row.get_by_role("button", name="Completed: Write the annual report").click()
    expect(row.get_by_role("button", name=re.compile("^Completed"))).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("status")).to_contain_text("as completed")
    row.get_by_role("button", name=re.compile("^Delete")).click()
    expect(page.locator("li.task")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("Deleted")
    assert page.evaluate("window.__still_here") is True, "htmx should have spared the page a reload"


def escaping_and_live_search(page: Page) -> None:
    """A script title shows as text; typing in Search filters the list through htmx."""
    for title, notes in [(XSS, "must show as text"), ("Buy oat milk", ""), ("Call the plumber", "")]:
        add_task(page, title, notes)
    milk = page.locator("li.task", has_text="Buy oat milk")
    milk.get_by_role("button", name=re.compile("^Completed")).click()
    expect(page.locator("li.task.done")).to_have_count(1)
    expect(page.locator(".task-title", has_text=XSS)).to_have_text(XSS)
    assert page.locator("li.task script").count() == 0
    page.get_by_label("Search").fill("plumb")
    expect(page.locator("li.task")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]q=plumb"))
    page.get_by_label("Search").fill("")
    expect(page.locator("li.task")).to_have_count(3)


@pytest.mark.browser
@pytest.mark.slow
def test_a_person_manages_tasks_in_the_browser(browser: Browser, live_url: str, engine: Engine) -> None:
    dialogs: list[str] = []
    page_errors: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: refuse(dialog, dialogs))
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    sign_up_and_back_in(page, live_url)
    create_edit_complete_delete(page)
    escaping_and_live_search(page)
    page.mouse.move(0, 0)
    shoot(page, "tasks")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "tasks-mobile")
    assert dialogs == [], f"the page opened a dialog: {dialogs}"
    assert page_errors == [], f"the page raised script errors: {page_errors}"
    with engine.connect() as conn:
        kinds = list(conn.scalars(select(OutboxEvent.event_type).order_by(OutboxEvent.id)))
    assert kinds == ["created", "updated", "completed", "deleted", *["created"] * 3, "completed"]
