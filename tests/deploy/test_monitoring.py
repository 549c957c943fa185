"""The chart's monitoring: the Grafana dashboard ConfigMap, ServiceMonitors, and PrometheusRule alerts
that promtool checks and unit-tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART

DASHBOARD = CHART / "dashboards" / "todo-platform.json"
ALERT_TESTS = Path(__file__).parent / "monitoring" / "alerts.test.yaml"
Render = Callable[..., list[dict[str, Any]]]
Find = Callable[[list[dict[str, Any]], str, str], dict[str, Any]]


def promtool() -> str:
    """The promtool binary (Debian's prometheus package; .ci/run installs it)."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (apt-get install prometheus); .ci/run installs it")
    return found


def test_the_dashboard_ships_in_a_configmap_the_grafana_sidecar_picks_up(render: Render, find: Find):
    config_map = find(render(), "ConfigMap", "todo-platform-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["todo-platform.json"]) == json.loads(DASHBOARD.read_text())
    elsewhere = render("default", "monitoring.dashboard.namespace=grafana")
    assert find(elsewhere, "ConfigMap", "todo-platform-dashboard")["metadata"]["namespace"] == "grafana"


def test_the_dashboard_covers_the_pipeline():
    dashboard = json.loads(DASHBOARD.read_text())
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("throughput", "lag", "latency", "dead letters", "outbox", "errors", "committed", "crashes"):
        assert topic in titles, f"no panel about {topic}"
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_alerts_and_service_monitors_are_off_by_default(render: Render):
    kinds = {doc["kind"] for doc in render()}
    assert {"PrometheusRule", "ServiceMonitor"}.isdisjoint(kinds)


def test_service_monitors_scrape_web_and_worker_metrics(render: Render, find: Find):
    docs = render("default", typed=("monitoring.serviceMonitor.enabled=true",))
    for component, port in (("web", "http"), ("worker", "worker-web")):
        monitor = find(docs, "ServiceMonitor", f"todo-platform-{component}")
        service = find(docs, "Service", f"todo-platform-{component}")
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= service["metadata"]["labels"].items()
        assert monitor["spec"]["endpoints"] == [{"port": port, "path": "/metrics", "interval": "30s"}]
        assert port in [p["name"] for p in service["spec"]["ports"]]


def rendered_rules(render: Render, tmp_path: Path, *typed: str) -> Path:
    """Render the PrometheusRule and write its groups as a Prometheus rules file."""
    docs = render("default", typed=("monitoring.prometheusRule.enabled=true", *typed))
    (rule,) = [doc for doc in docs if doc["kind"] == "PrometheusRule"]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def test_promtool_accepts_the_rules(render: Render, tmp_path: Path):
    binary = promtool()
    rules = rendered_rules(render, tmp_path)
    names = [r["alert"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]]
    assert names == [
        "TodoDeadLettersGrowing",
        "TodoOutboxBacklogOld",
        "TodoOutboxEventsParked",
        "TodoConsumerLagHigh",
        "TodoConsumerStalled",
        "TodoWorkerAgentCrashed",
        "TodoRelayNotLeading",
    ]
    result = subprocess.run(
        [binary, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_fire_each_alert_when_it_should_and_not_before(render: Render, tmp_path: Path):
    binary = promtool()
    rendered_rules(render, tmp_path)
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    result = subprocess.run(
        [binary, "test", "rules", ALERT_TESTS.name], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_thresholds_come_from_values(render: Render, tmp_path: Path):
    rules = rendered_rules(
        render,
        tmp_path,
        "monitoring.prometheusRule.consumerLag=50",
        "monitoring.prometheusRule.for=15m",
        "monitoring.prometheusRule.stallWindow=30m",
    )
    by_name = {r["alert"]: r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]}
    assert by_name["TodoConsumerLagHigh"]["expr"] == "sum(todo_worker_consumer_lag) > 50"
    assert by_name["TodoConsumerLagHigh"]["for"] == "15m"
    assert "changes(todo_worker_committed_offset[30m])" in by_name["TodoConsumerStalled"]["expr"]


def test_bad_monitoring_values_are_refused(refused: Callable[..., str]):
    assert "consumerLag" in refused("monitoring.prometheusRule.consumerLag=0")
    assert "for" in refused("monitoring.prometheusRule.for=soon")
    assert "stallWindow" in refused("monitoring.prometheusRule.stallWindow=a while")


def test_prometheus_may_reach_the_metrics_ports_through_the_network_policies(render: Render, find: Find):
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for component, port in (("web", 8000), ("worker", 6066)):
        policy = find(render(), "NetworkPolicy", f"todo-platform-{component}")
        rules = [rule for rule in policy["spec"]["ingress"] if rule.get("from") == [monitoring]]
        assert [rule["ports"] for rule in rules] == [[{"port": port, "protocol": "TCP"}]], component
    closed = find(
        render("default", typed=("monitoring.scrapeFrom=null",)), "NetworkPolicy", "todo-platform-worker"
    )
    assert all(monitoring not in rule.get("from", []) for rule in closed["spec"]["ingress"])


def test_a_separate_relay_serves_metrics_to_a_pod_monitor(render: Render, find: Find):
    docs = render("default", typed=("relay.separate=true", "monitoring.serviceMonitor.enabled=true"))
    relay = find(docs, "Deployment", "todo-platform-relay")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "RELAY_METRICS_PORT", "value": "9102"} in relay["env"]
    assert {"name": "metrics", "containerPort": 9102, "protocol": "TCP"} in relay["ports"]
    monitor = find(docs, "PodMonitor", "todo-platform-relay")
    assert monitor["spec"]["podMetricsEndpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s"}
    ]
    (rule,) = find(docs, "NetworkPolicy", "todo-platform-relay")["spec"]["ingress"]
    assert rule["ports"] == [{"port": 9102, "protocol": "TCP"}]
    closed = render("default", typed=("relay.separate=true", "monitoring.scrapeFrom=null"))
    assert find(closed, "NetworkPolicy", "todo-platform-relay")["spec"]["ingress"] == []


def test_the_dashboard_panels_are_well_formed():
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels), "panel ids must be unique"
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert all("todo_" in target["expr"] for target in panel["targets"]), panel["title"]
