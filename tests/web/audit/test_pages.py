"""The /audit pages through the Flask client: rows, counts, filters in the URL, states, live, timeline."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from flask_jwt_extended import create_access_token

from devstack.kafka import free_port
from web import create_app


@pytest.fixture
def browser(settings, user):
    """A signed-in page client whose counts fall back to the database (no worker on that port)."""
    app = create_app(
        {"TESTING": True}, settings=replace(settings, worker_url=f"http://127.0.0.1:{free_port()}")
    )
    client = app.test_client()
    with app.app_context():
        client.set_cookie("access_token_cookie", create_access_token(identity=user.user_id))
    yield client
    from web.extensions import db

    with app.app_context():
        db.engine.dispose()


def _count(html, kind):
    return int(re.search(rf'data-count="{kind}">(\d+)<', html).group(1))


def test_visitors_are_sent_to_sign_in(client):
    response = client.get("/audit")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_page_lists_events_newest_first_with_counts(browser, trail):
    trail.add("created", task_id=1, title="Buy milk")
    trail.add("completed", task_id=1, title="Buy milk", completed=True)
    trail.add("created", task_id=2, title="Call mum")
    html = browser.get("/audit").get_data(as_text=True)
    assert html.index("Call mum") < html.index("Completed</span>")
    assert (_count(html, "created"), _count(html, "completed"), _count(html, "total")) == (2, 1, 3)
    assert "counted in the database" in html
    assert 'aria-live="polite"' in html
    assert 'hx-trigger="every 3s"' in html
    assert "/audit/tasks/1" in html


def test_filters_come_from_the_url_and_stay_in_the_links(browser, trail):
    for n in range(5):
        trail.add("updated", task_id=n + 1, title=f"item {n}")
    trail.add("deleted", task_id=9, title="gone")
    html = browser.get("/audit?event_type=updated&limit=2").get_data(as_text=True)
    assert "gone" not in html
    assert html.count('class="audit-entry"') == 2
    assert 'value="updated" checked' in html
    older = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    assert "event_type=updated" in older
    assert "cursor=" in older
    page2 = browser.get(older).get_data(as_text=True)
    assert "item 2" in page2
    assert "item 1" in page2
    newer = re.search(r'href="([^"]+)" rel="prev"', page2).group(1).replace("&amp;", "&")
    page1 = browser.get(newer).get_data(as_text=True)
    assert "item 4" in page1
    assert "item 3" in page1
    assert "item 2" not in page1
    assert 'rel="prev"' not in page1
    assert "export?event_type=updated&amp;format=csv" in html


def test_bad_filters_render_the_page_with_422_and_say_why(browser, trail):
    trail.add()
    response = browser.get("/audit?since=yesterday&event_type=exploded")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "could not be used" in html
    assert 'id="since-error"' in html
    assert 'value="yesterday"' in html


def test_empty_states_say_what_happened(browser, trail):
    assert "No events yet" in browser.get("/audit").get_data(as_text=True)
    trail.add(title="something")
    assert "No events match these filters" in browser.get("/audit?q=nothing-like-it").get_data(as_text=True)


def test_live_returns_new_rows_and_counts_out_of_band(browser, trail):
    trail.add(task_id=1, title="old")
    html = browser.get("/audit").get_data(as_text=True)
    after = re.search(r'data-after="(\d+)"', html).group(1)
    quiet = browser.get(f"/audit/live?after={after}").get_data(as_text=True)
    assert "audit-entry" not in quiet
    assert f'data-after="{after}"' in quiet
    assert "audit-counts" not in quiet  # nothing changed: counts are not fetched again
    trail.add("updated", task_id=1, title="fresh")
    live = browser.get(f"/audit/live?after={after}").get_data(as_text=True)
    assert "fresh" in live
    assert "old" not in live
    assert 'hx-swap-oob="afterbegin:#audit-rows"' in live
    assert "1 new event added" in live
    assert _count(live, "total") == 2
    assert f'data-after="{int(after) + 1}"' in live


def test_counts_are_fetched_again_once_on_the_poll_after_new_rows(browser, trail):
    trail.add(task_id=1, title="old")
    after = re.search(r'data-after="(\d+)"', browser.get("/audit").get_data(as_text=True)).group(1)
    trail.add("updated", task_id=1, title="fresh")
    live = browser.get(f"/audit/live?after={after}").get_data(as_text=True)
    next_url = re.search(r'hx-get="([^"]+)"', live).group(1).replace("&amp;", "&")
    assert "recount=1" in next_url
    settle = browser.get(next_url).get_data(as_text=True)
    assert "audit-entry" not in settle
    assert _count(settle, "total") == 2
    next_url = re.search(r'hx-get="([^"]+)"', settle).group(1).replace("&amp;", "&")
    assert "recount" not in next_url
    assert "audit-counts" not in browser.get(next_url).get_data(as_text=True)


def test_live_respects_filters_and_rejects_a_bad_after(browser, trail):
    trail.add(task_id=1)
    trail.add("deleted", task_id=1, title="gone")
    assert "gone" not in browser.get("/audit/live?after=0&event_type=created").get_data(as_text=True)
    assert browser.get("/audit/live?after=x").status_code == 422
    assert browser.get("/audit/live?after=0&sort=up").status_code == 422


def test_the_page_export_streams_with_the_cookie(browser, trail):
    trail.add(title="=1+1")
    response = browser.get("/audit/export?format=csv")
    assert response.status_code == 200
    assert "'=1+1" in response.get_data(as_text=True)
    assert browser.get("/audit/export?format=xml").status_code == 422


def test_the_timeline_shows_what_changed(browser, trail):
    trail.add("created", task_id=5, title="Draft")
    trail.add("updated", task_id=5, title="Final")
    trail.add("deleted", task_id=5, title="Final")
    html = browser.get("/audit/tasks/5").get_data(as_text=True)
    assert "Task #5" in html
    assert "has been deleted" in html
    assert re.search(r"<td>Draft</td>\s*<td>Final</td>", html)
    assert browser.get("/audit/tasks/6").status_code == 404
