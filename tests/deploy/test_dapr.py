"""Dapr components, annotations and the app's settings agree on names, topic and port."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.settings import Settings, load_settings
from tests.deploy.roles import CLUSTER_WEB_SETTINGS, WORKER_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ROOT / "dapr-components"
APP_ID = "todo-web"
ROLE_SETTINGS = {"StatefulSet": WORKER_SETTINGS, "Deployment": CLUSTER_WEB_SETTINGS}


def _load(name: str) -> dict:
    """One file under dapr-components/."""
    return yaml.safe_load((COMPONENTS / name).read_text())


def _metadata(component: dict) -> dict:
    """A component's metadata list as a name -> entry mapping."""
    return {item["name"]: item for item in component["spec"]["metadata"]}


def test_pubsub_components_use_the_apps_pubsub_name():
    defaults = Settings()
    for name in ("kafka-pubsub.yaml", "managed/kafka-pubsub.yaml"):
        component = _load(name)
        assert component["kind"] == "Component"
        assert component["metadata"]["name"] == defaults.pubsub_name
        assert component["spec"]["type"] == "pubsub.kafka"
        assert component["scopes"] == [APP_ID]
        metadata = _metadata(component)
        assert {"brokers", "consumerGroup", "authType", "maxMessageBytes"} <= set(metadata)
        max_bytes = int(metadata["maxMessageBytes"]["value"])
        # Room for the largest event plus its CloudEvent envelope, under Kafka's 1 MiB default.
        assert 2 * defaults.max_event_bytes <= max_bytes <= 1024 * 1024


def test_local_pubsub_has_no_auth_and_managed_reads_sasl_and_tls_from_a_secret():
    local = _metadata(_load("kafka-pubsub.yaml"))
    assert local["authType"]["value"] == "none"
    managed = _metadata(_load("managed/kafka-pubsub.yaml"))
    assert managed["authType"]["value"] == "password"
    assert managed["saslMechanism"]["value"] == "SHA-256"
    assert managed["disableTls"]["value"] == "false"
    for field in ("brokers", "saslUsername", "saslPassword", "caCert"):
        assert managed[field]["secretKeyRef"]["name"] == "todo-platform-kafka", field


def test_there_is_no_state_store_and_no_secret_store():
    # Nothing uses Dapr state; a store would make PostgreSQL a start-up dependency of every sidecar.
    kinds = {
        _load(str(path.relative_to(COMPONENTS)))["spec"].get("type", "")
        for path in COMPONENTS.rglob("*.yaml")
    }
    assert not [kind for kind in kinds if kind.startswith(("state.", "secretstores."))]


def test_resiliency_covers_the_publish_path_within_the_apps_timeout():
    policy = _load("resiliency.yaml")
    outbound = policy["spec"]["targets"]["components"][Settings().pubsub_name]["outbound"]
    policies = policy["spec"]["policies"]
    assert outbound["timeout"] in policies["timeouts"]
    retry = policies["retries"][outbound["retry"]]
    assert retry["policy"] == "exponential"
    assert outbound["circuitBreaker"] in policies["circuitBreakers"]
    attempt = float(policies["timeouts"][outbound["timeout"]].rstrip("s"))
    backoff_cap = float(retry["maxInterval"].rstrip("s"))
    worst_case = attempt * (retry["maxRetries"] + 1) + backoff_cap * retry["maxRetries"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    app_timeout = float(compose["services"]["web"]["environment"]["DAPR_TIMEOUT_SECONDS"])
    assert worst_case <= app_timeout


@pytest.mark.parametrize("value_set", ["default", "production", "incluster"])
def test_chart_annotations_and_components_match_the_settings(render, find, value_set):
    docs = render(value_set)
    web = find(docs, "Deployment", "todo-platform-web")
    annotations = web["spec"]["template"]["metadata"]["annotations"]
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert annotations["dapr.io/enabled"] == "true"
    assert annotations["dapr.io/app-id"] == APP_ID
    # Publish-only: the sidecar never calls into the app, so it is given no app port.
    assert "dapr.io/app-port" not in annotations
    assert container["ports"][0]["containerPort"] == Settings().port
    find(docs, "Configuration", annotations["dapr.io/config"])
    config = find(docs, "ConfigMap", "todo-platform")["data"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["EVENT_PUBLISHER"] == "dapr"
    pubsub = find(docs, "Component", config["PUBSUB_NAME"])
    assert config["PUBSUB_NAME"] == Settings().pubsub_name
    assert config["TASK_EVENTS_TOPIC"] == Settings().task_events_topic
    assert config["TASK_EVENTS_PARTITIONS"] == str(Settings().task_events_partitions)
    resiliency = find(docs, "Resiliency", "todo-platform-resiliency")
    assert config["PUBSUB_NAME"] in resiliency["spec"]["targets"]["components"]
    reference = "managed/kafka-pubsub.yaml" if value_set == "production" else "kafka-pubsub.yaml"
    expected = _metadata(_load(reference))
    rendered = _metadata(pubsub)
    assert set(rendered) == set(expected)
    for field in ("authType", "saslMechanism", "disableTls", "maxMessageBytes", "consumerGroup"):
        assert rendered.get(field, {}).get("value") == expected.get(field, {}).get("value"), field


@pytest.mark.parametrize("value_set", ["default", "production", "incluster"])
def test_chart_environment_loads_as_production_settings(render, find, pod_env, value_set):
    docs = render(value_set)
    config = find(docs, "ConfigMap", "todo-platform")["data"]
    for kind, name in (("Deployment", "todo-platform-web"), ("StatefulSet", "todo-platform-worker")):
        env = pod_env(docs, kind, name)
        unknown = set(env) - {field.upper() for field in Settings.__dataclass_fields__}
        assert not unknown, f"{name} sets variables the app does not read: {unknown}"
        settings = load_settings(env)
        assert settings.is_production
        assert settings.kafka_bootstrap_servers
        missing = ROLE_SETTINGS[kind] - set(env)
        assert not missing, f"{name} leaves {missing} to defaults meant for one machine"
    worker = find(docs, "StatefulSet", "todo-platform-worker")["spec"]["template"]["spec"]["containers"][0]
    worker_env = {item["name"]: item.get("value") for item in worker["env"]}
    assert worker_env["WORKER_WEB_HOST"] == "0.0.0.0"  # noqa: S104  (reachable from other pods)
    assert worker_env["TABLE_STORE"] == "rocksdb://"
    mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}
    assert mounts["data"] == worker_env["WORKER_DATA_DIR"]
    if value_set == "production":
        # Only the roles that talk to Kafka get its settings (the web app's sidecar has its own).
        assert not {key for key in config if key.startswith("KAFKA_")}
        assert worker_env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert worker_env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-256"
        assert worker_env["KAFKA_SSL_CAFILE"].startswith("/etc/todo-platform/kafka/")
        assert {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} <= set(worker_env)
