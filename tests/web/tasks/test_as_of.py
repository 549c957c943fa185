"""The task list as it was, rebuilt from the audit trail alone, through the API and the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from tests.conftest import ApiUser, AuthActions
from tests.web.audit.factories import Trail
from tests.web.test_pages import sign_up

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    """An RFC 3339 moment `minutes` after T0."""
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def user(auth: AuthActions) -> ApiUser:
    """A signed-up API user."""
    return auth.register("past@example.com")


@pytest.fixture
def history(engine: Engine, user: ApiUser) -> Trail:
    """Minute by minute: create 1 and 2; rename 1; complete 2; delete 1; create 3 (no tasks rows at all)."""
    trail = Trail(engine=engine, user_id=user.user_id, start=T0, step=timedelta(minutes=1))
    trail.add("created", task_id=1, title="Draft")
    trail.add("created", task_id=2, title="Milk", description="oat")
    trail.add("updated", task_id=1, title="Final")
    trail.add("completed", task_id=2, title="Milk", description="oat", completed=True)
    trail.add("deleted", task_id=1, title="Final")
    trail.add("created", task_id=3, title="Later")
    return trail


def listed(client: FlaskClient, user: ApiUser, **args: str) -> list[dict]:
    """GET the list with these query arguments."""
    response = client.get(f"/api/{user.user_id}/tasks", query_string=args, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_each_moment_shows_the_list_as_it_was(client: FlaskClient, user: ApiUser, history: Trail) -> None:
    assert listed(client, user, as_of=at(0)) == [
        {
            "id": 1,
            "user_id": user.user_id,
            "title": "Draft",
            "description": "",
            "completed": False,
            "created_at": "2026-03-01T09:00:00.000000Z",
            "updated_at": "2026-03-01T09:00:00.000000Z",
        }
    ]
    at_three = listed(client, user, as_of=at(3), sort="created_at")
    assert [(t["id"], t["title"], t["completed"]) for t in at_three] == [
        (1, "Final", False),
        (2, "Milk", True),
    ]
    assert at_three[0]["updated_at"] == "2026-03-01T09:02:00.000000Z"
    assert [t["id"] for t in listed(client, user, as_of=at(4))] == [2], "deleted at 09:04"
    assert [t["id"] for t in listed(client, user, as_of=at(60))] == [3, 2]
    assert listed(client, user, as_of="2026-02-28") == [], "a date means the end of that UTC day"
    assert listed(client, user) == [], "without as_of the list is today's tasks table"


def test_filters_and_sort_apply_to_the_past_list(client: FlaskClient, user: ApiUser, history: Trail) -> None:
    assert [t["id"] for t in listed(client, user, as_of=at(3), status="completed")] == [2]
    assert [t["id"] for t in listed(client, user, as_of=at(3), status="pending")] == [1]
    assert [t["id"] for t in listed(client, user, as_of=at(3), q="OAT")] == [2]
    assert [t["title"] for t in listed(client, user, as_of=at(3), sort="title")] == ["Final", "Milk"]


def test_another_users_trail_never_shows(
    client: FlaskClient, user: ApiUser, history: Trail, auth: AuthActions
) -> None:
    other = auth.register("else@example.com")
    assert listed(client, other, as_of=at(60)) == []


@pytest.mark.parametrize(
    "bad",
    [
        "yesterday",
        "2026-03-01T09:00:00",
        "\u0662\u0660\u0662\u0666-\u0660\u0663-\u0660\u0661",
        "9999-12-31",
        "2026-13-01",
    ],
)
def test_a_bad_moment_is_a_422_naming_as_of(client: FlaskClient, user: ApiUser, bad: str) -> None:
    response = client.get(f"/api/{user.user_id}/tasks", query_string={"as_of": bad}, headers=user.headers)
    assert response.status_code == 422
    assert "as_of" in response.get_json()["error"]["fields"]


def test_the_rebuild_reads_only_the_users_rows_by_index(
    engine: Engine, user: ApiUser, history: Trail
) -> None:
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            conn.execute(
                text(
                    "EXPLAIN SELECT DISTINCT ON (task_id) task_id FROM audit_log "
                    "WHERE user_id = :u AND timestamp <= :t ORDER BY task_id, timestamp DESC, id DESC"
                ),
                {"u": user.user_id, "t": T0},
            ).scalars()
        )
    # Which of the user-leading indexes wins depends on the table's size; none must mean a full scan.
    assert "Seq Scan" not in plan, plan
    assert "Index Cond: ((user_id)::text" in plan, plan


def test_the_page_shows_the_past_list_read_only_with_history_links(
    client: FlaskClient, engine: Engine
) -> None:
    sign_up(client)
    with engine.connect() as conn:
        user_id = conn.scalar(text("SELECT id FROM users"))
    trail = Trail(engine=engine, user_id=user_id, start=T0, step=timedelta(minutes=1))
    trail.add("created", task_id=7, title="Gone now")
    trail.add("deleted", task_id=7, title="Gone now")

    html = client.get("/?as_of=2026-03-01T09:00").get_data(as_text=True)
    assert "Your tasks as they were at" in html
    assert "Gone now" in html
    assert 'href="/audit/tasks/7"' in html
    assert "Add task" not in html
    assert "Delete" not in html
    assert 'value="2026-03-01T09:00:00"' in html

    bad = client.get("/?as_of=soon")
    assert bad.status_code == 422
    assert 'id="as_of-error"' in bad.get_data(as_text=True)
