"""The audit page in a real browser: task changes made in the pages show up, filter, page and arrive live."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine
from werkzeug.serving import make_server

from shared.devstack.kafka import free_port
from shared.settings import Settings
from tests.web.audit.factories import mirror_outbox
from web import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


class WorkerStandIn(threading.Thread):
    """A stand-in for the stream worker's audit writer (outbox -> Kafka -> Faust -> audit_log).

    It copies each committed outbox event into audit_log exactly as the worker stores it. To run
    this test against the real pipeline, replace the `audit_writer` fixture below with one that
    starts the relay and the Faust worker (and point WORKER_URL at the worker so the counts say
    "stream"); nothing else in the test changes.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(name="audit-writer-stand-in", daemon=True)
        self.engine, self.stopped, self.last_id = engine, threading.Event(), 0

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.last_id = mirror_outbox(self.engine, after_id=self.last_id)


@pytest.fixture
def audit_writer(engine: Engine) -> Iterator[WorkerStandIn]:
    writer = WorkerStandIn(engine)
    writer.start()
    yield writer
    writer.stopped.set()
    writer.join(timeout=10)


@pytest.fixture
def live_url(settings: Settings, engine: Engine) -> Iterator[str]:
    """The app on a real threaded server; no worker at WORKER_URL, so counts come from the database."""
    app = create_app(
        {"TESTING": True}, settings=replace(settings, worker_url=f"http://127.0.0.1:{free_port()}")
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="audit-e2e-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    from web.extensions import db

    with app.app_context():
        db.engine.dispose()


def shoot(page: Page, name: str) -> None:
    """Save a full-page screenshot under var/screenshots."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


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
    """The counts strip shows these numbers."""
    from playwright.sync_api import expect

    for kind, number in expected.items():
        expect(page.locator(f'[data-count="{kind}"]')).to_have_text(str(number))


@pytest.mark.browser
@pytest.mark.slow
def test_task_changes_appear_on_the_audit_page(live_url: str, audit_writer: WorkerStandIn) -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed: apt-get install -y chromium to run the browser tests"
        )
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda error: errors.append(str(error)))
            make_history(page, live_url)

            page.get_by_role("link", name="Audit trail").click()
            expect(page).to_have_title("Audit trail · Todo")
            rows = page.locator("#audit-rows > li")
            if rows.count() < 7:  # the writer may still be copying the last event: reload once it is stored
                page.wait_for_timeout(500)
                page.reload()
            expect(rows).to_have_count(7)
            expect(rows.first).to_contain_text("Deleted")
            expect(rows.first).to_contain_text("Book dentist")
            expect_counts(page, created=4, updated=1, completed=1, deleted=1, total=7)

            # Filter by two types at once; the filter lands in the URL.
            page.get_by_label("Created").check()
            page.get_by_label("Deleted").check()
            page.get_by_role("button", name="Apply filters").click()
            expect(page).to_have_url(re.compile(r"event_type=created&event_type=deleted"))
            expect(rows).to_have_count(5)
            for kind in rows.locator(".audit-badge").all_inner_texts():
                assert kind in ("Created", "Deleted")

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
        finally:
            browser.close()
    assert errors == [], f"the page raised script errors: {errors}"
