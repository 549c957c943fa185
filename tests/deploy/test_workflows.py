"""The GitHub workflows pass actionlint and keep secrets out of Helm values."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOY = WORKFLOWS / "deploy-cloud.yml"


def test_actionlint_is_clean(tools_bin):
    files = [str(WORKFLOWS / "ci.yml"), str(DEPLOY)]
    result = subprocess.run(
        [str(tools_bin / "actionlint"), *files], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_local_commands():
    text = (WORKFLOWS / "ci.yml").read_text()
    for command in ("make lint", "make test", "helm lint", "helm template", "actionlint", "chromium"):
        assert command in text, command
    jobs = yaml.safe_load(text)["jobs"]
    assert jobs["test"]["runs-on"] == "ubuntu-24.04"


def test_deploy_never_passes_secrets_to_helm():
    steps = yaml.safe_load(DEPLOY.read_text())["jobs"]["deploy"]["steps"]
    for step in steps:
        run = step.get("run", "")
        if 'helm upgrade --install "$RELEASE"' in run:
            assert "secrets." not in run
            assert not any("secrets." in str(value) for value in step.get("env", {}).values())
            assert "--rollback-on-failure" in run
            assert "--wait" in run
        if "create secret" in run:
            assert "--from-literal" not in run
            for command in re.split(r"\n(?=\S)", run):
                if "create secret" in command:
                    assert "--dry-run=client -o yaml | apply" in command


def test_deploy_builds_saves_kubeconfig_installs_dapr_and_smoke_tests():
    text = DEPLOY.read_text()
    for needle in (
        "doctl kubernetes cluster kubeconfig save",
        "registry.digitalocean.com/",
        '"$IMAGE:$SHA"',
        "dapr/crds/",
        "helm test",
        "/readyz",
    ):
        assert needle in text, needle


def test_every_secret_and_variable_the_deploy_needs_is_in_deploy_md():
    text = DEPLOY.read_text()
    guide = (ROOT / "DEPLOY.md").read_text()
    names = set(re.findall(r"\$\{\{\s*(?:secrets|vars)\.(\w+)\s*\}\}", text))
    assert "DIGITALOCEAN_ACCESS_TOKEN" in names
    missing = {name for name in names if f"`{name}`" not in guide}
    assert not missing, f"DEPLOY.md does not list {sorted(missing)}"
