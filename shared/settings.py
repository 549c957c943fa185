"""The one place that reads the environment: every setting, its default, and its checks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

DEV_JWT_SECRET = "dev-jwt-secret-not-for-production-use-0000"
DEV_SECRET_KEY = "dev-flask-secret-not-for-production-use-00"
ENVIRONMENTS = ("development", "test", "production")
KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _bool(name: str, raw: str) -> bool:
    """Parse a boolean environment value, refusing anything ambiguous."""
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _int(name: str, raw: str) -> int:
    """Parse an integer environment value with an error that names the variable."""
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None


def _float(name: str, raw: str) -> float:
    """Parse a number environment value with an error that names the variable."""
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Typed configuration; field names are the environment variable names in lower case."""

    app_env: str = "development"
    log_level: str = "INFO"
    # json or text; empty means json in production, text elsewhere (shared.logs).
    log_format: str = ""
    # Where gunicorn's workers share their metric files so /metrics adds up across them.
    prometheus_multiproc_dir: str = ""
    secret_key: str = DEV_SECRET_KEY
    jwt_secret_key: str = DEV_JWT_SECRET
    jwt_access_token_expires: int = 900
    jwt_refresh_token_expires: int = 30 * 24 * 3600
    jwt_cookie_secure: bool = False
    # Sign-in throttling: attempts at login, registration or refresh per window, per client address
    # and per account (email, or the refresh token's user), before a 429 with Retry-After.
    auth_rate_limit_window_seconds: int = 60
    auth_rate_limit_per_client: int = 30
    auth_rate_limit_per_account: int = 10
    # Password hashes (argon2id, 64 MiB each) one web process computes at once; the rest wait.
    password_hash_concurrency: int = 2
    # Proxies in front of the web app whose X-Forwarded-For/Proto/Host are trusted (1 behind the ingress).
    proxy_fix_hops: int = 0
    # Largest request body the web app reads (MAX_CONTENT_LENGTH); larger ones get a 413.
    max_request_bytes: int = 256 * 1024
    database_url: str = ""
    database_pool_size: int = 5
    # Connections a process may open beyond its pool under bursts (SQLAlchemy's max_overflow).
    database_max_overflow: int = 10
    # The stream worker's login: a role that may only INSERT and SELECT audit_log (created by
    # `flask --app web db roles`); empty means the worker uses DATABASE_URL like the web app.
    worker_database_url: str = ""
    test_database_url: str = ""
    test_kafka_bootstrap_servers: str = ""
    # Where `make run` serves its own Tansu broker when KAFKA_BOOTSTRAP_SERVERS is not set.
    dev_kafka_port: int = 9092
    port: int = 8000
    # Event publishing (web side).
    event_publisher: str = ""
    pubsub_name: str = "kafka-pubsub"
    dapr_grpc_port: str = ""
    dapr_http_port: str = ""
    dapr_timeout_seconds: float = 5.0
    # Where the sidecar listens (the pod's loopback) and the app id Dapr puts in CloudEvents `source`.
    dapr_host: str = "127.0.0.1"
    dapr_app_id: str = "todo-web"
    # Bound on one produce (metadata, send, ack) when publishing straight to Kafka.
    kafka_timeout_seconds: float = 10.0
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""
    kafka_idempotent_producer: bool | None = None
    task_events_topic: str = "task-events"
    task_events_dlq_topic: str = "task-events-dlq"
    task_events_partitions: int = 6
    relay_enabled: bool = True
    relay_poll_seconds: float = 1.0
    # The separate relay process (`flask --app web relay`) serves /metrics on this port; 0: off.
    relay_metrics_port: int = 0
    relay_batch_size: int = 500
    # An event the broker refuses for good (too large, not authorised) is parked once it has been
    # attempted this many times; an unreachable broker never parks anything.
    relay_max_attempts: int = 5
    outbox_retention_hours: float = 24.0
    readyz_max_backlog: int = 10_000
    readyz_max_backlog_age_seconds: float = 300.0
    # Stream worker.
    worker_web_host: str = "127.0.0.1"
    worker_web_port: int = 6066
    worker_url: str = "http://127.0.0.1:6066"
    worker_data_dir: str = "var/worker"
    table_store: str = "memory://"
    counts_timeout_seconds: float = 0.5
    audit_batch_size: int = 500
    audit_batch_within_seconds: float = 0.05
    max_event_bytes: int = 64 * 1024
    broker_session_timeout: float = 6.0
    broker_rebalance_timeout: float = 6.0
    broker_heartbeat_interval: float = 1.0
    # Consumer group and table-topic prefix; tests give each worker group its own.
    worker_app_id: str = "todo-streams"
    # URL other workers use to reach this one (table_route); empty means http://host:port.
    worker_canonical_url: str = ""
    # Ceiling of the one backoff policy (shared/retry.py) of the relay and the worker while the
    # database, broker or mail server is unreachable.
    retry_max_backoff_seconds: float = 30.0
    # Worker producer batch limit. Tests against Tansu set 1 (one record per batch) where changelog
    # recovery matters: Tansu reports a partition's end offset as its last batch's base offset + 1.
    kafka_producer_max_batch_bytes: int = 16384
    # Replicas of the topics Faust creates itself (table changelogs, the counts repartition topic).
    topic_replication_factor: int = 1
    # Longest a worker's fetch waits for new messages. Faust fixes it at 1500 ms; Tansu holds a
    # fetch that long on multi-partition topics even when data arrives, so events sat ~750 ms.
    worker_fetch_max_wait_ms: int = 100
    # Mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    # Completion mails only to addresses verified by the link mailed at registration (unset: on in
    # production, off elsewhere so `make run` mails at once), and at most this many per user per hour.
    mail_require_verified: bool | None = None
    mail_rate_limit_per_hour: int = 30
    # CA bundle that signs the mail server's certificate (empty: the system's trust store).
    smtp_ssl_cafile: str = ""
    mail_from: str = "todo-platform <noreply@localhost>"
    mail_dir: str = "var/mail"
    # A mail claimed but not sent this long ago (its worker died in between) is sent by another.
    mail_claim_timeout_seconds: float = 120.0
    # Webhooks. Deliveries to loopback addresses are refused unless this is on (make run and tests);
    # private and link-local addresses are always refused.
    webhook_allow_loopback: bool = False
    webhook_timeout_seconds: float = 5.0
    webhook_max_response_bytes: int = 64 * 1024
    webhook_poll_seconds: float = 1.0
    # An endpoint whose deliveries have failed without a success for this long is disabled.
    webhook_disable_after_hours: float = 24.0

    @property
    def is_production(self) -> bool:
        """Whether development shortcuts (default secrets, plain Kafka) are refused."""
        return self.app_env == "production"

    @property
    def publisher(self) -> str:
        """The event publisher: explicit, else Dapr when a sidecar announced its ports."""
        if self.event_publisher:
            return self.event_publisher
        return "dapr" if (self.dapr_grpc_port or self.dapr_http_port) else "kafka"

    @property
    def idempotent_producer(self) -> bool:
        """Idempotent Kafka producer: on for real Kafka (production) unless set explicitly."""
        if self.kafka_idempotent_producer is None:
            return self.is_production
        return self.kafka_idempotent_producer

    @property
    def requires_verified_email(self) -> bool:
        """Whether completion mail waits for a verified address: MAIL_REQUIRE_VERIFIED, else production."""
        if self.mail_require_verified is None:
            return self.is_production
        return self.mail_require_verified

    def for_worker(self) -> Settings:
        """These settings with the worker's own database login in DATABASE_URL, when one is set."""
        return replace(self, database_url=self.worker_database_url or self.database_url)

    def sqlalchemy_url(self) -> str:
        """DATABASE_URL in the form SQLAlchemy wants, with the psycopg 3 driver."""
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


def _convert(name: str, raw: str, kind: object) -> object:
    """Convert one raw environment string to the field's declared type."""
    if kind in ("bool", "bool | None"):
        return _bool(name, raw)
    if kind == "int":
        return _int(name, raw)
    if kind == "float":
        return _float(name, raw)
    return raw


def _validate(settings: Settings) -> None:
    """Refuse combinations that would run unsafely or not at all."""
    if settings.app_env not in ENVIRONMENTS:
        raise SettingsError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {settings.app_env!r}")
    if settings.log_format not in ("", "json", "text"):
        raise SettingsError(f"LOG_FORMAT must be json or text, not {settings.log_format!r}")
    if settings.event_publisher not in ("", "dapr", "kafka"):
        raise SettingsError(f"EVENT_PUBLISHER must be dapr or kafka, not {settings.event_publisher!r}")
    _validate_kafka(settings)
    if settings.is_production and not settings.database_url:
        raise SettingsError("DATABASE_URL must be set in production")


def require_web_secrets(settings: Settings) -> None:
    """Refuse development or short signing secrets in production, where the Flask app signs with them.

    Only the processes that build the Flask app call this, so the stream worker runs without the
    web app's secrets (each deployed role gets only the secrets it uses). APP_ENV alone cannot wave
    the check through: a development or test app must also keep its database on this machine, so a
    deployment that sets APP_ENV=development against a real database still refuses to start.
    """
    if not settings.is_production and _local_database(settings.database_url):
        return
    if settings.jwt_secret_key in (DEV_JWT_SECRET, "") or len(settings.jwt_secret_key) < 32:
        raise SettingsError(
            "JWT_SECRET_KEY must be set to a random secret of 32+ characters in production"
            " (or wherever DATABASE_URL is not on this machine)"
        )
    if settings.secret_key in (DEV_SECRET_KEY, "") or len(settings.secret_key) < 32:
        raise SettingsError(
            "SECRET_KEY must be set to a random secret of 32+ characters in production"
            " (or wherever DATABASE_URL is not on this machine)"
        )


def _local_database(url: str) -> bool:
    """Whether DATABASE_URL is unset or on this machine (loopback or a Unix socket), as in development."""
    if not url:
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        socket = parse_qs(parts.query).get("host", ["/"])[0]
        return socket.startswith("/")
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _validate_kafka(settings: Settings) -> None:
    """Refuse a Kafka protocol, SASL mechanism or SASL login that no client could use."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in KAFKA_PROTOCOLS:
        raise SettingsError(
            f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(KAFKA_PROTOCOLS)}, not {protocol!r}"
        )
    mechanism = settings.kafka_sasl_mechanism.upper()
    if mechanism and mechanism not in KAFKA_SASL_MECHANISMS:
        raise SettingsError(
            f"KAFKA_SASL_MECHANISM must be one of {', '.join(KAFKA_SASL_MECHANISMS)}, not {mechanism!r}"
        )
    if protocol.startswith("SASL") and not (settings.kafka_sasl_username and settings.kafka_sasl_password):
        raise SettingsError(f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD must be set for {protocol}")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (the process environment by default)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field in fields(Settings):
        name = field.name.upper()
        if name in env:
            values[field.name] = _convert(name, env[name], field.type)
    settings = Settings(**values)  # type: ignore[arg-type]
    _validate(settings)
    return settings


def is_set(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment sets this variable (as opposed to the default applying)."""
    env = os.environ if environ is None else environ
    return bool(env.get(name))


def environment() -> dict[str, str]:
    """A copy of the process environment, for launching child processes with changes."""
    return dict(os.environ)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
