"""docker-compose.yml: the services, their healthchecks and an environment the app accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shared.settings import Settings, load_settings
from tests.deploy.roles import WEB_SETTINGS, WORKER_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrations", "web", "worker")
REQUIRED_SECRETS = {"SECRET_KEY", "JWT_SECRET_KEY", "POSTGRES_PASSWORD", "WORKER_DB_PASSWORD"}
ROLE_SETTINGS = {"worker": WORKER_SETTINGS, "web": WEB_SETTINGS}
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:\?|:-)(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Expand ${VAR}, ${VAR:-default} and ${VAR:?message} as compose does; $$ is a literal $."""

    def expand(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise LookupError(f"{name}: {arg}")
        return arg or ""

    parts = value.split("$$")
    return "$".join(VARIABLE.sub(expand, part) for part in parts)


def service_env(service: str, env: dict[str, str]) -> dict[str, str]:
    """A service's environment after interpolation."""
    raw = SERVICES[service].get("environment", {})
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def all_environments(env: dict[str, str]) -> list[dict[str, str]]:
    """Every service's environment after interpolation."""
    return [service_env(service, env) for service in SERVICES]


SECRETS = {
    "SECRET_KEY": "s" * 40,
    "JWT_SECRET_KEY": "j" * 40,
    "POSTGRES_PASSWORD": "pw",
    "WORKER_DB_PASSWORD": "wpw",
}


def test_the_required_services_are_there():
    expected = {"postgres", "kafka", "migrations", "web", "web-dapr", "worker", "mailpit"}
    assert expected <= set(SERVICES)
    # Its own network namespace: network_mode: service:web loses it whenever web is recreated.
    assert "network_mode" not in SERVICES["web-dapr"]
    assert SERVICES["web-dapr"]["image"].startswith("daprio/daprd:")
    assert "KAFKA_PROCESS_ROLES" in SERVICES["kafka"]["environment"]


@pytest.mark.parametrize("service", ["postgres", "kafka", "web", "worker", "mailpit"])
def test_long_running_services_have_healthchecks(service):
    check = SERVICES[service]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert not check.get("disable")


def test_dependencies_wait_for_health_or_completion():
    conditions = set()
    for name, service in SERVICES.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            conditions.add(spec["condition"])
            checked = not SERVICES[dependency].get("healthcheck", {"disable": True}).get("disable")
            if checked:
                assert spec["condition"] == "service_healthy", f"{name} -> {dependency}"
    assert {"service_healthy", "service_completed_successfully"} <= conditions
    for service in ("web", "worker"):
        assert SERVICES[service]["depends_on"]["migrations"]["condition"] == "service_completed_successfully"


def test_volumes_are_named():
    declared = set(COMPOSE["volumes"])
    for service in ("postgres", "kafka", "worker"):
        for mount in SERVICES[service]["volumes"]:
            assert mount.split(":")[0] in declared


def test_required_secrets_fail_with_a_message():
    text = (ROOT / "docker-compose.yml").read_text()
    for name in REQUIRED_SECRETS:
        assert re.search(r"\$\{" + name + r":\?[^}]+\}", text), name
        missing = {key: value for key, value in SECRETS.items() if key != name}
        with pytest.raises(LookupError, match=name):
            all_environments(missing)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_environment_covers_the_settings(service):
    env = service_env(service, SECRETS)
    known = {field.upper() for field in Settings.__dataclass_fields__}
    assert set(env) <= known, f"unknown settings: {set(env) - known}"
    settings = load_settings(env)
    assert settings.is_production
    # The worker logs in as its own role (audit_log: SELECT and INSERT only); the rest as the owner.
    login = "todo_worker:wpw" if service == "worker" else "todo:pw"
    assert settings.database_url.startswith(f"postgresql://{login}@postgres:5432/")
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.smtp_host == "mailpit"
    assert settings.task_events_topic == Settings().task_events_topic
    # What each role needs set explicitly, not left to a default meant for one machine.
    assert ROLE_SETTINGS.get(service, set()) <= set(env), ROLE_SETTINGS[service] - set(env)


def test_web_publishes_through_the_sidecar():
    env = service_env("web", SECRETS)
    settings = load_settings(env)
    assert settings.publisher == "dapr"
    command = SERVICES["web-dapr"]["command"]
    # Publish-only: no app port, no state store, no secrets, JSON logs; reached by service name.
    assert not [arg for arg in command if arg.startswith("--app-port")]
    assert "--app-id=todo-web" in command
    assert "--log-as-json" in command
    assert settings.dapr_host == "web-dapr"
    assert "--dapr-listen-addresses=0.0.0.0" in command
    assert "environment" not in SERVICES["web-dapr"]
    mounted = {Path(m.split(":")[0]).name for m in SERVICES["web-dapr"]["volumes"]}
    assert mounted == {"kafka-pubsub.yaml", "resiliency.yaml", "config.yaml"}
    for mount in SERVICES["web-dapr"]["volumes"]:
        assert (ROOT / mount.split(":")[0]).is_file(), mount


def test_worker_serves_its_table_views_and_keeps_its_store():
    settings = load_settings(service_env("worker", SECRETS))
    assert settings.worker_web_host == "0.0.0.0"  # noqa: S104  (reachable from the web container)
    assert settings.table_store == "rocksdb://"
    mounts = dict(m.split(":")[::-1][:2][::-1] for m in SERVICES["worker"]["volumes"])
    assert settings.worker_data_dir in mounts.values()
    assert (
        load_settings(service_env("web", SECRETS)).worker_url == f"http://worker:{settings.worker_web_port}"
    )


def test_worker_uses_the_dev_group_timing_and_reaches_itself_by_service_name():
    settings = load_settings(service_env("worker", SECRETS))
    defaults = Settings()
    # Fast start-up for a single local worker (the chart sets production's 30/60/3).
    assert (
        settings.broker_session_timeout,
        settings.broker_rebalance_timeout,
        settings.broker_heartbeat_interval,
    ) == (6.0, 6.0, 1.0)
    assert settings.broker_session_timeout == defaults.broker_session_timeout
    assert settings.broker_heartbeat_interval * 3 <= settings.broker_session_timeout
    assert settings.worker_canonical_url == f"http://worker:{settings.worker_web_port}"
    assert settings.worker_app_id == defaults.worker_app_id


def test_worker_is_healthy_once_it_holds_its_partitions():
    check = " ".join(SERVICES["worker"]["healthcheck"]["test"])
    port = load_settings(service_env("worker", SECRETS)).worker_web_port
    assert f"http://127.0.0.1:{port}/ready/" in check


def test_web_runs_the_relay_and_asks_the_worker_for_counts():
    settings = load_settings(service_env("web", SECRETS))
    assert settings.relay_enabled is True
    worker = load_settings(service_env("worker", SECRETS))
    assert settings.worker_url == worker.worker_canonical_url


def test_only_the_app_and_mailpit_are_published_and_only_on_loopback():
    published = {name: service["ports"] for name, service in SERVICES.items() if service.get("ports")}
    assert set(published) == {"web", "mailpit"}
    for name, ports in published.items():
        for mapping in ports:
            assert mapping.startswith("127.0.0.1:"), f"{name} publishes {mapping} beyond loopback"


def test_each_role_gets_only_the_secrets_it_uses():
    signing = {"SECRET_KEY", "JWT_SECRET_KEY"}
    for service in ("web", "migrations"):
        assert signing <= set(service_env(service, SECRETS)), service
    worker = service_env("worker", SECRETS)
    assert not signing & set(worker)
    assert load_settings(worker).is_production
    assert all("PASSWORD" not in key and "SECRET" not in key for key in service_env("web-dapr", SECRETS))


def test_the_workers_role_is_made_after_the_migrations_and_the_worker_never_sees_the_owners_password():
    role = SERVICES["worker-role"]
    assert role["command"] == ["flask", "--app", "web", "db", "roles"]
    assert role["depends_on"]["migrations"]["condition"] == "service_completed_successfully"
    assert SERVICES["worker"]["depends_on"]["worker-role"]["condition"] == "service_completed_successfully"
    creator = load_settings(service_env("worker-role", SECRETS))
    worker = load_settings(service_env("worker", SECRETS))
    assert creator.database_url.startswith("postgresql://todo:pw@")
    assert creator.worker_database_url == worker.database_url
    assert all(value != "pw" and ":pw@" not in value for value in service_env("worker", SECRETS).values())
