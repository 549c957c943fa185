"""What each role must set explicitly wherever it is deployed, rather than keep a one-machine default."""

WORKER_SETTINGS = frozenset(
    {
        "WORKER_APP_ID",
        "WORKER_WEB_HOST",
        "WORKER_WEB_PORT",
        "WORKER_CANONICAL_URL",
        "TABLE_STORE",
        "WORKER_DATA_DIR",
        "BROKER_SESSION_TIMEOUT",
        "BROKER_REBALANCE_TIMEOUT",
        "BROKER_HEARTBEAT_INTERVAL",
    }
)
WEB_SETTINGS = frozenset({"WORKER_URL", "RELAY_ENABLED", "EVENT_PUBLISHER"})
# In a cluster every web pod shares one outbox backlog, so its /readyz limits are chosen, not defaulted.
CLUSTER_WEB_SETTINGS = WEB_SETTINGS | {"READYZ_MAX_BACKLOG", "READYZ_MAX_BACKLOG_AGE_SECONDS"}
