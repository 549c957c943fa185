"""The relay: publishes what the outbox holds, in order per user, one active copy across all processes.

Leadership is a PostgreSQL session advisory lock held by the relay's own connection: it is
released when that connection or its process dies, and another relay (a gunicorn worker, a
replica, `todo-platform relay`) takes over within RELAY_POLL_SECONDS. The leader LISTENs
for the NOTIFY every commit with events sends, so a request's events go out right after its
commit; polling catches anything else (rows left by a killed process, missed wake-ups).

An unreachable broker is retried with the shared backoff for as long as it lasts. An event the
broker refuses for good (publishers return it as `Refused`) holds its user's later events back
for at most RELAY_MAX_ATTEMPTS rounds, then is parked: the relay skips it, the user's later events
go out after it, and `flask --app web outbox retry` puts it back once the cause is fixed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.retry import backoff
from shared.settings import Settings
from web.metrics import record_publish_round
from web.outbox import repository
from web.outbox.publishers.base import Outgoing, Publisher, Refused

log = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 60.0
# A commit's NOTIFY starts the next round no sooner than this after the previous round started.
# Under a stream of commits each round then carries what the interval gathered, instead of one or
# two events at a round's fixed cost (two statements, two commits, a produce request); after a
# quiet spell a commit still goes out at once.
MIN_ROUND_INTERVAL_SECONDS = 0.02


def settle(batch: Sequence[Outgoing], results: Sequence[str | None]) -> tuple[list[int], dict[int, str]]:
    """Split results into rows to mark published (each user's acked prefix) and failures to record."""
    acked: list[int] = []
    failed: dict[int, str] = {}
    blocked: set[str] = set()
    for item, error in zip(batch, results, strict=True):
        if item.user_id in blocked:
            continue
        if error is None:
            acked.append(item.row_id)
        else:
            blocked.add(item.user_id)
            failed[item.row_id] = error
    return acked, failed


class Relay:
    """Publishes pending outbox rows while it holds the relay lock; otherwise waits its turn."""

    def __init__(
        self, *, engine: Engine, publisher: Publisher, settings: Settings, name: str = "relay"
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.settings = settings
        self.name = name
        self._stop = threading.Event()
        self._conn: Connection | None = None
        self._failures = 0
        # Consecutive refusals per outbox row (kept in memory: a new leader counts afresh, still bounded).
        self._refusals: dict[int, int] = {}
        self._pruned_at = 0.0
        self._round_started = 0.0
        self._thread: threading.Thread | None = None

    @property
    def leading(self) -> bool:
        """Whether this relay holds the lock right now."""
        return self._conn is not None

    def start(self) -> Relay:
        """Run in a daemon thread (the web process's relay)."""
        self._thread = threading.Thread(target=self.run_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to finish its round and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_forever(self) -> None:
        """Publish rounds until stopped, then give up the lock and the publisher."""
        log.info("%s: started (%s publisher)", self.name, type(self.publisher).__name__)
        try:
            while not self._stop.is_set():
                self._wait(self.step())
        finally:
            self._resign()
            self.publisher.close()
            log.info("%s: stopped", self.name)

    def step(self) -> float:
        """One round: lead if possible, drain the outbox; returns seconds until the next round."""
        self._round_started = time.monotonic()
        try:
            if self._conn is None and not self._lead():
                return self.settings.relay_poll_seconds
            failed = self._drain()
            self._maybe_prune()
        except SQLAlchemyError as exc:
            log.warning("%s: database error, resigning: %s", self.name, exc)
            self._resign()
            failed = True
        self._failures = self._failures + 1 if failed else 0
        return self._backoff() if failed else self.settings.relay_poll_seconds

    def _backoff(self) -> float:
        """The shared backoff after consecutive failed rounds (the worker waits the same way)."""
        return backoff(self.settings).delay(self._failures - 1)

    def _lead(self) -> bool:
        """Try to take the relay lock on a dedicated connection."""
        conn = self.engine.connect()
        try:
            if repository.try_lead(conn=conn):
                self._conn = conn
                log.info("%s: leading", self.name)
                return True
        except SQLAlchemyError:
            conn.invalidate()
            raise
        conn.close()
        return False

    def _resign(self) -> None:
        """Drop the lock by closing its connection (discarded, so the session really ends)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except SQLAlchemyError:
                pass

    def _drain(self) -> bool:
        """Publish batches until the outbox is empty or a batch fails; True when something failed."""
        assert self._conn is not None
        while not self._stop.is_set():
            self._discard_wakeups()
            batch = repository.pending_batch(conn=self._conn, limit=self.settings.relay_batch_size)
            self._conn.commit()
            if not batch:
                return False
            acked, failed = settle(batch, self._publish(batch))
            repository.mark_published(conn=self._conn, row_ids=acked)
            repository.record_failures(conn=self._conn, failures=failed, park=self._to_park(failed))
            self._conn.commit()
            record_publish_round(published=len(acked), failed=len(failed))
            self._log_failures(batch, failed)
            # DEBUG: at INFO this was a line per round, up to one per request under load.
            log.debug("%s: published %d, failed %d, held back %d", self.name, len(acked), len(failed),
                      len(batch) - len(acked) - len(failed))  # fmt: skip
            if failed:
                return True
            if len(batch) < self.settings.relay_batch_size:
                return False
        return False

    def _log_failures(self, batch: Sequence[Outgoing], failed: dict[int, str]) -> None:
        """One line per event that did not go out, carrying its event id."""
        for item in batch:
            if item.row_id in failed:
                event_id = str(item.event.get("event_id", ""))
                log.warning("%s: event %s not published: %s", self.name, event_id, failed[item.row_id],
                            extra={"event_id": event_id})  # fmt: skip

    def _to_park(self, failed: dict[int, str]) -> set[int]:
        """Rows refused RELAY_MAX_ATTEMPTS times in a row; an unreachable broker never counts."""
        for row_id, error in failed.items():
            self._refusals[row_id] = self._refusals.get(row_id, 0) + 1 if isinstance(error, Refused) else 0
        limit = self.settings.relay_max_attempts
        park = {row_id for row_id, count in self._refusals.items() if count >= limit}
        self._refusals = {row: count for row, count in self._refusals.items() if count and row not in park}
        return park

    def _discard_wakeups(self) -> None:
        """Drop the NOTIFYs already queued: the batch about to be read covers every commit they announce.

        Without this, N commits during one round woke the relay N more times, mostly for empty rounds.
        """
        assert self._conn is not None
        driver = self._conn.connection.driver_connection
        if driver is not None:
            for _ in driver.notifies(timeout=0):
                pass

    def _publish(self, batch: Sequence[Outgoing]) -> Sequence[str | None]:
        """The publisher's results; an unexpected error fails the whole batch instead of the relay."""
        try:
            return self.publisher.publish(batch)
        except Exception as exc:
            log.exception("%s: publisher raised", self.name)
            return [f"{type(exc).__name__}: {exc}"] * len(batch)

    def _maybe_prune(self) -> None:
        """Delete published rows past the retention period, at most once a minute."""
        assert self._conn is not None
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        retention = timedelta(hours=self.settings.outbox_retention_hours)
        pruned = repository.prune_published(conn=self._conn, older_than=retention)
        self._conn.commit()
        self._pruned_at = time.monotonic()
        if pruned:
            log.info("%s: pruned %d published rows", self.name, pruned)

    def _wait(self, seconds: float) -> None:
        """Sleep until the next round: a commit's NOTIFY ends it early (MIN_ROUND_INTERVAL_SECONDS apart)."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._conn is None or self._failures:
                self._stop.wait(min(left, 0.5))
                continue
            try:
                driver = self._conn.connection.driver_connection
                if driver is not None and list(driver.notifies(timeout=min(left, 0.5), stop_after=1)):
                    self._stop.wait(self._round_started + MIN_ROUND_INTERVAL_SECONDS - time.monotonic())
                    return
            except Exception as exc:
                log.warning("%s: lost the database while waiting: %s", self.name, exc)
                self._resign()
