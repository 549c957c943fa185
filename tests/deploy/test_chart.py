"""The Helm chart lints, renders valid Kubernetes manifests and refuses values that cannot work."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

CHART = Path(__file__).resolve().parents[2] / "chart" / "todo-platform"
VALUE_SETS = ("default", "incluster", "production")

KUBERNETES_VERSIONS = ("1.33.0", "1.35.0")
DAPR_KINDS = {"Component", "Configuration", "Resiliency"}
# Custom resources whose CRDs are not in kubernetes-validate's schemas (checked field by field).
CUSTOM_GROUPS = ("dapr.io/", "cert-manager.io/")


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_helm_lint_is_clean(helm, lint_args, value_set):
    result = helm(*lint_args(value_set))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rendered_manifests_match_the_kubernetes_schemas(render, value_set):
    docs = render(value_set)
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(
                    f"{doc['kind']}/{doc['metadata']['name']} on {version}: {exc.message} at {exc.path}"
                )
        checked += 1
    assert checked >= 10


def test_dapr_custom_resources_have_their_required_fields(render):
    # The CRDs are not in kubernetes-validate's schemas, so the fields Dapr requires are checked here.
    docs = [d for d in render("production") if d["apiVersion"].startswith("dapr.io/")]
    assert {d["kind"] for d in docs} == DAPR_KINDS
    for doc in docs:
        assert doc["apiVersion"] == "dapr.io/v1alpha1"
        assert doc["metadata"]["name"]
        if doc["kind"] == "Component":
            spec = doc["spec"]
            assert spec["type"]
            assert spec["version"] in {"v1", "v2"}
            for item in spec["metadata"]:
                assert set(item) in ({"name", "value"}, {"name", "secretKeyRef"}), item
                assert isinstance(item.get("value", ""), str), f"{item['name']} must be a string"
            assert doc["scopes"] == ["todo-web"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_resource_carries_the_scaffold_labels(render, value_set):
    for doc in render(value_set):
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "todo-platform", doc["metadata"]["name"]
        assert labels.get("app.kubernetes.io/instance") == "todo-platform"
        assert "helm.sh/chart" in labels


def test_web_and_worker_shape(render, find):
    docs = render("production")
    web = find(docs, "Deployment", "todo-platform-web")
    pod = web["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    worker = find(docs, "StatefulSet", "todo-platform-worker")
    assert worker["spec"]["serviceName"] == "todo-platform-worker"
    assert worker["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert worker["spec"]["replicas"] <= 6
    headless = find(docs, "Service", "todo-platform-worker")
    assert headless["spec"]["clusterIP"] == "None"
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for expected in [
        ("Service", "todo-platform-web"),
        ("Ingress", "todo-platform-web"),
        ("HorizontalPodAutoscaler", "todo-platform-web"),
        ("PodDisruptionBudget", "todo-platform-web"),
        ("PodDisruptionBudget", "todo-platform-worker"),
        ("NetworkPolicy", "todo-platform-web"),
        ("NetworkPolicy", "todo-platform-worker"),
        ("ServiceAccount", "todo-platform"),
        ("ConfigMap", "todo-platform"),
        ("Job", "todo-platform-migrations"),
        ("Pod", "todo-platform-test-readyz"),
    ]:
        assert expected in kinds


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_app_pods_run_as_non_root_with_limits(render, value_set):
    for doc in render(value_set):
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec") if doc["kind"] != "Pod" else spec
        if not pod:
            continue
        assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        assert pod.get("automountServiceAccountToken") is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"requests", "limits"} <= set(container["resources"])
            component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
            assert context["readOnlyRootFilesystem"] is (component != "kafka"), doc["metadata"]["name"]


def test_migrations_run_as_a_pre_install_hook(render, find):
    job = find(render("production"), "Job", "todo-platform-migrations")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    command = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "flask --app web db upgrade" in command
    # In-cluster PostgreSQL only exists once the release is installed: that first install migrates
    # in an ordinary Job beside it (test_first_deploy.py follows it through install and upgrade).
    job = find(render("incluster"), "Job", "todo-platform-migrations-install")
    assert "flask --app web db upgrade" in " ".join(
        job["spec"]["template"]["spec"]["containers"][0]["command"]
    )


def test_helm_test_hook_checks_readyz(render, find):
    pod = find(render(), "Pod", "todo-platform-test-readyz")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "http://todo-platform-web:80/readyz" in pod["spec"]["containers"][0]["command"][-1]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["worker.replicaCount=7"], "worker.replicaCount (7) must not exceed events.partitions (6)"),
        (["secrets.existingSecret="], "set secrets.secretKey and secrets.jwtSecretKey"),
        (
            ["secrets.existingSecret=", "secrets.secretKey=" + "k" * 32, "secrets.jwtSecretKey=" + "j" * 32],
            "set secrets.databaseUrl",
        ),
        (
            ["secrets.existingSecret=", "secrets.secretKey=" + "k" * 32, "secrets.jwtSecretKey=" + "j" * 32],
            "set secrets.workerDatabaseUrl",
        ),
        (
            ["secrets.existingSecret=", "inCluster.enabled=true", "inCluster.postgresql.password=pw"],
            "needs inCluster.postgresql.workerPassword",
        ),
        (["kafka.securityProtocol=SASL_SSL"], "needs kafka.saslMechanism"),
        (["kafka.bootstrapServers="], "Kafka is not configured"),
        (["web.ingress.enabled=true", "web.ingress.tls.enabled=true"], "needs web.ingress.tls.secretName"),
    ],
)
def test_validate_values_fails_with_a_clear_message(refused, sets, message):
    stderr = refused(*sets)
    assert "VALUES VALIDATION" in stderr
    assert message in stderr


@pytest.mark.parametrize(
    ("sets", "path"),
    [
        (["kafka.securityProtocol=SASL_PLAIN"], "/kafka/securityProtocol"),
        (["appEnv=staging"], "/appEnv"),
        (["worker.tableStore=redis://"], "/worker/tableStore"),
        (["web.replicaCount=two"], "/web/replicaCount"),
        (["webReplicas=2"], "webReplicas"),
        (["secrets.databaseUrl=mysql://x"], "/secrets/databaseUrl"),
    ],
)
def test_schema_rejects_malformed_values(refused, sets, path):
    stderr = refused(*sets, flag="--set-string")
    assert "schema" in stderr
    assert path in stderr


def test_chart_managed_secret_renders_when_values_are_given(render, find):
    docs = render(
        "incluster",
        "secrets.existingSecret=",
        "secrets.secretKey=" + "s" * 40,
        "secrets.jwtSecretKey=" + "j" * 40,
        "inCluster.postgresql.password=p@ss word",
        "inCluster.postgresql.workerPassword=w",
    )
    secret = find(docs, "Secret", "todo-platform")
    assert secret["stringData"]["DATABASE_URL"] == (
        "postgresql://todo:p%40ss+word@todo-platform-postgresql:5432/todo"
    )
    docs = render(
        "production",
        "secrets.existingSecret=",
        "secrets.secretKey=" + "s" * 40,
        "secrets.jwtSecretKey=" + "j" * 40,
        "secrets.databaseUrl=postgresql://u:p@db:25060/todo?sslmode=require",
        "secrets.workerDatabaseUrl=postgresql://todo_worker:w@db:25060/todo?sslmode=require",
    )
    # Hooks run before the release's own Secret exists, so they get a hook-time copy.
    assert find(docs, "Secret", "todo-platform-migrations")["metadata"]["annotations"]["helm.sh/hook"]
