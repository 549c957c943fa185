"""The task pages: every change through a form changes the data and leaves exactly one outbox event."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from shared.models import OutboxEvent, Task
from tests.web.test_pages import csrf_token, page_token, sign_up


@pytest.fixture
def member(client: FlaskClient) -> FlaskClient:
    """A client signed in through the pages."""
    sign_up(client, "member@example.com")
    return client


def events(engine: Engine) -> list[tuple[str, int, dict]]:
    """Every outbox event so far: (type, task id, task_data), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxEvent.event_type, OutboxEvent.payload).order_by(OutboxEvent.id))
        return [(kind, payload["task_id"], payload["task_data"]) for kind, payload in rows]


def tasks(engine: Engine) -> list[tuple[int, str, str, bool]]:
    """Every task row: (id, title, description, completed)."""
    with engine.connect() as conn:
        rows = conn.execute(select(Task.id, Task.title, Task.description, Task.completed).order_by(Task.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def add_task(client: FlaskClient, title: str, description: str = "") -> None:
    """Add a task through the list page's form."""
    data = {"csrf_token": page_token(client, "/"), "title": title, "description": description}
    response = client.post("/tasks", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)


def test_create_edit_toggle_delete_each_leave_one_event(member: FlaskClient, engine: Engine) -> None:
    add_task(member, "  Buy milk ", "two litres")
    [(task_id, title, description, completed)] = tasks(engine)
    assert (title, description, completed) == ("Buy milk", "two litres", False)
    assert [kind for kind, *_ in events(engine)] == ["created"]
    assert "Task added." in member.get("/").get_data(as_text=True)

    form = member.get(f"/tasks/{task_id}/edit").get_data(as_text=True)
    assert 'value="Buy milk"' in form
    data = {"csrf_token": csrf_token(form), "title": "Buy oat milk", "description": "one litre"}
    response = member.post(f"/tasks/{task_id}/edit", data=data)
    assert response.status_code == 303
    assert tasks(engine) == [(task_id, "Buy oat milk", "one litre", False)]
    assert events(engine)[-1][0] == "updated"

    token = page_token(member, "/")
    assert member.post(f"/tasks/{task_id}/toggle", data={"csrf_token": token}).status_code == 303
    assert tasks(engine)[0][3] is True
    assert events(engine)[-1] == (
        "completed",
        task_id,
        {"title": "Buy oat milk", "description": "one litre", "completed": True},
    )
    member.post(f"/tasks/{task_id}/toggle", data={"csrf_token": token})
    assert tasks(engine)[0][3] is False
    assert events(engine)[-1][0] == "updated"

    assert member.post(f"/tasks/{task_id}/delete", data={"csrf_token": token}).status_code == 303
    assert tasks(engine) == []
    assert [kind for kind, *_ in events(engine)] == ["created", "updated", "completed", "updated", "deleted"]
    assert "Deleted “Buy oat milk”." in member.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/tasks", "title"),
        ("/tasks/{id}/edit", "title"),
        ("/tasks/{id}/toggle", None),
        ("/tasks/{id}/delete", None),
    ],
)
def test_task_forms_without_csrf_token_are_rejected(
    member: FlaskClient, engine: Engine, path: str, field: str | None
) -> None:
    add_task(member, "Keep me")
    before_tasks, before_events = tasks(engine), events(engine)
    task_id = before_tasks[0][0]
    response = member.post(path.format(id=task_id), data={"title": "Changed"} if field else {})
    assert response.status_code == 400
    assert tasks(engine) == before_tasks
    assert events(engine) == before_events


@pytest.mark.parametrize(
    ("title", "description", "message"),
    [
        ("   ", "", "Must not be empty"),
        ("x" * 201, "", "Must be at most 200 characters"),
        ("ok", "d" * 2001, "2000"),
    ],
)
def test_bad_task_input_rerenders_with_errors(
    member: FlaskClient, engine: Engine, title: str, description: str, message: str
) -> None:
    data = {"csrf_token": page_token(member, "/"), "title": title, "description": description}
    response = member.post("/tasks", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html
    assert 'aria-invalid="true"' in html
    assert tasks(engine) == []
    assert events(engine) == []


def test_bad_edit_rerenders_the_edit_form(member: FlaskClient, engine: Engine) -> None:
    add_task(member, "Original")
    task_id = tasks(engine)[0][0]
    form = member.get(f"/tasks/{task_id}/edit").get_data(as_text=True)
    response = member.post(f"/tasks/{task_id}/edit", data={"csrf_token": csrf_token(form), "title": ""})
    assert response.status_code == 422
    assert "Must not be empty" in response.get_data(as_text=True)
    assert tasks(engine)[0][1] == "Original"
    assert len(events(engine)) == 1


def test_script_title_is_shown_as_text(member: FlaskClient) -> None:
    add_task(member, "<script>alert(1)</script>", "<img src=x onerror=alert(2)>")
    html = member.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_search_status_and_sort(member: FlaskClient, engine: Engine) -> None:
    for title in ("Water plants", "Buy milk", "Buy bread"):
        add_task(member, title)
    bread = next(task_id for task_id, title, *_ in tasks(engine) if title == "Buy bread")
    member.post(f"/tasks/{bread}/toggle", data={"csrf_token": page_token(member, "/")})

    def titles(query: str) -> list[str]:
        response = member.get(f"/?{query}")
        assert response.status_code == 200
        return re.findall(r'<p class="task-title">([^<]*)</p>', response.get_data(as_text=True))

    assert titles("") == ["Buy bread", "Buy milk", "Water plants"]
    assert titles("q=BUY") == ["Buy bread", "Buy milk"]
    assert titles("status=completed") == ["Buy bread"]
    assert titles("status=pending&sort=title") == ["Buy milk", "Water plants"]
    assert titles("q=buy&status=pending") == ["Buy milk"]
    assert titles("q=100%25") == []


def test_bad_filter_is_422_with_the_message(member: FlaskClient) -> None:
    add_task(member, "Still listed")
    response = member.get("/?status=done")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Must be one of all, pending, completed" in html
    assert "Still listed" in html


def test_changes_return_to_the_filtered_list(member: FlaskClient, engine: Engine) -> None:
    add_task(member, "Filtered")
    task_id = tasks(engine)[0][0]
    data = {"csrf_token": page_token(member, "/")}
    response = member.post(f"/tasks/{task_id}/toggle?status=pending&q=filt&sort=evil", data=data)
    assert response.headers["Location"] == "/"
    response = member.post(f"/tasks/{task_id}/toggle?status=pending&q=filt", data=data)
    assert response.headers["Location"] == "/?q=filt&status=pending"


def test_htmx_toggle_gets_the_refreshed_list(member: FlaskClient, engine: Engine) -> None:
    add_task(member, "Via htmx")
    task_id = tasks(engine)[0][0]
    data = {"csrf_token": page_token(member, "/")}
    response = member.post(
        f"/tasks/{task_id}/toggle", data=data, headers={"HX-Request": "true"}, follow_redirects=True
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<div id="tasks"' in html
    assert 'aria-pressed="true"' in html
    assert "Marked “Via htmx” as completed." in html


def test_someone_elses_task_is_404(client: FlaskClient, engine: Engine) -> None:
    sign_up(client, "owner@example.com")
    add_task(client, "Private")
    task_id = tasks(engine)[0][0]
    client.post("/logout", data={"csrf_token": page_token(client, "/")})
    sign_up(client, "intruder@example.com")
    token = page_token(client, "/")
    assert client.get(f"/tasks/{task_id}/edit").status_code == 404
    for action in ("edit", "toggle", "delete"):
        response = client.post(f"/tasks/{task_id}/{action}", data={"csrf_token": token, "title": "Mine"})
        assert response.status_code == 404
    assert "Private" not in client.get("/").get_data(as_text=True)
    assert tasks(engine) == [(task_id, "Private", "", False)]
    assert len(events(engine)) == 1
