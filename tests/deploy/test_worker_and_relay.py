"""The worker's and the relay's deployment match what streams/ and web/outbox/ read and serve."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from shared.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "chart" / "todo-platform"
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
VALUE_SETS = ("default", "incluster", "production")
WORKER = ("StatefulSet", "todo-platform-worker")
WEB = ("Deployment", "todo-platform-web")
RELAY = ("Deployment", "todo-platform-relay")
SEPARATE = ("relay.separate=true",)
# Production consumer-group timing (streams/app.py's docstring): session / rebalance / heartbeat.
PRODUCTION_GROUP_TIMING = (30.0, 60.0, 3.0)


def _container(docs, find, kind, name):
    """The one app container of a rendered workload."""
    return find(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]


def _group_timing(settings: Settings) -> tuple[float, float, float]:
    """Session timeout, rebalance timeout, heartbeat interval."""
    return (
        settings.broker_session_timeout,
        settings.broker_rebalance_timeout,
        settings.broker_heartbeat_interval,
    )


def _view_path(view: str) -> str:
    """The path streams/readiness.py serves one of its views at."""
    source = (ROOT / "streams" / "readiness.py").read_text()
    match = re.search(rf'@app\.page\("([^"]+)"\)\nclass {view}\b', source)
    assert match, f"streams/readiness.py no longer registers the {view} view with @app.page"
    return match[1]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_worker_runs_with_production_group_timing_and_its_own_identity(render, find, pod_env, value_set):
    docs = render(value_set)
    settings = load_settings(pod_env(docs, *WORKER))
    assert _group_timing(settings) == PRODUCTION_GROUP_TIMING
    # Not the dev defaults, which only suit a single local worker.
    assert _group_timing(settings) != _group_timing(Settings())
    assert settings.worker_app_id == VALUES["worker"]["appId"] == Settings().worker_app_id
    assert settings.worker_web_host == "0.0.0.0"  # noqa: S104  (reachable from other pods)
    assert settings.table_store == "rocksdb://"
    assert settings.worker_web_port == Settings().worker_web_port


def test_group_timing_follows_the_values(render, pod_env):
    docs = render("production", typed=("worker.broker.sessionTimeout=45", "worker.appId=streams-blue"))
    settings = load_settings(pod_env(docs, *WORKER))
    assert settings.broker_session_timeout == 45.0
    assert settings.worker_app_id == "streams-blue"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_worker_canonical_url_is_its_pod_ip_declared_before_use(render, find, pod_env, value_set):
    docs = render(value_set)
    env = _container(docs, find, *WORKER)["env"]
    names = [item["name"] for item in env]
    pod_ip = env[names.index("POD_IP")]
    assert pod_ip["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    # Kubernetes expands $(POD_IP) only when POD_IP is declared earlier in the list.
    assert names.index("POD_IP") < names.index("WORKER_CANONICAL_URL")
    settings = load_settings(pod_env(docs, *WORKER))
    assert re.fullmatch(r"http://\d+\.\d+\.\d+\.\d+:6066", settings.worker_canonical_url)
    assert settings.worker_canonical_url.endswith(f":{settings.worker_web_port}")


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_worker_probes_ready_on_ready_and_live_on_live(render, find, value_set):
    docs = render(value_set)
    container = _container(docs, find, *WORKER)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == _view_path("Ready") == "/ready/"
    assert ports[readiness["port"]] == Settings().worker_web_port
    liveness = container["livenessProbe"]
    # /ready/ answers 503 through every rebalance; a liveness check on it would restart the group.
    # /live/ answers 503 only once an agent crashed (tests/streams/test_worker_live.py).
    assert liveness["httpGet"]["path"] == _view_path("Live") == "/live/"
    assert ports[liveness["httpGet"]["port"]] == Settings().worker_web_port
    rebalance = float(VALUES["worker"]["broker"]["rebalanceTimeout"])
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > rebalance


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_web_asks_the_worker_service_for_counts_and_runs_the_relay(render, find, pod_env, value_set):
    docs = render(value_set)
    settings = load_settings(pod_env(docs, *WEB))
    service = find(docs, "Service", "todo-platform-worker")
    (port,) = service["spec"]["ports"]
    assert settings.worker_url == f"http://{service['metadata']['name']}:{port['port']}"
    assert port["port"] == load_settings(pod_env(docs, *WORKER)).worker_web_port
    assert settings.relay_enabled is True
    assert not [d for d in docs if (d["kind"], d["metadata"]["name"]) == RELAY]
    assert all(d["scopes"] == ["todo-web"] for d in docs if d["kind"] in {"Component", "Resiliency"})


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_separate_relay_runs_alone_and_the_web_pods_stop_relaying(render, find, pod_env, value_set):
    docs = render(value_set, typed=SEPARATE)
    assert load_settings(pod_env(docs, *WEB)).relay_enabled is False
    relay = find(docs, *RELAY)
    env = pod_env(docs, *RELAY)
    unknown = set(env) - {field.upper() for field in Settings.__dataclass_fields__}
    assert not unknown, f"the relay sets variables the app does not read: {unknown}"
    settings = load_settings(env)
    assert settings.is_production
    assert settings.relay_enabled is True
    assert settings.publisher == load_settings(pod_env(docs, *WEB)).publisher == "dapr"
    annotations = relay["spec"]["template"]["metadata"]["annotations"]
    assert annotations["dapr.io/enabled"] == "true"
    assert annotations["dapr.io/app-id"] == settings.dapr_app_id == "todo-web-relay"
    assert "dapr.io/app-port" not in annotations
    for doc in docs:
        if doc["kind"] in {"Component", "Resiliency"}:
            assert doc["scopes"] == ["todo-web", "todo-web-relay"], doc["metadata"]["name"]
    find(docs, "NetworkPolicy", "todo-platform-relay")
    for doc in (relay, find(docs, "NetworkPolicy", "todo-platform-relay")):
        kubernetes_validate.validate(doc, "1.33.0", strict=True)
    pod = relay["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    context = pod["containers"][0]["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]


def test_separate_relay_without_dapr_publishes_straight_to_kafka(render, find, pod_env):
    docs = render("production", typed=(*SEPARATE, "dapr.enabled=false"))
    relay = find(docs, *RELAY)
    assert "dapr.io/enabled" not in relay["spec"]["template"]["metadata"]["annotations"]
    settings = load_settings(pod_env(docs, *RELAY))
    assert settings.publisher == "kafka"
    assert settings.kafka_ssl_cafile.startswith("/etc/todo-platform/kafka/")
    mounts = {m["mountPath"] for m in relay["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert str(Path(settings.kafka_ssl_cafile).parent) in mounts


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_readyz_backlog_limits_are_generous_in_production(render, pod_env, value_set):
    settings = load_settings(pod_env(render(value_set), *WEB))
    assert settings.readyz_max_backlog == VALUES["web"]["readyz"]["maxBacklog"] >= 100_000
    assert settings.readyz_max_backlog_age_seconds == VALUES["web"]["readyz"]["maxBacklogAgeSeconds"] >= 1800
    # Well above the dev defaults: a broker outage must not take every web pod out of the Service at once.
    assert settings.readyz_max_backlog >= 10 * Settings().readyz_max_backlog
    assert settings.readyz_max_backlog_age_seconds >= 6 * Settings().readyz_max_backlog_age_seconds


def test_readyz_backlog_limits_follow_the_values(render, pod_env):
    docs = render("production", typed=("web.readyz.maxBacklog=5000", "web.readyz.maxBacklogAgeSeconds=600"))
    settings = load_settings(pod_env(docs, *WEB))
    assert (settings.readyz_max_backlog, settings.readyz_max_backlog_age_seconds) == (5000, 600.0)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["worker.broker.heartbeatInterval=11"], "must be at most a third of worker.broker.sessionTimeout"),
    ],
)
def test_impossible_group_timing_is_refused(refused, sets, message):
    assert message in refused(*sets)


@pytest.mark.parametrize(
    ("sets", "path"),
    [
        (["relay.separate=yes"], "/relay/separate"),
        (["relay.replicaCount=0"], "/relay/replicaCount"),
        (["worker.broker.sessionTimeout=0"], "/worker/broker/sessionTimeout"),
        (["web.readyz.maxBacklog=0"], "/web/readyz/maxBacklog"),
    ],
)
def test_schema_rejects_malformed_worker_and_relay_values(refused, sets, path):
    stderr = refused(*sets)
    assert "schema" in stderr
    assert path in stderr


def test_deploy_guide_documents_the_worker_topics_and_the_trade_offs():
    guide = (ROOT / "DEPLOY.md").read_text()
    for phrase in (
        "BROKER_SESSION_TIMEOUT",
        "WORKER_CANONICAL_URL",
        "<app_id>-user_to_counts-changelog",
        "<app_id>-counts-by-user",
        "relay.separate",
        "READYZ_MAX_BACKLOG",
        "/ready/",
    ):
        assert phrase in guide, phrase


@pytest.mark.parametrize(("value_set", "replicas"), [("default", 1), ("incluster", 1), ("production", 3)])
def test_the_workers_own_topics_are_replicated_as_the_values_ask(render, pod_env, value_set, replicas):
    """Topics Faust creates itself (changelog, counts-by-user) get TOPIC_REPLICATION_FACTOR replicas."""
    settings = load_settings(pod_env(render(value_set), *WORKER))
    assert settings.topic_replication_factor == replicas
