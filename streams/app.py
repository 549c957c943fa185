"""The Faust app and its configuration, all of it from the shared settings.

Consumer-group timing (BROKER_SESSION_TIMEOUT / BROKER_REBALANCE_TIMEOUT / BROKER_HEARTBEAT_INTERVAL):
- dev and tests: 6 s / 6 s / 1 s (the settings defaults). Against Tansu a fresh worker holds its
  partitions after ~4 s instead of ~31 s with Faust's defaults, and a member left over from a killed
  worker blocks a rejoin for at most the 6 s session timeout.
- production: 30 s / 60 s / 3 s (set in the deployment). A longer session survives GC pauses and
  broker fail-overs without needless rebalances; a slow batch (database retrying) is not evicted.
"""

from __future__ import annotations

import faust

from shared.kafka import sasl_login, ssl_context
from shared.logs import log_config
from shared.settings import Settings, get_settings
from streams.transport import broker_urls


def _credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust's form of the one Kafka connection config (shared.kafka); None for plain Kafka."""
    login, context = sasl_login(settings), ssl_context(settings)
    if login is not None:
        return faust.SASLCredentials(
            username=login.username, password=login.password, mechanism=login.mechanism, ssl_context=context
        )
    return faust.SSLCredentials(context) if context is not None else None


def canonical_url(settings: Settings) -> str:
    """The URL other workers use to reach this worker's web server."""
    return settings.worker_canonical_url or f"http://{settings.worker_web_host}:{settings.worker_web_port}"


def create_app(settings: Settings) -> faust.App:
    """A Faust app configured for these settings (topics and agents register on import)."""
    return faust.App(
        settings.worker_app_id,
        broker=broker_urls(settings.kafka_bootstrap_servers),
        broker_credentials=_credentials(settings),
        store=settings.table_store,
        datadir=settings.worker_data_dir,
        web_host=settings.worker_web_host,
        # Faust binds every interface unless told; its table pages would list every user's counts.
        web_bind=settings.worker_web_host,
        web_tables_enabled=False,
        web_port=settings.worker_web_port,
        canonical_url=canonical_url(settings),
        broker_session_timeout=settings.broker_session_timeout,
        broker_rebalance_timeout=settings.broker_rebalance_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.task_events_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_max_batch_size=settings.kafka_producer_max_batch_bytes,
        table_cleanup_interval=30.0,
        # Agents, tables and views register themselves when `faust -A streams.app worker`
        # scans the package; tests import the modules they exercise.
        autodiscover=True,
        origin="streams",
        # The worker logs through the same setup as the web app (JSON in production, no secrets).
        logging_config=log_config(settings),
    )


settings = get_settings()
app = create_app(settings)
