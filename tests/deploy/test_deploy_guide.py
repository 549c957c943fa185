"""DEPLOY.md, from an empty DigitalOcean account to HTTPS: its commands checked for the flags and
arguments they pass (helm and kubectl against the real binaries, doctl against its definitions), its
helm commands rendered by the real helm, and its steps in an order that works."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy import doctl
from tests.deploy.commands import commands, shell_blocks, unknown_flags
from tests.deploy.test_first_deploy import _values, connection_budget, smallest_plan

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "DEPLOY.md").read_text()
BLOCKS = shell_blocks(GUIDE)
WORKFLOW = (ROOT / ".github" / "workflows" / "deploy-cloud.yml").read_text()
CHART = ROOT / "chart" / "todo-platform"


def _guide_commands(program: str):
    """Every command of DEPLOY.md's shell blocks running this program."""
    return [c for block in BLOCKS for c in commands(block) if c.program == program]


def _section(title: str) -> str:
    """The text of one section (## or ###) of DEPLOY.md, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(title)}.*?$(.*?)(?=^#+ |\Z)", GUIDE, flags=re.MULTILINE | re.DOTALL)
    assert match, title
    return match[1]


@pytest.mark.parametrize("program", ["helm", "kubectl"])
def test_every_helm_and_kubectl_flag_exists_in_the_pinned_binaries(tools_bin, program):
    used = _guide_commands(program)
    assert len(used) >= 5
    for command in used:
        assert not unknown_flags(str(tools_bin / program), command), command.source


def test_every_doctl_command_matches_doctls_definition():
    used = _guide_commands("doctl")
    paths = {doctl.resolve(c)[0] for c in used}
    assert ("kubernetes", "1-click", "install") in paths
    assert ("databases", "connection") in paths
    for command in used:
        assert not doctl.problems(command), command.source


def test_one_click_install_is_given_the_cluster_id_not_its_name():
    (install,) = [c for c in _guide_commands("doctl") if c.words[1:4] == ("kubernetes", "1-click", "install")]
    assert install.words[4] == "$CLUSTER_ID"
    assert 'CLUSTER_ID=$(doctl kubernetes cluster get "$CLUSTER" --format ID --no-header)' in GUIDE
    slugs = install.words[install.words.index("--1-clicks") + 1].split(",")
    assert {"ingress-nginx", "cert-manager", "metrics-server"} <= set(slugs)
    assert GUIDE.index("CLUSTER_ID=$(") < GUIDE.index("1-click install")


def test_the_trial_creates_its_namespace_before_its_secrets():
    trial = _section("3.2 Namespace and Secrets")
    namespace = trial.index('kubectl create namespace "$NAMESPACE"')
    assert namespace < trial.index("kubernetes-manifest")
    assert namespace < trial.index("create secret generic todo-platform-app")


def test_secrets_are_written_to_files_and_never_applied_client_side():
    assert "--from-literal" not in GUIDE
    for command in _guide_commands("kubectl"):
        if "apply" in command.words:
            assert "--server-side" in command.words, command.source


def test_every_release_deploys_an_image_pushed_just_before_it():
    installs = [m.start() for m in re.finditer(r"helm upgrade --install todo-platform ", GUIDE)]
    assert len(installs) >= 2
    for start in installs:
        command = GUIDE[start : GUIDE.index("--timeout", start)]
        assert '--set-string image.repository="$IMAGE"' in command
        assert '--set-string image.tag="$TAG"' in command
        before = GUIDE[:start]
        assert 'docker push "$IMAGE:$TAG"' in before
        assert before.rindex("TAG=$(git rev-parse HEAD)") < before.rindex('docker push "$IMAGE:$TAG"')
    # Registry names are global: the repository is the reader's registry, never the chart's default.
    assert 'export IMAGE="registry.digitalocean.com/$REGISTRY/todo-platform"' in GUIDE
    assert re.search(r'export REGISTRY="todo-platform-\$\(openssl rand -hex \d\)"', GUIDE)


def _stand_in(path: Path, body: str) -> None:
    """Write an executable stand-in script."""
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize(
    ("section", "values"), [("3.3 Install", "incluster"), ("4.5 First deploy", "production")]
)
def test_the_guides_helm_installs_render_the_chart(tools_bin, tmp_path, section, values):
    # A stand-in helm turns `upgrade --install` into `template` and drops what only an install has;
    # the real helm renders the guide's own command line.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    out = tmp_path / "rendered.yaml"
    _stand_in(
        bin_dir / "helm",
        'if [[ $1 != upgrade ]]; then exit 0; fi\nargs=()\nfor a in "$@"; do case $a in '
        "upgrade|--install|--rollback-on-failure|--wait) ;; --timeout) skip=1 ;; "
        '*) if [[ -n ${skip:-} ]]; then skip=; else args+=("$a"); fi ;; esac; done\n'
        f'exec {tools_bin / "helm"} template "${{args[@]}}" > {out}\n',
    )
    for program in ("kubectl", "docker", "git"):
        _stand_in(bin_dir / program, "exit 0\n")
    (block,) = [b for b in shell_blocks(_section(section)) if "helm upgrade --install todo-platform" in b]
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "NAMESPACE": "todo-platform",
        "IMAGE": "registry.digitalocean.com/todo-platform-1a2b3c/todo-platform",
        "TAG": "0123456789abcdef0123456789abcdef01234567",
        "APP_HOST": "todo.acme.example",
        "ACME_EMAIL": "ops@acme.example",
        "VPC_CIDR": "10.114.0.0/20",
    }
    assert f"-f chart/todo-platform/values-{values}.yaml" in block
    script = block.replace("TAG=$(git rev-parse HEAD)", "")
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    web = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "todo-platform-web")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == f"{env['IMAGE']}:{env['TAG']}"
    assert next(d for d in docs if d["kind"] == "ClusterIssuer")["spec"]["acme"]["email"] == env["ACME_EMAIL"]
    assert next(d for d in docs if d["kind"] == "Ingress")["spec"]["rules"][0]["host"] == env["APP_HOST"]
    pulls = {
        s["name"]
        for d in docs
        if d["kind"] == "Deployment"
        for s in d["spec"]["template"]["spec"]["imagePullSecrets"]
    }
    assert pulls == {"registry-todo-platform"}


def test_the_pull_secret_the_pods_name_is_the_one_the_guide_and_workflow_create():
    created = set(
        re.findall(r"kubernetes-manifest --namespace \"\$NAMESPACE\" --name (\S+)", GUIDE + WORKFLOW)
    )
    for value_set in ("incluster", "production"):
        names = {
            s["name"]
            for s in yaml.safe_load((CHART / f"values-{value_set}.yaml").read_text())["imagePullSecrets"]
        }
        assert names == created == {"registry-todo-platform"}


def test_the_database_plan_is_the_smallest_that_fits_the_production_budget():
    (create,) = [
        c for c in _guide_commands("doctl") if c.words[1:3] == ("databases", "create") and "pg" in c.words
    ]
    size = create.words[create.words.index("--size") + 1]
    budget = connection_budget(_values("production"))
    assert size == smallest_plan(budget) == "db-s-2vcpu-4gb"
    assert f"| {budget} |" in GUIDE
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["database"]["maxConnections"] == 97
    assert "transaction mode" in GUIDE
    assert "advisory lock" in _section("4.2 Managed PostgreSQL")


def test_database_urls_use_the_private_hosts_the_egress_policy_reaches():
    for command in _guide_commands("doctl"):
        if command.words[1:3] == ("databases", "connection"):
            assert "--private" in command.words, command.source
    assert "private-" in _section("4.2 Managed PostgreSQL")


def test_versions_in_the_guide_are_the_pinned_ones(tools_bin):
    dapr = re.search(r'DAPR_VERSION: "([\d.]+)"', WORKFLOW)[1]
    assert f"helm pull dapr/dapr --version {dapr}" in GUIDE
    helm = subprocess.run(
        [str(tools_bin / "helm"), "version", "--short"], capture_output=True, text=True
    ).stdout
    assert re.match(r"v(\d+\.\d+\.\d+)", helm)[1] in _section("2.1 Tools and an API token")
    assert f"doctl {doctl.DOCTL_VERSION}" in GUIDE


def test_every_step_says_what_you_should_see():
    steps = re.findall(r"^### (\d\.\d) ", GUIDE, flags=re.MULTILINE)
    assert len(steps) >= 12
    for number in steps:
        if number.startswith(("2.", "3.", "4.")):
            title = re.search(rf"^### {re.escape(number)} (.*)$", GUIDE, flags=re.MULTILINE)[1]
            assert "You should see" in _section(f"{number} {title}"), number


def test_the_guide_covers_the_first_deploys_loose_ends():
    for phrase in (
        "Required\nreviewers",
        "metrics-server",
        "certManager.clusterIssuer",
        "helm rollback todo-platform",
        "helm uninstall todo-platform",
        "doctl kubernetes cluster delete",
        "--rollback-on-failure",
        "## 6. What the tests prove, and what only a real cluster can",
    ):
        assert phrase in GUIDE, phrase
    assert "--atomic" not in GUIDE
