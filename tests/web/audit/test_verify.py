"""Verifying the audit chain: each kind of tampering, made directly in the database, is found and named."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from shared.audit_chain import link_hash, row_document
from tests.conftest import ApiUser, AuthActions
from tests.web.audit.factories import make_event, store
from web.audit.verify import chain_rows, chunk_statement, verify_trail

OTHER = "someone-else"


@pytest.fixture
def ids(engine: Engine, user: ApiUser) -> list[int]:
    """Six chained rows of the user, interleaved with another user's, with gaps between the user's ids."""
    stored: list[int] = []
    with engine.begin() as conn:
        for n in range(6):
            stored += store(conn, make_event(user_id=user.user_id, task_id=n, title=f"task {n}"))
            store(conn, make_event(user_id=OTHER, task_id=100 + n))
            conn.execute(text("SELECT nextval('audit_log_id_seq')"))  # a gap, as a failed insert leaves
    return stored


def tamper(engine: Engine, sql: str, **params: object) -> None:
    """Run one statement as the owner, bypassing the worker's path entirely."""
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def report(engine: Engine, user_id: str | None) -> dict[str, object]:
    """The verifier's JSON report."""
    with Session(engine) as session:
        return verify_trail(session=session, user_id=user_id).to_json()


def broken(engine: Engine, user_id: str) -> tuple[object, object]:
    """(row id, problem) of the first broken link."""
    found = report(engine, user_id)
    assert found["intact"] is False, found
    link = found["broken"]
    assert isinstance(link, dict)
    return link["id"], link["problem"]


def test_an_untouched_trail_is_intact(engine: Engine, user: ApiUser, ids: list[int]) -> None:
    assert report(engine, user.user_id) == {"intact": True, "rows": 6}
    assert report(engine, None) == {"intact": True, "rows": 12}


def test_an_altered_row_is_found(engine: Engine, user: ApiUser, ids: list[int]) -> None:
    tamper(
        engine,
        "UPDATE audit_log SET event_data = jsonb_set(event_data, '{task_data,title}', '\"paid\"') "
        "WHERE id = :id",
        id=ids[2],
    )
    assert broken(engine, user.user_id) == (ids[2], "altered")


def test_an_altered_timestamp_is_found(engine: Engine, user: ApiUser, ids: list[int]) -> None:
    tamper(engine, "UPDATE audit_log SET timestamp = timestamp - interval '1 day' WHERE id = :id", id=ids[0])
    assert broken(engine, user.user_id) == (ids[0], "altered")


@pytest.mark.parametrize("position", [0, 3])
def test_a_deleted_row_is_found_at_the_row_after_it(
    engine: Engine, user: ApiUser, ids: list[int], position: int
) -> None:
    tamper(engine, "DELETE FROM audit_log WHERE id = :id", id=ids[position])
    assert broken(engine, user.user_id) == (ids[position + 1], "deleted")


def _forge(engine: Engine, user_id: str, *, row_id: int, prev_hash: bytes, chained: bool) -> None:
    """Insert a made-up row at row_id, correctly hashed from prev_hash when chained, else garbage."""
    event = make_event(user_id=user_id, task_id=99, title="forged")
    document = row_document(
        event_id=event.event_id,
        event_type=event.event_type,
        user_id=user_id,
        task_id=99,
        timestamp=event.timestamp,
        event_data=event.to_dict(),
    )
    digest = link_hash(prev_hash, document) if chained else uuid.uuid4().bytes * 2
    tamper(
        engine,
        "INSERT INTO audit_log (id, event_id, event_type, user_id, task_id, event_data, timestamp, "
        "prev_hash, hash) "
        "VALUES (:id, :event_id, 'created', :user_id, 99, CAST(:data AS jsonb), :ts, :prev, :hash)",
        id=row_id,
        event_id=event.event_id,
        user_id=user_id,
        data=event.to_json(),
        ts=event.timestamp,
        prev=prev_hash,
        hash=digest,
    )


def _hash_of(engine: Engine, row_id: int) -> bytes:
    with engine.connect() as conn:
        return bytes(conn.scalar(text("SELECT hash FROM audit_log WHERE id = :id"), {"id": row_id}))


@pytest.mark.parametrize("chained", [True, False], ids=["carefully-hashed", "garbage-hash"])
def test_an_inserted_row_is_found(engine: Engine, user: ApiUser, ids: list[int], chained: bool) -> None:
    forged_id = ids[2] + 2  # the gap the fixture left after the user's third row
    _forge(engine, user.user_id, row_id=forged_id, prev_hash=_hash_of(engine, ids[2]), chained=chained)
    assert broken(engine, user.user_id) == (forged_id, "inserted")


def test_a_reordered_pair_is_found(engine: Engine, user: ApiUser, ids: list[int]) -> None:
    a, b = ids[3], ids[4]
    tamper(engine, "UPDATE audit_log SET id = -1 WHERE id = :a", a=a)
    tamper(engine, "UPDATE audit_log SET id = :a WHERE id = :b", a=a, b=b)
    tamper(engine, "UPDATE audit_log SET id = :b WHERE id = -1", b=b)
    assert broken(engine, user.user_id) == (a, "reordered")


def test_tampering_with_one_user_is_reported_by_the_whole_table_check(
    engine: Engine, user: ApiUser, ids: list[int]
) -> None:
    tamper(engine, "DELETE FROM audit_log WHERE id = :id", id=ids[1])
    found = report(engine, None)
    assert found["intact"] is False
    assert found["broken"] == {
        "id": ids[2],
        "problem": "deleted",
        "detail": "the row it links to is missing (deleted)",
    }
    assert report(engine, OTHER) == {"intact": True, "rows": 6}


def test_rows_are_read_in_chunks_in_chain_order(engine: Engine, user: ApiUser, ids: list[int]) -> None:
    with Session(engine) as session:
        everyone = [(row.user_id, row.id) for row in chain_rows(session=session, chunk=5)]
        mine = [row.id for row in chain_rows(session=session, user_id=user.user_id, chunk=4)]
    assert everyone == sorted(everyone)
    assert len(everyone) == 12
    assert mine == ids


@pytest.mark.parametrize("user_scope", [True, False], ids=["one-user", "every-user"])
def test_the_chunk_query_walks_the_user_id_index(
    engine: Engine, user: ApiUser, ids: list[int], user_scope: bool
) -> None:
    statement = chunk_statement(
        user_id=user.user_id if user_scope else None, after=(user.user_id, 0), chunk=1000
    )
    compiled = statement.compile(dialect=engine.dialect)
    with engine.begin() as conn:
        # A 12-row table would rather scan it all; forbid that to see the path a large table takes.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
    assert "Index Scan using ix_audit_log_user_id_id" in plan
    assert "Sort" not in plan


def test_api_reports_the_users_own_chain(
    client: FlaskClient, engine: Engine, user: ApiUser, ids: list[int]
) -> None:
    response = client.get(f"/api/{user.user_id}/audit/verify", headers=user.headers)
    assert response.status_code == 200
    assert response.get_json() == {"intact": True, "rows": 6}
    tamper(engine, "DELETE FROM audit_log WHERE id = :id", id=ids[4])
    body = client.get(f"/api/{user.user_id}/audit/verify", headers=user.headers).get_json()
    assert body["intact"] is False
    assert (body["rows"], body["broken"]["id"], body["broken"]["problem"]) == (5, ids[5], "deleted")


def test_api_refuses_other_users_and_missing_tokens(
    client: FlaskClient, auth: AuthActions, user: ApiUser, ids: list[int]
) -> None:
    stranger = auth.register("stranger@example.com")
    refused = client.get(f"/api/{user.user_id}/audit/verify", headers=stranger.headers)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    anonymous = client.get(f"/api/{user.user_id}/audit/verify")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["code"] == "missing_token"


def test_cli_exits_0_with_a_summary_when_intact(
    runner: FlaskCliRunner, user: ApiUser, ids: list[int]
) -> None:
    everyone = runner.invoke(args=["audit", "verify"])
    assert (everyone.exit_code, everyone.output) == (0, "audit trail intact: 12 rows checked\n")
    mine = runner.invoke(args=["audit", "verify", "--user", user.user_id])
    assert (mine.exit_code, mine.output) == (0, "audit trail intact: 6 rows checked\n")


def test_cli_exits_1_naming_the_broken_row(
    runner: FlaskCliRunner, engine: Engine, user: ApiUser, ids: list[int]
) -> None:
    tamper(engine, "UPDATE audit_log SET task_id = 5 WHERE id = :id", id=ids[1])
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert result.output.startswith(f"audit trail BROKEN at row {ids[1]} (user {user.user_id}): altered")


def test_cli_bad_usage_exits_2_and_help_explains(runner: FlaskCliRunner) -> None:
    empty = runner.invoke(args=["audit", "verify", "--user", " "])
    assert empty.exit_code == 2
    assert "--user" in empty.output
    assert runner.invoke(args=["audit", "verify", "--bogus"]).exit_code == 2
    helped = runner.invoke(args=["audit", "verify", "--help"])
    assert helped.exit_code == 0
    assert "--user ID" in helped.output
    assert "broken link" in helped.output
