"""DEPLOY.md's operator commands and monitoring, held to the chart: every command has a line that runs
it in the cluster, in a pod and container the chart renders for the role that can run it, and the
Monitoring section names every alert, threshold and endpoint the chart has."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.deploy.commands import Command, commands, shell_blocks
from tests.deploy.conftest import CHART, ROOT

GUIDE = (ROOT / "DEPLOY.md").read_text()
Render = Callable[..., list[dict[str, Any]]]
# Each operator command, and the workload whose role (database login, secrets, network) runs it.
OPERATOR_COMMANDS = {
    ("faust", "-A", "streams.app", "replay"): "todo-platform-worker",
    ("faust", "-A", "streams.app", "dlq", "list"): "todo-platform-worker",
    ("faust", "-A", "streams.app", "dlq", "show"): "todo-platform-worker",
    ("faust", "-A", "streams.app", "dlq", "redrive"): "todo-platform-worker",
    ("flask", "--app", "web", "audit", "verify"): "todo-platform-web",
    ("flask", "--app", "web", "outbox", "parked"): "todo-platform-web",
    ("flask", "--app", "web", "outbox", "retry"): "todo-platform-web",
}


def section(title: str) -> str:
    """One section of DEPLOY.md, from its heading up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}.*?$", GUIDE, flags=re.MULTILINE)
    assert match, title
    end = re.search(rf"^#{{1,{len(match[1])}}} ", GUIDE[match.end() :], flags=re.MULTILINE)
    return GUIDE[match.end() : match.end() + end.start() if end else len(GUIDE)]


def in_pod(command: Command) -> tuple[str, str | None, tuple[str, ...]]:
    """A `kubectl exec` command's target, its -c container, and the command it runs there."""
    words = command.words
    split = words.index("--")
    options = words[:split]
    container = options[options.index("-c") + 1] if "-c" in options else None
    target = next(w for w in options[options.index("exec") + 1 :] if not w.startswith("-") and w != container)
    return target, container, words[split + 1 :]


def execs() -> list[Command]:
    """Every `kubectl exec` in DEPLOY.md's shell blocks."""
    found = [
        c for b in shell_blocks(GUIDE) for c in commands(b) if c.program == "kubectl" and "exec" in c.words
    ]
    return [c for c in found if "--" in c.words]


def workload(docs: list[dict[str, Any]], target: str) -> dict[str, Any]:
    """The Deployment named by deploy/NAME, or the StatefulSet whose pod NAME-N is."""
    if target.startswith("deploy/"):
        kind, name = "Deployment", target.removeprefix("deploy/")
    else:
        kind, name = "StatefulSet", re.sub(r"-\d+$", "", target)
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    if kind == "StatefulSet":
        assert int(target.rsplit("-", 1)[1]) < found["spec"]["replicas"], target
    return found


def test_every_operator_command_has_a_line_that_runs_it_in_the_cluster():
    run = [in_pod(command)[2] for command in execs()]
    for wanted in OPERATOR_COMMANDS:
        assert any(words[: len(wanted)] == wanted for words in run), " ".join(wanted)


@pytest.mark.parametrize("value_set", ["default", "production", "incluster"])
def test_each_runs_in_a_pod_and_container_the_chart_renders_for_its_role(render: Render, value_set: str):
    docs = render(value_set)
    for command in execs():
        target, container, words = in_pod(command)
        spec = workload(docs, target)
        names = [c["name"] for c in spec["spec"]["template"]["spec"]["containers"]]
        assert container in names, command.source
        role = next((w for prefix, w in OPERATOR_COMMANDS.items() if words[: len(prefix)] == prefix), None)
        assert role in (None, spec["metadata"]["name"]), command.source


def test_the_monitoring_section_names_every_alert_threshold_and_endpoint(render: Render):
    text = section("5.5 Monitoring")
    docs = render("default", typed=("monitoring.prometheusRule.enabled=true", "relay.separate=true"))
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    for alert in (r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]):
        assert f"`{alert}`" in text, alert
    values = yaml.safe_load((CHART / "values.yaml").read_text())["monitoring"]
    for key in values["prometheusRule"]:
        assert f"`{key}`" in text or f"{key}:" in text, key
    for key in ("scrapeFrom", "relayMetricsPort", "serviceMonitor", "dashboard"):
        assert key in text, key
    (dashboard,) = [
        d for d in docs if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]
    ]
    assert f"`{dashboard['metadata']['name']}`" in text
    for port in (values["relayMetricsPort"], 6066, 8000):
        assert str(port) in text, port
