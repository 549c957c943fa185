"""GET /api/<user_id>/audit/export: CSV and NDJSON with the same filters, formula cells escaped."""

from __future__ import annotations

import csv
import io
import json

import pytest

from web.audit.export import CSV_COLUMNS, safe_cell


def _export(client, user, **params):
    return client.get(f"/api/{user.user_id}/audit/export", query_string=params, headers=user.headers)


def test_csv_has_the_columns_and_one_line_per_event(client, user, trail):
    first = trail.add("created", task_id=4, title="Buy milk", description="semi, skimmed\n2 l")
    trail.add("completed", task_id=4, title="Buy milk", completed=True)
    response = _export(client, user, format="csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row["event_type"] for row in rows] == ["completed", "created"]
    created = rows[1]
    assert created["event_id"] == str(first.event_id)
    assert created["description"] == "semi, skimmed\n2 l"
    assert created["completed"] == "false"
    assert rows[0]["completed"] == "true"
    assert json.loads(created["event_data"]) == first.to_dict()
    assert created["timestamp"] == first.to_dict()["timestamp"]


def test_ndjson_lines_are_api_items(client, user, trail):
    events = [trail.add(task_id=n) for n in (1, 2, 3)]
    response = _export(client, user, format="ndjson", sort="timestamp")
    assert response.mimetype == "application/x-ndjson"
    lines = response.get_data(as_text=True).splitlines()
    items = [json.loads(line) for line in lines]
    assert [item["event_id"] for item in items] == [str(event.event_id) for event in events]
    assert set(items[0]) == {"id", "event_id", "event_type", "user_id", "task_id", "event_data", "timestamp"}


def test_csv_is_the_default_format(client, user, trail):
    trail.add()
    assert _export(client, user).mimetype == "text/csv"


def test_the_filters_apply_and_limit_and_cursor_do_not(client, user, trail):
    for n in range(5):
        trail.add("updated" if n % 2 else "created", task_id=n + 1, title=f"item {n}")
    body = _export(client, user, format="ndjson", event_type="created", limit=1).get_data(as_text=True)
    assert len(body.splitlines()) == 3
    assert len(_export(client, user, format="ndjson", q="item 3").get_data(as_text=True).splitlines()) == 1


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_export_reads_in_keyset_chunks_without_losing_rows(client, user, trail, monkeypatch, chunk):
    from web.audit import services

    monkeypatch.setattr(services, "EXPORT_CHUNK", chunk)
    for n in range(7):
        trail.add(task_id=n + 1)
    lines = _export(client, user, format="ndjson").get_data(as_text=True).splitlines()
    assert [json.loads(line)["task_id"] for line in lines] == [7, 6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("plain = fine", "plain = fine"),
        ("", ""),
    ],
)
def test_formula_cells_are_escaped(text, cell):
    assert safe_cell(text) == cell


def test_formula_titles_are_escaped_in_the_file(client, user, trail):
    trail.add(task_id=1, title="=cmd|' /C calc'!A0", description="@SUM(1)")
    rows = list(csv.DictReader(io.StringIO(_export(client, user, format="csv").get_data(as_text=True))))
    assert rows[0]["title"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["description"] == "'@SUM(1)"
    assert json.loads(rows[0]["event_data"])["task_data"]["title"] == "=cmd|' /C calc'!A0"


def test_an_empty_export_is_just_the_header(client, user):
    assert _export(client, user, format="csv").get_data(as_text=True) == ",".join(CSV_COLUMNS) + "\r\n"
    assert _export(client, user, format="ndjson").get_data(as_text=True) == ""


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"format": "xlsx"}, {"format"}),
        ({"format": "csv", "since": "nope"}, {"since"}),
        ({"format": "pdf", "event_type": "x"}, {"format", "event_type"}),
    ],
)
def test_bad_export_requests_are_422_before_any_streaming(client, user, params, fields):
    response = _export(client, user, **params)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == fields


def test_line_and_paragraph_separators_never_split_an_ndjson_record(client, user, trail):
    trail.add(title="one\u2028two", description="three\u2029four\nfive")
    body = _export(client, user, format="ndjson").get_data(as_text=True)
    lines = body.splitlines()  # str.splitlines splits on U+2028 and U+2029 too
    assert len(lines) == 1
    assert json.loads(lines[0])["event_data"]["task_data"] == {
        "title": "one\u2028two",
        "description": "three\u2029four\nfive",
        "completed": False,
    }
