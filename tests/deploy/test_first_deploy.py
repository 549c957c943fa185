"""What a first real deploy to DigitalOcean needs from the chart's rendered manifests (issue 13)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART, DEPLOY_TIME, RELEASE

VALUE_SETS = ("default", "incluster", "production")
SEPARATE = ("relay.separate=true",)
WEB = ("Deployment", "todo-platform-web")
RELAY = ("Deployment", "todo-platform-relay")
WORKER = ("StatefulSet", "todo-platform-worker")
DAPR_GRACEFUL_SHUTDOWN_SECONDS = 5


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload, Job or bare Pod."""
    return doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]


def _annotations(doc: dict[str, Any]) -> dict[str, str]:
    """The pod template's annotations."""
    return doc["spec"]["template"]["metadata"].get("annotations", {})


def _seconds(duration: str) -> int:
    """A Go duration of h/m/s units in whole seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


def _sidecar_workloads(render, find, value_set):
    """The web Deployment and the separate relay, both with Dapr sidecars."""
    docs = render(value_set, typed=SEPARATE)
    return [find(docs, *WEB), find(docs, *RELAY)]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_sidecars_run_without_a_token_and_without_the_builtin_secret_store(render, find, value_set):
    # daprd loads its built-in Kubernetes secret store unless told not to, and exits without a token.
    for doc in _sidecar_workloads(render, find, value_set):
        assert _pod(doc)["automountServiceAccountToken"] is False
        annotations = _annotations(doc)
        assert annotations["dapr.io/enabled"] == "true"
        assert annotations["dapr.io/disable-builtin-k8s-secret-store"] == "true", doc["metadata"]["name"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_publish_only_apps_give_dapr_no_app_port_and_log_json(render, find, value_set):
    for doc in _sidecar_workloads(render, find, value_set):
        annotations = _annotations(doc)
        assert "dapr.io/app-port" not in annotations
        assert annotations["dapr.io/log-as-json"] == "true"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_sidecar_keeps_serving_publishes_while_the_pod_stops(render, find, value_set):
    for doc in _sidecar_workloads(render, find, value_set):
        block = _seconds(_annotations(doc)["dapr.io/block-shutdown-duration"])
        assert block >= 10
        grace = _pod(doc)["terminationGracePeriodSeconds"]
        assert block + DAPR_GRACEFUL_SHUTDOWN_SECONDS < grace, doc["metadata"]["name"]


def test_a_block_longer_than_the_grace_period_is_refused(refused):
    assert "must exceed dapr.blockShutdownDuration" in refused("dapr.blockShutdownDuration=1m")


@pytest.mark.parametrize(
    "change",
    ["dapr.resiliency.maxRetries=4", "dapr.maxMessageBytes=262144", "dapr.logLevel=debug"],
)
def test_a_dapr_resource_change_rolls_the_sidecar_pods(render, find, change):
    # Sidecars read Components, Resiliency and Configuration once, at start.
    before = [_annotations(d)["checksum/dapr"] for d in _sidecar_workloads(render, find, "production")]
    docs = render("production", typed=(*SEPARATE, change))
    after = [
        _annotations(find(docs, *WEB))["checksum/dapr"],
        _annotations(find(docs, *RELAY))["checksum/dapr"],
    ]
    if change.startswith("dapr.logLevel"):
        assert after == before  # an annotation, not a Dapr resource: the pod template changes anyway
    else:
        assert after[0] != before[0]
        assert after[1] != before[1]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_there_is_no_dapr_state_store(render, value_set):
    docs = render(value_set, typed=SEPARATE)
    types = [d["spec"]["type"] for d in docs if d["kind"] == "Component"]
    assert types == ["pubsub.kafka"]
    # So the sidecars hold no database credentials either.
    for doc in docs:
        if doc["kind"] == "Component":
            assert "DATABASE_URL" not in yaml.safe_dump(doc)


def test_helm_test_pod_stays_until_its_logs_are_read(render, find):
    pod = find(render(), "Pod", "todo-platform-test-readyz")
    policy = pod["metadata"]["annotations"]["helm.sh/hook-delete-policy"].split(",")
    assert "hook-succeeded" not in policy
    assert "before-hook-creation" in policy


def _render_args(value_set: str, *extra: str) -> list[str]:
    """helm template arguments for a value set, with what every install passes."""
    args = ["template", RELEASE, str(CHART)]
    if value_set != "default":
        args += ["-f", str(CHART / f"values-{value_set}.yaml")]
    for pair in DEPLOY_TIME:
        args += ["--set-json", pair]
    return [*args, *extra]


def _hooks(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Name -> helm.sh/hook of every hook resource."""
    return {
        d["metadata"]["name"]: d["metadata"]["annotations"]["helm.sh/hook"]
        for d in docs
        if "helm.sh/hook" in d["metadata"].get("annotations", {})
    }


def test_trial_first_install_migrates_beside_its_database_so_wait_can_finish(helm, render, find):
    docs = render("incluster")
    # No post-install hook: `helm install --wait` waits for Ready web pods before running those, and
    # /readyz needs the tables the migrations create.
    assert not [hook for hook in _hooks(docs).values() if "post-install" in hook]
    job = find(docs, "Job", "todo-platform-migrations-install")
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"] for e in _pod(job)["containers"][0]["env"] if "valueFrom" in e
    }
    assert refs == {"todo-platform-app"}
    find(docs, "StatefulSet", "todo-platform-postgresql")
    result = helm(*_render_args("incluster", "--is-upgrade"))
    assert result.returncode == 0, result.stderr
    upgrade = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert _hooks(upgrade)["todo-platform-migrations"] == "pre-upgrade"
    assert not [d for d in upgrade if d["metadata"]["name"] == "todo-platform-migrations-install"]


def test_trial_with_a_chart_managed_secret_migrates_from_the_release_secret(render, find):
    docs = render(
        "incluster",
        "secrets.existingSecret=",
        "secrets.secretKey=" + "s" * 40,
        "secrets.jwtSecretKey=" + "j" * 40,
        "inCluster.postgresql.password=pw",
        "inCluster.postgresql.workerPassword=w",
    )
    job = find(docs, "Job", "todo-platform-migrations-install")
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"] for e in _pod(job)["containers"][0]["env"] if "valueFrom" in e
    }
    assert refs == {"todo-platform"}
    assert not [
        d for d in docs if d["metadata"]["name"] == "todo-platform-migrations" and d["kind"] == "Secret"
    ]


def test_managed_database_migrates_before_install_and_upgrade(render, find):
    job = find(render("production"), "Job", "todo-platform-migrations")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"


def test_trial_kafka_keeps_its_logs_in_a_subdirectory_of_the_volume(render, find):
    kafka = find(render("incluster"), "StatefulSet", "todo-platform-kafka")
    container = _pod(kafka)["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    (mount,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == "data"]
    # ext4 puts lost+found at the volume root, and Kafka refuses a log dir holding it.
    assert env["KAFKA_LOG_DIRS"].startswith(mount.rstrip("/") + "/")
    assert env["KAFKA_LOG_DIRS"] != mount


def test_the_image_tag_is_required_and_used_everywhere(refused, render):
    assert "image.tag is empty" in refused("image.tag=", flag="--set-string")
    tag = json.loads(dict(pair.split("=", 1) for pair in DEPLOY_TIME)["image.tag"])
    for doc in render("production", typed=SEPARATE):
        if doc["kind"] in {"Deployment", "StatefulSet", "Job", "Pod"} and doc["metadata"]["name"].startswith(
            "todo-platform-"
        ):
            image = _pod(doc)["containers"][0]["image"]
            assert image.endswith(":" + tag), doc["metadata"]["name"]


@pytest.mark.parametrize("value_set", ["incluster", "production"])
def test_every_pod_of_our_image_pulls_with_the_registry_secret(render, value_set):
    for doc in render(value_set, typed=SEPARATE):
        if doc["kind"] in {"Deployment", "StatefulSet", "Job", "Pod"}:
            pod = _pod(doc)
            if "registry.digitalocean.com/" in pod["containers"][0]["image"]:
                assert pod["imagePullSecrets"] == [{"name": "registry-todo-platform"}], doc["metadata"][
                    "name"
                ]


@pytest.mark.parametrize("value_set", ["incluster", "production"])
def test_https_comes_from_a_cluster_issuer_the_chart_ships(render, find, value_set):
    docs = render(value_set)
    ingress = find(docs, "Ingress", "todo-platform-web")
    issuer_name = ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    issuer = find(docs, "ClusterIssuer", issuer_name)
    assert issuer["apiVersion"] == "cert-manager.io/v1"
    acme = issuer["spec"]["acme"]
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert acme["email"] == "ops@example.com"
    (solver,) = acme["solvers"]
    assert solver["http01"]["ingress"]["ingressClassName"] == ingress["spec"]["ingressClassName"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [ingress["spec"]["rules"][0]["host"]]


def test_a_cluster_issuer_without_an_email_is_refused(refused):
    message = refused("certManager.clusterIssuer.create=true", "certManager.clusterIssuer.email=")
    assert "needs certManager.clusterIssuer.email" in message


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_pod_disruption_budgets_let_a_node_drain(render, find, value_set):
    docs = render(value_set)
    web = find(docs, *WEB)
    replicas = web["spec"].get("replicas")
    hpa = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    floor = hpa[0]["spec"]["minReplicas"] if hpa else replicas
    for name, pods in (
        ("todo-platform-web", floor),
        ("todo-platform-worker", find(docs, *WORKER)["spec"]["replicas"]),
    ):
        spec = find(docs, "PodDisruptionBudget", name)["spec"]
        allowed = spec["maxUnavailable"] if "maxUnavailable" in spec else pods - spec["minAvailable"]
        assert allowed >= 1, f"{name} with {pods} replicas blocks every eviction"


def _egress(docs, name):
    """The egress rules of one NetworkPolicy."""
    return next(d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == name)["spec"]


@pytest.mark.parametrize("value_set", ["default", "production"])
def test_network_policies_open_ports_only_towards_named_destinations(render, value_set):
    docs = render(value_set, typed=SEPARATE)
    for role in ("web", "worker", "relay"):
        spec = _egress(docs, f"todo-platform-{role}")
        for rule in spec["egress"]:
            # A rule with ports but no `to` opens those ports to the whole internet.
            assert rule.get("to"), f"{role}: {rule}"
            ports = {p["port"] for p in rule.get("ports", [])}
            assert 25 not in ports
            everywhere = [peer for peer in rule["to"] if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
            if everywhere:
                assert role == "worker"
                assert ports == {587, 465}
        dapr = [r for r in spec["egress"] if "dapr-system" in yaml.safe_dump(r)]
        assert bool(dapr) == (role != "worker"), role
        ingress_peers = yaml.safe_dump(spec.get("ingress", []))
        assert "dapr-system" not in ingress_peers, role
    # The relay serves only its /metrics, to monitoring.scrapeFrom.
    relay_ingress = _egress(docs, "todo-platform-relay")["ingress"]
    assert [rule["ports"] for rule in relay_ingress] == [[{"port": 9102, "protocol": "TCP"}]]


def test_database_and_kafka_egress_follow_their_cidr_values(render):
    docs = render(
        "production",
        typed=("networkPolicy.database.cidrs={10.110.0.0/20}", "networkPolicy.kafka.cidrs={10.110.16.0/20}"),
    )
    rules = _egress(docs, "todo-platform-web")["egress"]
    by_port = {
        p["port"]: [peer["ipBlock"]["cidr"] for peer in r["to"] if "ipBlock" in peer]
        for r in rules
        for p in r.get("ports", [])
    }
    assert by_port[25060] == ["10.110.0.0/20"]
    assert by_port[25073] == ["10.110.16.0/20"]
    assert 587 not in by_port


def test_trial_egress_reaches_its_own_database_and_kafka_pods_only(render):
    rules = _egress(render("incluster"), "todo-platform-web")["egress"]
    assert not [r for r in rules for peer in r["to"] if "ipBlock" in peer]


# DigitalOcean Managed PostgreSQL: 25 connections per GiB of RAM, 3 kept for maintenance.
DO_PLANS = (("db-s-1vcpu-1gb", 22), ("db-s-1vcpu-2gb", 47), ("db-s-2vcpu-4gb", 97), ("db-s-4vcpu-8gb", 197))


def connection_budget(values: dict[str, Any]) -> int:
    """The worst case the chart must fit, computed here independently of its template."""
    web, worker, relay = values["web"], values["worker"], values["relay"]
    pods = (web["autoscaling"]["maxReplicas"] if web["autoscaling"]["enabled"] else web["replicaCount"]) + 1
    per_process = (
        web["database"]["poolSize"] + web["database"]["maxOverflow"] + (0 if relay["separate"] else 1)
    )
    total = pods * web["processes"] * per_process
    total += worker["replicaCount"] * (worker["database"]["poolSize"] + worker["database"]["maxOverflow"])
    total += relay["replicaCount"] if relay["separate"] else 0
    return total + 1


def _values(value_set: str) -> dict[str, Any]:
    """values.yaml merged with a value set's file (one level of nesting is all they override)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    if value_set != "default":

        def merge(base: dict[str, Any], over: dict[str, Any]) -> None:
            for key, value in over.items():
                if isinstance(value, dict) and isinstance(base.get(key), dict):
                    merge(base[key], value)
                else:
                    base[key] = value

        merge(values, yaml.safe_load((CHART / f"values-{value_set}.yaml").read_text()))
    return values


def smallest_plan(connections: int) -> str:
    """The smallest DigitalOcean PostgreSQL plan that accepts this many connections."""
    return next(plan for plan, limit in DO_PLANS if limit >= connections)


@pytest.mark.parametrize(
    ("value_set", "budget", "plan"),
    [
        ("default", 77, "db-s-2vcpu-4gb"),
        ("production", 83, "db-s-2vcpu-4gb"),
        ("incluster", 27, "db-s-1vcpu-2gb"),
    ],
)
def test_connection_budget_arithmetic(value_set, budget, plan):
    assert connection_budget(_values(value_set)) == budget
    assert smallest_plan(budget) == plan


def test_the_chart_refuses_values_over_the_connection_budget(render, refused):
    budget = connection_budget(_values("default"))
    render("default", typed=(f"database.maxConnections={budget}",))
    message = refused(f"database.maxConnections={budget - 1}")
    assert f"may open {budget} PostgreSQL connections but database.maxConnections is {budget - 1}" in message
    assert "may open" in refused("web.autoscaling.maxReplicas=12")


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_pool_sizes_and_processes_come_from_the_values(render, find, pod_env, value_set):
    from shared.settings import load_settings

    values = _values(value_set)
    docs = render(value_set)
    for (kind, name), role in ((WEB, "web"), (WORKER, "worker")):
        settings = load_settings(pod_env(docs, kind, name))
        assert settings.database_pool_size == values[role]["database"]["poolSize"]
        assert settings.database_max_overflow == values[role]["database"]["maxOverflow"]
    command = _pod(find(docs, *WEB))["containers"][0]["command"][-1]
    assert re.search(r"--workers (\d+)", command)[1] == str(values["web"]["processes"])


def _secret_names(container: dict[str, Any]) -> set[str]:
    """The variables a container takes from Secrets."""
    return {e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_each_role_gets_only_the_secrets_it_uses(render, find, value_set):
    docs = render(value_set, typed=SEPARATE)
    kafka = (
        {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}
        if value_set == "production"
        else set()
    )
    flask_app = {"SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_URL"}
    smtp = {"SMTP_USERNAME", "SMTP_PASSWORD"}
    jobs = [d for d in docs if d["kind"] == "Job"]
    expected = {
        # web and relay publish through their sidecars, which read Kafka's credentials themselves
        "web": (find(docs, *WEB), flask_app),
        "relay": (find(docs, *RELAY), flask_app),
        # the worker signs nothing: no SECRET_KEY or JWT_SECRET_KEY
        "worker": (find(docs, *WORKER), {"DATABASE_URL"} | smtp | kafka),
        # and the worker role's login, which `db roles` creates
        "migrations": (jobs[0], flask_app | {"WORKER_DATABASE_URL"}),
    }
    for role, (doc, names) in expected.items():
        assert _secret_names(_pod(doc)["containers"][0]) == names, role


def _secret_keys(container: dict[str, Any]) -> dict[str, str]:
    """Variable -> the Secret key it is read from."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_worker_connects_as_its_own_role_and_the_others_as_the_owner(render, find, value_set):
    docs = render(value_set, typed=SEPARATE)
    # The worker's DATABASE_URL is the role that may only SELECT and INSERT audit_log; it never
    # gets the owner's URL, under either name.
    worker = _secret_keys(_pod(find(docs, *WORKER))["containers"][0])
    assert worker["DATABASE_URL"] == "WORKER_DATABASE_URL"
    assert "WORKER_DATABASE_URL" not in worker
    assert "DATABASE_URL" not in worker.values()
    for workload in (WEB, RELAY):
        keys = _secret_keys(_pod(find(docs, *workload))["containers"][0])
        assert keys["DATABASE_URL"] == "DATABASE_URL", workload
        assert "WORKER_DATABASE_URL" not in keys.values(), workload


@pytest.mark.parametrize(
    ("value_set", "job"), [("incluster", "install"), ("incluster", "upgrade"), ("production", "")]
)
def test_the_migrations_job_creates_the_workers_role_right_after_upgrading(helm, find, value_set, job):
    extra = ("--is-upgrade",) if job == "upgrade" else ()
    result = helm(*_render_args(value_set, *extra))
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    name = "todo-platform-migrations" + ("-install" if job == "install" else "")
    container = _pod(find(docs, "Job", name))["containers"][0]
    # As the owner, with the worker's login to create: both URLs, each under its own name.
    keys = _secret_keys(container)
    assert keys["DATABASE_URL"] == "DATABASE_URL"
    assert keys["WORKER_DATABASE_URL"] == "WORKER_DATABASE_URL"
    script = container["command"][-1]
    upgrade = script.index("flask --app web db upgrade")
    # Only once the upgrade succeeded (its grants cover the tables it added), and its exit code is the Job's.
    assert script[upgrade:].startswith("flask --app web db upgrade && exec flask --app web db roles;")


def test_a_chart_managed_secret_carries_the_workers_url(render, find):
    chart_managed = (
        "secrets.existingSecret=",
        "secrets.secretKey=" + "s" * 40,
        "secrets.jwtSecretKey=" + "j" * 40,
    )
    docs = render(
        "incluster",
        *chart_managed,
        "inCluster.postgresql.password=pw",
        "inCluster.postgresql.workerPassword=w/p",
    )
    assert find(docs, "Secret", "todo-platform")["stringData"]["WORKER_DATABASE_URL"] == (
        "postgresql://todo_worker:w%2Fp@todo-platform-postgresql:5432/todo"
    )
    worker_url = "postgresql://todo_worker:w@db:25060/todo?sslmode=require"
    docs = render(
        "production",
        *chart_managed,
        "secrets.databaseUrl=postgresql://u:p@db:25060/todo?sslmode=require",
        "secrets.workerDatabaseUrl=" + worker_url,
    )
    # The hook-time copy too: the migrations Job runs before the release's own Secret exists.
    for name in ("todo-platform", "todo-platform-migrations"):
        assert find(docs, "Secret", name)["stringData"]["WORKER_DATABASE_URL"] == worker_url, name


def test_without_dapr_web_and_relay_get_kafka_credentials(render, find):
    docs = render("production", typed=(*SEPARATE, "dapr.enabled=false"))
    for workload in (WEB, RELAY):
        assert "KAFKA_SASL_PASSWORD" in _secret_names(_pod(find(docs, *workload))["containers"][0])
        assert "SMTP_PASSWORD" not in _secret_names(_pod(find(docs, *workload))["containers"][0])


@pytest.mark.parametrize(
    ("sets", "path"),
    [
        (["image.tag=20240101"], "/image/tag"),
        (["web.livenessProbe.periodSeconds=often"], "/web/livenessProbe"),
        (["web.readinessProbe.httpGet.path=readyz"], "/web/readinessProbe"),
        (["worker.resources.limits.cpu=lots"], "/worker/resources/limits/cpu"),
        (["worker.resources.limit.cpu=1"], "/worker/resources"),
        (["securityContext.readOnlyRootFilesystem=yes"], "/securityContext/readOnlyRootFilesystem"),
        (["podSecurityContext.runAsUser=-1"], "/podSecurityContext/runAsUser"),
        (["relay=null"], "relay"),
        (["networkPolicy.database.cidrs={10.0.0.0}"], "/networkPolicy/database/cidrs/0"),
    ],
)
def test_schema_types_the_kubernetes_shaped_values(refused, sets, path):
    flag = "--set-string" if sets[0].startswith("securityContext") else "--set"
    stderr = refused(*sets, flag=flag)
    assert "schema" in stderr
    assert path in stderr


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_web_app_trusts_exactly_the_ingress_in_front_of_it(render, pod_env, value_set):
    from shared.settings import load_settings

    docs = render(value_set)
    # Throttling per client and HSTS read the client's address and scheme through the ingress.
    assert load_settings(pod_env(docs, *WEB)).proxy_fix_hops == 1
    assert "PROXY_FIX_HOPS" not in pod_env(docs, *WORKER)
