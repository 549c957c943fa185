"""Core statements compiled once and run straight on the psycopg connection under a session.

For the statements on a hot path: the web's create (the token's standing, the task and its event)
and the worker's mail claim. Running a cached statement through SQLAlchemy (cache lookup, execution
context, parameter processing, result wrapping) cost more CPU than psycopg's own execute (issue 9,
py-spy on gunicorn and on the worker).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from psycopg.pq import TransactionStatus
from sqlalchemy import ClauseElement, Column, Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import TypeEngine

from shared.db import SessionLike

IDLE = TransactionStatus.IDLE


class DriverStatement:
    """A Core statement compiled once, run straight on the session's psycopg connection in its transaction.

    For the hot-path statements the module docstring names. This hands psycopg the compiled SQL
    and the processed parameters; errors still go through SQLAlchemy's handling (its exception
    types, a lost connection invalidating the pool), and cursor-execute listeners still hear of it.
    Rows come back as psycopg's tuples, so only statements whose columns need no result conversion
    are accepted.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None

    def _compile(self, dialect: Dialect) -> _Compiled:
        """SQL, fixed parameter values and parameter processors for this dialect (built on first use)."""
        if self._compiled is None or self._compiled.dialect is not dialect:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            for entry in compiled._result_columns:
                if _converts_results(entry.type, dialect):
                    raise TypeError(f"column {entry.keyname} needs result processing; use Session.execute")
            processors = cast(dict[str, Callable[[Any], Any]], dict(compiled._bind_processors))
            literals = {
                name: bind.effective_value for bind, name in compiled.bind_names.items() if not bind.required
            }
            prefetch = cast(list[Column[Any]], [*compiled.insert_prefetch, *compiled.update_prefetch])
            for column in prefetch:  # Python-side defaults
                if not isinstance(column.default, ScalarElementColumnDefault):
                    raise TypeError(f"column {column.key} has a default only SQLAlchemy can run")
                literals[column.key] = column.default.arg
            fixed = {name: processors[name](v) if name in processors else v for name, v in literals.items()}
            self._compiled = _Compiled(dialect, str(compiled), fixed, processors)
        return self._compiled

    def execute(
        self, *, session: SessionLike, params: dict[str, Any], alone: bool = False
    ) -> Sequence[tuple[Any, ...]]:
        """Run the statement with `params` in the session's transaction; its rows.

        `alone`: if the transaction has sent nothing to the server yet and the session holds no
        unflushed changes, run the statement as a transaction of its own (autocommit): one round
        trip where psycopg would send BEGIN, the statement and, for a write, COMMIT. For a read that
        needs no snapshot shared with what follows, or a write that is its transaction's only one.
        """
        connection = session.connection()
        compiled = self._compile(connection.dialect)
        values = dict(compiled.fixed)
        for name, value in params.items():
            processor = compiled.processors.get(name)
            values[name] = processor(value) if processor is not None and value is not None else value
        driver = connection.connection.driver_connection
        assert driver is not None
        solo = (
            alone
            and driver.info.transaction_status == IDLE
            and not (session.new or session.dirty or session.deleted)
        )
        cursor = driver.cursor()
        listeners = connection.dispatch.before_cursor_execute  # e.g. the tests counting statements
        try:
            if solo:
                driver.autocommit = True
            if listeners:
                listeners(connection, cursor, compiled.sql, values, None, False)
            cursor.execute(compiled.sql, values)
            return cursor.fetchall()
        except connection.dialect.loaded_dbapi.Error as error:
            connection._handle_dbapi_exception(error, compiled.sql, values, cursor, None)
        finally:
            cursor.close()
            if solo:
                _end_autocommit(connection)


def _end_autocommit(connection: Connection) -> None:
    """Back to transactions; a connection that cannot be is discarded, never pooled in autocommit."""
    driver = connection.connection.driver_connection if not connection.invalidated else None
    try:
        if driver is not None:
            driver.autocommit = False
    except connection.dialect.loaded_dbapi.Error as error:
        connection.invalidate(error)


def _converts_results(column_type: TypeEngine[Any], dialect: Dialect) -> bool:
    """Whether SQLAlchemy converts this type's values on the way out (numeric types: decided per column)."""
    try:
        return column_type.dialect_impl(dialect).result_processor(dialect, None) is not None
    except TypeError:
        return True


@dataclass(frozen=True)
class _Compiled:
    """A DriverStatement's compiled form for one dialect."""

    dialect: Dialect
    sql: str
    fixed: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]
