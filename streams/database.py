"""The worker's database sessions: one engine per process, made on first use."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from shared.db import make_engine, make_sessionmaker
from shared.settings import Settings


@lru_cache(maxsize=4)
def worker_sessions(settings: Settings) -> sessionmaker[Session]:
    """Sessions for the agents on WORKER_DATABASE_URL (else DATABASE_URL); blocking calls run in threads.

    Connections are pinged only after sitting idle: at a few events a second each batch checks out
    several (audit insert, mail claims, recipients, webhooks), and pinging every checkout was ~6% of
    the worker's samples at 100 task operations/s. A connection a restart killed in between fails
    its statement, which every agent retries as a transient failure (streams.retry).
    """
    return make_sessionmaker(
        make_engine(
            settings.for_worker(),
            ping_idle_only=True,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
        )
    )
