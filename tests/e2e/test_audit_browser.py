"""The audit page in a real browser on the real pipeline: changes show up, filter, page and arrive live."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pytest
from flask import Flask

from tests.e2e.conftest import shoot
from tests.fixtures.pipeline import Pipeline
from tests.fixtures.streams import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def live_app(pipeline: Pipeline) -> Flask:
    """Serve the pipeline's app: its WORKER_URL is the running worker, so counts come from the stream."""
    return pipeline.app


def reload_until_stored(page: Page, total: int, timeout: float = 20.0) -> None:
    """Reload until the worker has stored `total` events and counted them (it trails the commits)."""
    deadline = time.monotonic() + timeout
    while not (
        page.locator("#audit-rows > li").count() == total
        and page.locator('[data-count="total"]').inner_text() == str(total)
    ):
        assert time.monotonic() < deadline, f"the pipeline did not deliver {total} events in {timeout}s"
        page.wait_for_timeout(250)
        page.reload()


def add_task(page: Page, title: str, notes: str = "") -> None:
    """Add a task through the task page's form."""
    page.get_by_label("Title").fill(title)
    page.get_by_label("Notes (optional)").fill(notes)
    page.get_by_role("button", name="Add task").click()
    page.locator("li.task .task-title", has_text=title).wait_for()


def make_history(page: Page, base: str) -> None:
    """Sign up, then create four tasks, rename one, complete one and delete one: seven events."""
    page.goto(f"{base}/register")
    page.get_by_label("Email").fill("auditor@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/")
    for title in ("Write the report", "Buy oat milk", "Call the plumber", "Book dentist"):
        add_task(page, title, notes="from the browser")
    page.locator("li.task", has_text="Write the report").get_by_role("link", name=re.compile("^Edit")).click()
    page.get_by_label("Title").fill("Write the annual report")
    page.get_by_role("button", name="Save changes").click()
    page.locator("li.task", has_text="Write the annual report").wait_for()
    done = page.locator("li.task", has_text="Buy oat milk")
    done.get_by_role("button", name=re.compile("^Completed")).click()
    page.locator("li.task.done").wait_for()
    page.locator("li.task", has_text="Book dentist").get_by_role("button", name=re.compile("^Delete")).click()
    page.locator("li.task", has_text="Book dentist").wait_for(state="detached")


def expect_counts(page: Page, **expected: int) -> None:
    """The counts strip shows these numbers, counted by the stream worker."""
    from playwright.sync_api import expect

    for kind, number in expected.items():
        expect(page.locator(f'[data-count="{kind}"]')).to_have_text(str(number))
    expect(page.locator(".audit-source")).to_have_text("Counted live by the stream worker.")


@pytest.mark.browser
@pytest.mark.slow
def test_task_changes_appear_on_the_audit_page(browser: Browser, live_url: str, pipeline: Pipeline) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda error: errors.append(str(error)))
    make_history(page, live_url)

    page.get_by_role("link", name="Audit trail").click()
    expect(page).to_have_title("Audit trail · Todo")
    rows = page.locator("#audit-rows > li")
    reload_until_stored(page, 7)
    expect(rows.first).to_contain_text("Deleted")
    expect(rows.first).to_contain_text("Book dentist")
    expect_counts(page, created=4, updated=1, completed=1, deleted=1, total=7)

    # Filter by two types at once (the form is folded away until asked for); the filter lands in the URL.
    page.locator("summary", has_text="Filters").click()
    page.get_by_label("Created").check()
    page.get_by_label("Deleted").check()
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"event_type=created&event_type=deleted"))
    expect(rows).to_have_count(5)
    for kind in rows.locator(".audit-badge").all_inner_texts():
        assert kind in ("Created", "Deleted")

    # Each active filter is a chip; removing one keeps the other.
    page.get_by_role("link", name="Remove filter: Deleted").click()
    expect(page).to_have_url(re.compile(r"event_type=created$"))
    expect(rows).to_have_count(4)
    expect(page.locator(".audit-chip")).to_have_count(1)

    # Page through three at a time (the page size is a URL parameter too).
    page.goto(f"{live_url}/audit?limit=3")
    expect(rows).to_have_count(3)
    seen = rows.locator(".audit-title").all_inner_texts()
    page.get_by_role("link", name="Older →").click()
    expect(rows).to_have_count(3)
    seen += rows.locator(".audit-title").all_inner_texts()
    page.get_by_role("link", name="Older →").click()
    expect(rows).to_have_count(1)
    seen += rows.locator(".audit-title").all_inner_texts()
    assert sorted(seen) == sorted(
        [
            "Book dentist",
            "Buy oat milk",
            "Write the annual report",
            "Book dentist",
            "Call the plumber",
            "Buy oat milk",
            "Write the report",
        ]
    )
    expect(page.get_by_role("link", name="Older →")).to_have_count(0)
    page.get_by_role("link", name="← Newer").click()
    expect(rows).to_have_count(3)

    # A change made in another tab arrives without a reload, with the counts.
    page.goto(f"{live_url}/audit")
    expect(rows).to_have_count(7)
    other = context.new_page()
    other.goto(f"{live_url}/")
    add_task(other, "Arrives live")
    other.close()
    expect(rows.first).to_contain_text("Arrives live", timeout=10_000)
    expect(rows).to_have_count(8)
    expect(page.get_by_role("status").filter(has_text="new event")).to_contain_text("1 new event")
    expect_counts(page, created=5, total=8)
    page.mouse.move(0, 0)
    shoot(page, "audit")

    # The per-task timeline shows what changed.
    page.locator("#audit-rows > li", has_text="Write the annual report").get_by_role("link").click()
    expect(page.locator("table.audit-changes").last).to_contain_text("Write the report")
    expect(page.locator("table.audit-changes").last).to_contain_text("Write the annual report")
    shoot(page, "audit-timeline")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_url}/audit")
    shoot(page, "audit-mobile")
    assert errors == [], f"the page raised script errors: {errors}"
    [mail] = wait_for(lambda: pipeline.mails_to("auditor@example.com"), what="the completion mail")
    assert "Buy oat milk" in mail["Subject"]
