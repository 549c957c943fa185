"""Streaming exports of a user's trail as CSV or NDJSON, in constant memory whatever the size."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Response, stream_with_context
from sqlalchemy import Row

from shared.db import SessionLike
from shared.events import TASK_DATA_FIELDS, format_timestamp
from web.audit import services
from web.audit.schemas import AuditQuery, entry_json, task_data

FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
CSV_COLUMNS = (
    "id",
    "event_id",
    "event_type",
    "user_id",
    "task_id",
    "timestamp",
    *TASK_DATA_FIELDS,
    "event_data",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_WRITE = 200


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP CSV injection: prefix a quote)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _task_cell(value: Any) -> Any:
    """A task_data value for a cell: booleans in lower case as JSON writes them."""
    return str(value).lower() if isinstance(value, bool) else value


def csv_cells(row: Row[Any]) -> list[str]:
    """One audit row as escaped CSV cells in CSV_COLUMNS order."""
    task = task_data(row)
    values = (
        row.id,
        row.event_id,
        row.event_type,
        row.user_id,
        row.task_id,
        format_timestamp(row.timestamp),
        *(_task_cell(task.get(name)) for name in TASK_DATA_FIELDS),
        json.dumps(row.event_data, separators=(",", ":"), ensure_ascii=False),
    )
    return [safe_cell(value) for value in values]


def _batched(rows: Iterable[Row[Any]], size: int) -> Iterator[list[Row[Any]]]:
    """Group rows so each network write carries a few hundred lines rather than one."""
    batch: list[Row[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_lines(rows: Iterable[Row[Any]]) -> Iterator[str]:
    """The header, then the rows, as CSV text pieces."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for batch in _batched(rows, ROWS_PER_WRITE):
        writer.writerows(csv_cells(row) for row in batch)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


# JSON allows U+2028 and U+2029 raw, but many line readers split on them: escape them, so each
# record stays on its one line whatever a title holds.
LINE_SEPARATORS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029"})


def ndjson_lines(rows: Iterable[Row[Any]]) -> Iterator[str]:
    """One JSON object per line, in the API's item shape."""
    for batch in _batched(rows, ROWS_PER_WRITE):
        yield "".join(_ndjson_line(entry_json(row)) for row in batch)


def _ndjson_line(item: dict[str, Any]) -> str:
    """An item as one line of JSON, with no character a line reader could split it on."""
    return json.dumps(item, ensure_ascii=False).translate(LINE_SEPARATORS) + "\n"


def export_response(*, session: SessionLike, user_id: str, query: AuditQuery, fmt: str) -> Response:
    """A streamed attachment of every row matching `query` (its limit and cursor do not apply)."""
    rows = services.iter_events(session=session, user_id=user_id, query=query)
    body = csv_lines(rows) if fmt == "csv" else ndjson_lines(rows)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = Response(stream_with_context(body), mimetype=FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def parse_format(raw: str | None) -> tuple[str | None, dict[str, str]]:
    """The export format, csv by default; an error naming `format` otherwise."""
    fmt = raw or "csv"
    if fmt not in FORMATS:
        return None, {"format": f"must be one of {', '.join(FORMATS)}"}
    return fmt, {}
