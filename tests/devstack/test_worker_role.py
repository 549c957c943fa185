"""`make run` starts the worker as its own database role, as compose and the chart do."""

from __future__ import annotations

from devstack.postgres import with_login
from devstack.stack import worker_service

OWNER = "postgresql://postgres:@/todo?host=/tmp/pg-socket"


def test_the_worker_logs_in_as_its_role_and_never_sees_the_owners_url():
    worker_url = with_login(OWNER, "todo_worker", "pw/1")
    service = worker_service({"DATABASE_URL": OWNER, "WORKER_DATABASE_URL": worker_url})
    assert service.env["DATABASE_URL"] == worker_url
    assert OWNER not in service.env.values()


def test_without_a_worker_role_the_worker_keeps_the_database_url():
    assert worker_service({"DATABASE_URL": OWNER}).env["DATABASE_URL"] == OWNER


def test_the_workers_url_is_the_same_server_and_database_under_another_login():
    assert (
        with_login(OWNER, "todo_worker", "pw/1")
        == "postgresql://todo_worker:pw%2F1@/todo?host=/tmp/pg-socket"
    )
    tcp = "postgresql://todo:secret@db.example:5432/todo?sslmode=require"
    assert with_login(tcp, "w", "p") == "postgresql://w:p@db.example:5432/todo?sslmode=require"
