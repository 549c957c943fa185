"""The deploy workflow, run as far as this machine can: its helm and kubectl flags against the real
binaries, its doctl commands against doctl's own definitions, its secret handling with stand-ins for
the cluster (named as such below), and its helm arguments rendered by the real helm."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy import doctl
from tests.deploy.commands import Command, commands, unknown_flags

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOY = yaml.safe_load((WORKFLOWS / "deploy-cloud.yml").read_text())
CI = yaml.safe_load((WORKFLOWS / "ci.yml").read_text())
STEPS = DEPLOY["jobs"]["deploy"]["steps"]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PRODUCTION = yaml.safe_load((ROOT / "chart" / "todo-platform" / "values-production.yaml").read_text())

# Node 24 majors of GitHub's own actions, read from each tag's action.yml (`runs.using: node24`).
NODE24_MAJORS = {
    "actions/checkout": {5, 6, 7},
    "actions/setup-python": {6, 7},
    "actions/setup-node": {5, 6, 7},
    "actions/cache": {5},
}
# Commit SHAs of release tags, read from the actions' own repositories (git rev-list -n1 <tag>).
VERIFIED_SHAS = {("actions/checkout", "fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09"): "v5.1.0"}


def _step(name: str) -> dict:
    """The deploy job's step whose name starts with this."""
    (step,) = [s for s in STEPS if s.get("name", "").startswith(name)]
    return step


def _index(name: str) -> int:
    """Where a step sits in the deploy job."""
    return STEPS.index(_step(name))


def _uses() -> list[tuple[str, str, str]]:
    """(job, action, ref) of every `uses:` in both workflows."""
    found = []
    for workflow in (DEPLOY, CI):
        for job_name, job in workflow["jobs"].items():
            for step in job["steps"]:
                if "uses" in step:
                    action, ref = step["uses"].split("@")
                    found.append((job_name, action, ref))
    return found


def test_actions_run_on_node_24():
    raw = (WORKFLOWS / "deploy-cloud.yml").read_text() + (WORKFLOWS / "ci.yml").read_text()
    for _job, action, ref in _uses():
        assert action in NODE24_MAJORS, f"{action}: not a known Node 24 action"
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            tag = VERIFIED_SHAS[(action, ref)]
            assert re.search(rf"{action}@{ref} # {re.escape(tag)}\b", raw), "a pinned SHA names its tag"
            major = int(tag.lstrip("v").split(".")[0])
        else:
            major = int(ref.lstrip("v").split(".")[0])
        assert major in NODE24_MAJORS[action], f"{action}@{ref} runs on an older Node"


def test_the_deploying_job_runs_no_unpinned_action():
    for job, action, ref in _uses():
        if job == "deploy":
            assert (action, ref) in VERIFIED_SHAS, f"{action}@{ref}: pin it by a verified commit SHA"
    # Third-party set-up actions are replaced by pinned tools: doctl by its checked release, helm by
    # the same package the tests use.
    assert not [a for j, a, _ in _uses() if j == "deploy" and not a.startswith("actions/")]


def test_helm_is_the_version_the_chart_tests_run(tools_bin):
    tools = _step("Helm and kubectl")["run"]
    assert "scripts/deploy-tools.sh" in tools
    assert "DEPLOY_TOOLS_NO_ACTIONLINT=1" in tools
    first_helm = min(
        i for i, s in enumerate(STEPS) if re.search(r"^\s*helm ", s.get("run", ""), re.MULTILINE)
    )
    assert _index("Helm and kubectl") < first_helm
    version = subprocess.run([str(tools_bin / "helm"), "version", "--short"], capture_output=True, text=True)
    assert version.stdout.startswith("v4."), version.stdout
    script = (ROOT / "scripts" / "deploy-tools.sh").read_text()
    assert re.search(r'^version="[\d.]+"$', script, re.MULTILINE), "the helm package version is pinned"
    assert re.search(r'^integrity="sha512-[A-Za-z0-9+/=]{88}"$', script, re.MULTILINE)


def _workflow_commands(program: str) -> list[Command]:
    """Every command of the deploy job running this program."""
    found = []
    for step in STEPS:
        found += [c for c in commands(step.get("run", "")) if c.program == program]
    return found


@pytest.mark.parametrize("program", ["helm", "kubectl"])
def test_every_helm_and_kubectl_flag_exists_in_the_pinned_binaries(tools_bin, program):
    used = _workflow_commands(program)
    assert len(used) >= 3
    for command in used:
        # Deprecated flags (Helm 4's --atomic) are hidden from --help, so they fail here too.
        assert not unknown_flags(str(tools_bin / program), command), command.source


def test_every_doctl_command_matches_doctls_definition():
    used = _workflow_commands("doctl")
    assert {doctl.resolve(c)[0] for c in used} >= {("registry", "login"), ("registry", "kubernetes-manifest")}
    for command in used:
        assert not doctl.problems(command), command.source
    assert DEPLOY["env"]["DOCTL_VERSION"] == doctl.DOCTL_VERSION


def test_doctl_is_installed_from_its_release_and_checked():
    run = _step("Install doctl")["run"]
    assert "doctl-$DOCTL_VERSION-linux-amd64.tar.gz" in run
    assert "doctl-$DOCTL_VERSION-checksums.sha256" in run
    assert "sha256sum --check" in run
    for step in STEPS:
        # The token reaches doctl through its environment, never on a command line.
        assert "--access-token" not in step.get("run", "")


def test_a_hand_started_deploy_needs_a_green_ci_run_for_its_commit():
    gate = _step("Refuse a commit whose CI has not passed")
    assert gate["if"] == "github.event_name == 'workflow_dispatch'"
    assert "actions/workflows/ci.yml/runs?head_sha=$SHA&status=success" in gate["run"]
    assert "exit 1" in gate["run"]
    assert gate["env"]["SHA"] == "${{ steps.commit.outputs.sha }}"
    assert _index("Refuse a commit") < _index("Build and push")
    assert DEPLOY["permissions"]["actions"] == "read"
    assert DEPLOY["jobs"]["deploy"]["environment"] == "production"
    # YAML 1.1 reads the key `on` as True.
    assert DEPLOY[True]["workflow_run"]["workflows"] == [CI["name"]]
    assert "workflow_run.conclusion == 'success'" in DEPLOY["jobs"]["deploy"]["if"]


def test_the_image_deployed_is_the_image_pushed():
    build, release = _step("Build and push"), _step("helm upgrade")
    assert build["env"]["IMAGE"] == release["env"]["IMAGE"]
    assert build["env"]["SHA"] == release["env"]["SHA"] == "${{ steps.commit.outputs.sha }}"
    assert 'docker push "$IMAGE:$SHA"' in build["run"]
    assert '--tag "$IMAGE:$SHA"' in build["run"]
    assert 'image.repository="$IMAGE"' in release["run"]
    assert 'image.tag="$SHA"' in release["run"]
    # The base image is built by digest.
    assert '--build-arg "PYTHON_BASE=$PYTHON_BASE@$digest"' in build["run"]


def test_dapr_is_installed_or_upgraded_with_ha_at_the_version_compose_runs():
    step = _step("Install or upgrade Dapr")
    assert "if" not in step, "the workflow upgrades Dapr on every deploy, not only when it is missing"
    run = step["run"]
    assert '--version "$DAPR_VERSION"' in run
    assert "--set global.ha.enabled=true" in run
    # The control plane logs JSON lines too, like the sidecars (dapr.io/log-as-json).
    assert "--set global.logAsJson=true" in run
    assert run.index("dapr/crds/") < run.index("helm upgrade --install dapr")
    version = DEPLOY["env"]["DAPR_VERSION"]
    assert COMPOSE["services"]["web-dapr"]["image"] == f"daprio/daprd:{version}"
    # The newest Dapr minor in its repository when this was written (tags up to v1.18.3).
    assert tuple(int(part) for part in version.split(".")[:2]) >= (1, 18)


def _stand_in(path: Path, body: str) -> None:
    """Write an executable stand-in script."""
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


SECRET_VALUES = {
    "SECRET_KEY": "s3cr3t-'quoted' \"and\" $dollar",
    "JWT_SECRET_KEY": "jwt-" + "x" * 40,
    "DATABASE_URL": "postgresql://doadmin:pa ss@private-db.example:25060/todo?sslmode=require",
    "WORKER_DATABASE_URL": "postgresql://todo_worker:w0rk3r@private-db.example:25060/todo?sslmode=require",
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "smtp-pass-1",
    "KAFKA_BOOTSTRAP_SERVERS": "private-kafka.example:25073",
    "KAFKA_SASL_USERNAME": "doadmin",
    "KAFKA_SASL_PASSWORD": "kafka-pass-2",
    "KAFKA_CA_CERT": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "DIGITALOCEAN_ACCESS_TOKEN": "dop_v1_token",
}


def test_secrets_reach_the_cluster_without_argv_or_a_last_applied_annotation(tools_bin, tmp_path):
    # Stand-ins for the cluster only: `kubectl apply` records what it would send, `doctl` prints a
    # pull secret. `kubectl create --dry-run=client` is the real kubectl building the manifests.
    bin_dir, log, applied = tmp_path / "bin", tmp_path / "argv.log", tmp_path / "applied"
    bin_dir.mkdir()
    applied.mkdir()
    _stand_in(
        bin_dir / "kubectl",
        f'printf "%s\\0" kubectl "$@" >> {log}; printf "\\n" >> {log}\n'
        f'if [[ " $* " == *" apply "* ]]; then cat > "$(mktemp {applied}/XXXXXX)"; '
        f'printf "%s\\n" "$*" >> {tmp_path}/apply-args; exit 0; fi\n'
        f'exec {tools_bin / "kubectl"} "$@"\n',
    )
    _stand_in(
        bin_dir / "doctl",
        f'printf "%s\\0" doctl "$@" >> {log}; printf "\\n" >> {log}\n'
        "echo 'apiVersion: v1\nkind: Secret\nmetadata: {name: registry-todo-platform}\n"
        "type: kubernetes.io/dockerconfigjson'\n",
    )
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path),
        "NAMESPACE": "todo-platform",
        **SECRET_VALUES,
    }
    script = _step("Create or update the Secrets")["run"]
    result = subprocess.run(
        ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    argv = log.read_text()
    for name, value in SECRET_VALUES.items():
        if value:
            assert value not in argv, f"{name} was on a command line"
    docs = [yaml.safe_load(p.read_text()) for p in sorted(applied.iterdir())]
    by_name = {d["metadata"]["name"]: d for d in docs}
    assert set(by_name) == {
        "todo-platform",
        "todo-platform-app",
        "todo-platform-kafka",
        "registry-todo-platform",
    }
    for doc in docs:
        assert "kubectl.kubernetes.io/last-applied-configuration" not in json.dumps(doc)
    for line in (tmp_path / "apply-args").read_text().splitlines():
        assert "--server-side" in line.split()
    app = {k: base64.b64decode(v).decode() for k, v in by_name["todo-platform-app"]["data"].items()}
    assert app == {
        k: SECRET_VALUES[k]
        for k in (
            "SECRET_KEY",
            "JWT_SECRET_KEY",
            "DATABASE_URL",
            "WORKER_DATABASE_URL",
            "SMTP_USERNAME",
            "SMTP_PASSWORD",
        )
    }
    kafka = {k: base64.b64decode(v).decode() for k, v in by_name["todo-platform-kafka"]["data"].items()}
    assert kafka["KAFKA_SASL_PASSWORD"] == SECRET_VALUES["KAFKA_SASL_PASSWORD"]
    assert kafka["ca.crt"] == SECRET_VALUES["KAFKA_CA_CERT"] + "\n"
    assert by_name["todo-platform-app"]["metadata"]["namespace"] == "todo-platform"
    # The secret files are gone once the step ends.
    assert not list(tmp_path.glob("secrets.*"))


@pytest.mark.parametrize("vpc", ["", "10.110.0.0/20"])
def test_the_workflows_helm_arguments_render_the_chart(tools_bin, tmp_path, vpc):
    # A stand-in helm turns `upgrade --install` into `template`, drops the flags only an install has,
    # and hands the workflow's own argument list (shell quoting included) to the real helm.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    out = tmp_path / "rendered.yaml"
    _stand_in(
        bin_dir / "helm",
        'args=()\nfor a in "$@"; do case $a in upgrade|--install|--rollback-on-failure|--wait) ;; '
        '--timeout) skip=1 ;; *) if [[ -n ${skip:-} ]]; then skip=; else args+=("$a"); fi ;; esac; done\n'
        f'exec {tools_bin / "helm"} template "${{args[@]}}" > {out}\n',
    )
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "RELEASE": DEPLOY["env"]["RELEASE"],
        "NAMESPACE": DEPLOY["env"]["NAMESPACE"],
        "IMAGE": "registry.digitalocean.com/acme-todo/todo-platform",
        "SHA": "0123456789abcdef0123456789abcdef01234567",
        "APP_HOST": "todo.acme.example",
        "ACME_EMAIL": "ops@acme.example",
        "VPC_CIDR": vpc,
    }
    script = _step("helm upgrade --install")["run"]
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    web = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "todo-platform-web")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == f"{env['IMAGE']}:{env['SHA']}"
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == env["APP_HOST"]
    issuer = next(d for d in docs if d["kind"] == "ClusterIssuer")
    assert issuer["spec"]["acme"]["email"] == env["ACME_EMAIL"]
    policy = next(
        d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "todo-platform-web"
    )
    cidrs = {p["ipBlock"]["cidr"] for r in policy["spec"]["egress"] for p in r["to"] if "ipBlock" in p}
    assert cidrs == ({vpc} if vpc else set(PRODUCTION["networkPolicy"]["database"]["cidrs"]))


def test_the_release_rolls_back_on_failure_and_waits():
    run = _step("helm upgrade --install")["run"]
    assert "--rollback-on-failure" in run
    assert "--atomic" not in run
    assert "--wait" in run


def test_the_smoke_test_reads_the_test_logs_and_waits_for_the_first_certificate():
    run = _step("Smoke test")["run"]
    assert "helm test" in run
    assert "--logs" in run
    secret = PRODUCTION["web"]["ingress"]["tls"]["secretName"]
    wait = re.search(
        rf"kubectl -n \"\$NAMESPACE\" wait --for=condition=Ready certificate/{secret} --timeout=(\d+)m", run
    )
    assert wait, "wait for the Certificate cert-manager names after the TLS secret"
    assert int(wait[1]) >= 10
    assert run.index("certificate/") < run.index("https://$APP_HOST/readyz")


def test_ci_gives_the_browser_tests_a_real_chromium_on_ubuntu_24_04():
    job = CI["jobs"]["test"]
    assert job["runs-on"] == "ubuntu-24.04"
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    # apt's chromium on 24.04 is a snap stub, not a browser.
    assert not re.search(r"apt-get install[^\n]*chromium", runs)
    assert "playwright install --with-deps chromium" in runs
    conftest = (ROOT / "tests" / "e2e" / "conftest.py").read_text()
    path = re.search(r'CHROMIUM = Path\("([^"]+)"\)', conftest)[1]
    assert f'ln -sf "$browser" {path}' in runs
    names = [step.get("name", step.get("uses", "")) for step in job["steps"]]
    assert names.index("Chromium for the browser tests (Playwright's build)") < names.index("Test")
