"""End to end on a real local cluster: infra/up, the controllers, onboarding a team, admission, infra/down.

Needs docker (with a running engine), kind, kubectl and the pulumi CLI; skipped without them
(the e2e workflow sets AGENTPLANE_E2E_REQUIRED=1 so that there a missing tool fails instead).
Run: `pytest -m e2e tests/e2e` (plain `pytest` deselects these tests: pyproject.toml's addopts
say `-m "not e2e"`). It takes a while: the first infra/up pulls every image.

It never touches a cluster or a stack it did not create: infra/up and infra/down run with a
cluster name unique to the run (`agentplane-e2e-<random>`) and a Pulumi state directory of its
own, and the run refuses to start when a cluster of that name already exists. A developer's own
`agentplane` cluster and `.pulumi-state/` are left alone (its host ports 8443/8080 must be free,
though: with the developer's cluster up, creating the second one fails, and nothing is touched).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# Unique per run: the suite creates this cluster and deletes only it.
CLUSTER_NAME = f"agentplane-e2e-{uuid.uuid4().hex[:8]}"
KUBE_CONTEXT = f"kind-{CLUSTER_NAME}"
# The run's own Pulumi state, never the repository's .pulumi-state/.
STATE_DIR = Path(tempfile.gettempdir()) / f"{CLUSTER_NAME}-state"
INFRA_ARGS = ("--cluster", CLUSTER_NAME, "--state-dir", str(STATE_DIR))

# The platform's namespaces whose controllers must become ready. They must match the
# namespaces the platform creates (agentplane/namespaces.py);
# test_namespace_constants_match_the_platform checks that offline.
CERT_MANAGER_NAMESPACE = "cert-manager"
KEYCLOAK_NAMESPACE = "agentplane-identity"
SPIRE_SERVER_NAMESPACE = "spire-server"
KYVERNO_NAMESPACE = "kyverno"
OTEL_OPERATOR_NAMESPACE = "agentplane-telemetry"
AGENTGATEWAY_NAMESPACE = "agentplane-gateway"
CONTROLLER_NAMESPACES = {
    "cert-manager": CERT_MANAGER_NAMESPACE,
    "keycloak": KEYCLOAK_NAMESPACE,
    "spire-server": SPIRE_SERVER_NAMESPACE,
    "kyverno": KYVERNO_NAMESPACE,
    "opentelemetry-operator": OTEL_OPERATOR_NAMESPACE,
    "agentgateway": AGENTGATEWAY_NAMESPACE,
}
TENANT_LABEL = "agentplane.io/tenant"

PROBE_TEAM = "e2e-probe"
PROBE_AGENT = "prober"
# Any image without the signatures the provenance policy requires.
UNSIGNED_IMAGE = "docker.io/library/busybox:1.37.0"

UP_TIMEOUT = 45 * 60  # the first run pulls every chart's images
DOWN_TIMEOUT = 20 * 60
READY_TIMEOUT = "600s"
# The tests never call a model: infra/up may store placeholder provider keys where none are
# exported (a developer's real OPENAI_API_KEY etc. still take precedence).
INFRA_UP_ENV = {"AGENTPLANE_PLACEHOLDER_PROVIDER_KEYS": "1"}


def sh(*command: str, timeout: float = 300, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {done.returncode}\n--- stdout\n{done.stdout[-8000:]}\n"
            f"--- stderr\n{done.stderr[-8000:]}"
        )
    return done


def kubectl(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    return sh("kubectl", "--context", KUBE_CONTEXT, *args, timeout=timeout, check=check)


def dev_config() -> dict:
    return yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]


def enforce_tier() -> str:
    tiers = dev_config()["agentplane:tiers"]
    enforcing = [t["name"] for t in tiers if t.get("provenance") == "enforce"]
    assert enforcing, (
        "stacks/Pulumi.dev.yaml has no tier with `provenance: enforce`; the admission "
        "check needs one to prove unsigned images are rejected"
    )
    return enforcing[0]


def diagnostics() -> None:
    """Print what a failed run needs for debugging (pytest shows it with the failure)."""
    for args in (("get", "pods", "-A", "-o", "wide"), ("get", "events", "-A", "--sort-by=.lastTimestamp")):
        done = kubectl(*args, check=False, timeout=60)
        print(f"$ kubectl {' '.join(args)}\n{done.stdout[-20000:]}{done.stderr[-2000:]}")


# --------------------------------------------------------------------------- offline


def test_namespace_constants_match_the_platform():
    from agentplane import namespaces

    assert CERT_MANAGER_NAMESPACE == namespaces.CERT_MANAGER
    assert KEYCLOAK_NAMESPACE == namespaces.IDENTITY
    assert SPIRE_SERVER_NAMESPACE == namespaces.SPIRE_SERVER
    assert KYVERNO_NAMESPACE == namespaces.POLICY
    assert OTEL_OPERATOR_NAMESPACE == namespaces.TELEMETRY
    assert AGENTGATEWAY_NAMESPACE == namespaces.GATEWAY


# --------------------------------------------------------------------------- on a cluster


@pytest.fixture(scope="module", name="platform")
def platform_fixture(e2e_tools, request):
    """infra/up once for the module; infra/down afterwards, whatever happened. (Named apart from
    its fixture name so a module importing it, tests/e2e/test_behaviour.py, has no second
    `platform` next to the parameter that requests it.)"""

    def teardown() -> None:
        if request.session.testsfailed:
            diagnostics()
        # One command leaves nothing behind: a failing infra/down or a surviving cluster is an error.
        sh("infra/down", "--yes", *INFRA_ARGS, timeout=DOWN_TIMEOUT)
        clusters = sh("kind", "get", "clusters", timeout=60).stdout.split()
        assert CLUSTER_NAME not in clusters, f"infra/down left the kind cluster behind: {clusters}"

    existing = sh("kind", "get", "clusters", timeout=60).stdout.split()
    if CLUSTER_NAME in existing or STATE_DIR.exists():
        pytest.fail(
            f"kind cluster {CLUSTER_NAME} or {STATE_DIR} already exists: this run did not create it, "
            "so it will not use or delete it"
        )
    request.addfinalizer(teardown)
    sh("infra/up", *INFRA_ARGS, timeout=UP_TIMEOUT, env=INFRA_UP_ENV)


@pytest.fixture(scope="module")
def probe_team(platform):
    """A team file in stacks/teams/, applied with infra/up; the file is removed again afterwards."""
    path = ROOT / "stacks" / "teams" / f"{PROBE_TEAM}.yaml"
    assert not path.exists(), f"{path} already exists; remove it before running the e2e tests"
    tier = enforce_tier()
    team = {
        "name": PROBE_TEAM,
        "owners": [f"{PROBE_TEAM}-admins"],
        "environments": {"dev": {"tier": tier}},
        "agents": [{"name": PROBE_AGENT, "promote": {"dev": tier}}],
    }
    path.write_text("# Written by tests/e2e; removed when the test ends.\n" + yaml.safe_dump(team, sort_keys=False))
    try:
        sh("infra/up", *INFRA_ARGS, timeout=UP_TIMEOUT, env=INFRA_UP_ENV)
        yield PROBE_TEAM
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.e2e
@pytest.mark.parametrize("controller", sorted(CONTROLLER_NAMESPACES))
def test_controllers_become_ready(platform, controller):
    namespace = CONTROLLER_NAMESPACES[controller]
    deployments = kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout.split()
    statefulsets = kubectl("get", "statefulsets", "-n", namespace, "-o", "name").stdout.split()
    assert deployments or statefulsets, f"{controller}: no workloads in namespace {namespace}"
    if deployments:
        kubectl(
            "wait",
            "--for=condition=Available",
            "deployment",
            "--all",
            "-n",
            namespace,
            f"--timeout={READY_TIMEOUT}",
            timeout=660,
        )
    for sts in statefulsets:  # Keycloak and the SPIRE server run as StatefulSets
        kubectl("rollout", "status", sts, "-n", namespace, f"--timeout={READY_TIMEOUT}", timeout=660)


@pytest.mark.e2e
def test_onboarding_a_team_creates_its_namespace_and_guardrails(probe_team):
    namespaces = kubectl("get", "namespaces", "-l", f"{TENANT_LABEL}={probe_team}", "-o", "name").stdout.split()
    assert len(namespaces) == 1, f"expected one namespace labelled {TENANT_LABEL}={probe_team}, got {namespaces}"
    namespace = namespaces[0].split("/", 1)[1]
    for kind in ("resourcequota", "limitrange", "networkpolicy"):
        found = kubectl("get", kind, "-n", namespace, "-o", "name").stdout.split()
        assert found, f"no {kind} in the team namespace {namespace}"
    # Default-deny must be among the network policies.
    policies = json.loads(kubectl("get", "networkpolicy", "-n", namespace, "-o", "json").stdout)["items"]
    assert any(
        p["spec"].get("podSelector") == {} and {"Ingress", "Egress"} <= set(p["spec"].get("policyTypes", []))
        for p in policies
    ), "no default-deny NetworkPolicy for ingress and egress"


@pytest.mark.e2e
def test_team_owners_cannot_touch_what_isolates_them(probe_team):
    """The real API server's RBAC and the tenant guard (a ValidatingAdmissionPolicy): a team
    owner (impersonated) may run workloads but not change its NetworkPolicies, and not delete its
    agent's ServiceAccount (RBAC lets owners write ServiceAccounts; the guard refuses platform
    ones). Server-side dry runs: admission runs, nothing is stored."""
    from agentplane.config.load import load_from_files

    namespace = kubectl(
        "get", "namespaces", "-l", f"{TENANT_LABEL}={probe_team}", "-o", "jsonpath={.items[0].metadata.name}"
    ).stdout.strip()
    group = load_from_files("dev", root=ROOT).env.tenancy.group_prefix + f"{PROBE_TEAM}-admins"
    owner = ("--as", "oidc:e2e-owner", "--as-group", group)

    def can_i(verb: str, resource: str) -> str:
        return kubectl("auth", "can-i", verb, resource, "-n", namespace, *owner, check=False).stdout.strip()

    assert can_i("create", "deployments.apps") == "yes"
    for verb in ("create", "delete", "patch"):
        assert can_i(verb, "networkpolicies.networking.k8s.io") == "no", verb
    assert can_i("create", "serviceaccounts/token") == "no"
    refused = kubectl("delete", "serviceaccount", PROBE_AGENT, "-n", namespace, "--dry-run=server", *owner, check=False)
    assert refused.returncode != 0 and "declared by the platform" in refused.stderr, refused.stderr


@pytest.mark.e2e
def test_unsigned_image_is_rejected_in_an_enforce_tier(probe_team):
    namespace = kubectl(
        "get", "namespaces", "-l", f"{TENANT_LABEL}={probe_team}", "-o", "jsonpath={.items[0].metadata.name}"
    ).stdout.strip()
    # Kyverno's policies become active shortly after the chart reports ready; give them time.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unsigned-probe", "namespace": namespace},
        "spec": {
            "serviceAccountName": PROBE_AGENT,
            # Compliant with Pod Security `restricted`, so provenance is the only reason to refuse it.
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "probe",
                    "image": UNSIGNED_IMAGE,
                    "command": ["sleep", "3600"],
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "50m", "memory": "32Mi"},
                    },
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }
    manifest = json.dumps(pod)
    deadline = time.monotonic() + 300
    while True:
        done = subprocess.run(
            ["kubectl", "--context", KUBE_CONTEXT, "apply", "--dry-run=server", "-f", "-"],
            input=manifest,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0 or time.monotonic() > deadline:
            break
        time.sleep(10)
    assert done.returncode != 0, f"an unsigned image was admitted into {namespace}:\n{done.stdout}"
    message = done.stderr
    assert re.search(r"(?i)denied|blocked|forbidden", message), message
    # The provenance policy's own message, naming the image: any other refusal (Pod Security,
    # quota, a digest or `required` check on the platform-injected init container) is a failure.
    assert "requires images signed by an approved signer" in message and UNSIGNED_IMAGE in message, (
        f"rejected, but not for provenance:\n{message}"
    )


# --------------------------------------------------------------------------- faults (docs/faults.md)

RATELIMIT_HTTP_PORT = 8080  # agentplane/builders/gateway/token_budgets.py HTTP_PORT: the service's /json endpoint
BUDGET_STORE_POD = "agentplane-ratelimit-redis-0"


def _budget_check(local_port: int, hits: int) -> int:
    """The probe team's remaining daily tokens after `hits` more, as the budget service counts
    them (envoyproxy/ratelimit@1e50889b README '/json endpoint')."""
    body = json.dumps(
        {
            "domain": f"agentplane-budget-{PROBE_TEAM}",
            "hits_addend": hits,
            "descriptors": [{"entries": [{"key": "team", "value": PROBE_TEAM}]}],
        }
    )
    done = sh(
        "curl", "-sS", "-X", "POST", "--data", body, f"http://127.0.0.1:{local_port}/json", timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    (status,) = json.loads(done.stdout)["statuses"]
    return int(status["limitRemaining"])


@pytest.mark.e2e
def test_a_budget_store_restart_mid_day_keeps_the_remaining_budget(probe_team):
    """Kill the store's pod mid-day: the counters come back from the append-only file on its volume."""
    forward = subprocess.Popen(
        [
            "kubectl",
            "--context",
            KUBE_CONTEXT,
            "-n",
            AGENTGATEWAY_NAMESPACE,
            "port-forward",
            "deployment/agentplane-ratelimit",
            f"18080:{RATELIMIT_HTTP_PORT}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        before = _budget_check(18080, 1234)
        # Let the append-only file's once-a-second fsync pass, then kill the store.
        time.sleep(2)
        kubectl("delete", "pod", BUDGET_STORE_POD, "-n", AGENTGATEWAY_NAMESPACE, "--wait=true", timeout=120)
        kubectl(
            "rollout",
            "status",
            "statefulset/agentplane-ratelimit-redis",
            "-n",
            AGENTGATEWAY_NAMESPACE,
            "--timeout=300s",
            timeout=330,
        )
        deadline = time.monotonic() + 120
        while True:  # the service reconnects to the new pod on its own
            try:
                after = _budget_check(18080, 1)
                break
            except (AssertionError, KeyError, ValueError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(3)
        # One more token counted, none forgotten: a reset store would answer limit - 1.
        assert after == before - 1, f"remaining {before} before the restart, {after} after one more token"
    finally:
        forward.terminate()
        forward.wait(timeout=30)


BACKUP_BUCKET_ENV = "AGENTPLANE_E2E_BACKUP_DESTINATION"  # s3://bucket/path the kind cluster can reach


@pytest.mark.e2e
def test_keycloak_database_restore_runbook(platform):
    """docs/faults.md 'Restore Keycloak's database', steps 1-4, against a bucket the CI provides
    (with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and, for MinIO, AWS_ENDPOINT_URL)."""
    destination = os.environ.get(BACKUP_BUCKET_ENV)
    if not destination:
        pytest.skip(
            f"the restore runbook needs an object store: set {BACKUP_BUCKET_ENV}=s3://<bucket>/<path> "
            "and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for MinIO)"
        )
    ns = KEYCLOAK_NAMESPACE
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "e2e-backup-credentials", "namespace": ns},
        "stringData": {
            "ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "ACCESS_SECRET_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        },
    }
    store = {
        "destinationPath": destination,
        "s3Credentials": {
            "accessKeyId": {"name": "e2e-backup-credentials", "key": "ACCESS_KEY_ID"},
            "secretAccessKey": {"name": "e2e-backup-credentials", "key": "ACCESS_SECRET_KEY"},
        },
    }
    if os.environ.get("AWS_ENDPOINT_URL"):
        store["endpointURL"] = os.environ["AWS_ENDPOINT_URL"]

    def apply(obj: dict) -> None:
        done = subprocess.run(
            ["kubectl", "--context", KUBE_CONTEXT, "apply", "-f", "-"],
            input=json.dumps(obj),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def realms(pod: str) -> str:
        return kubectl(
            "exec",
            "-n",
            ns,
            pod,
            "-c",
            "postgres",
            "--",
            "psql",
            "-tA",
            "-d",
            "keycloak",
            "-c",
            "select string_agg(name, ',' order by name) from realm",
        ).stdout.strip()

    apply(secret)
    # Step 1 (dev has no backups configured): point the cluster at the bucket and take a backup.
    kubectl(
        "patch",
        "cluster",
        "keycloak-db",
        "-n",
        ns,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"backup": {"barmanObjectStore": store}}}),
    )
    apply(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Backup",
            "metadata": {"name": "e2e-backup", "namespace": ns},
            "spec": {"cluster": {"name": "keycloak-db"}, "method": "barmanObjectStore"},
        }
    )
    kubectl(
        "wait", "backup/e2e-backup", "-n", ns, "--for=jsonpath={.status.phase}=completed", "--timeout=600s", timeout=630
    )
    expected = realms("keycloak-db-1")
    assert "agentplane" in expected.split(",")
    # Steps 2-3: a new cluster bootstrapped from the object store.
    apply(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "keycloak-db-restore", "namespace": ns},
            "spec": {
                "instances": 1,
                "storage": {"size": "1Gi"},
                "bootstrap": {"recovery": {"source": "keycloak-db"}},
                "externalClusters": [
                    {"name": "keycloak-db", "barmanObjectStore": {**store, "serverName": "keycloak-db"}}
                ],
            },
        }
    )
    try:
        kubectl("wait", "cluster/keycloak-db-restore", "-n", ns, "--for=condition=Ready", "--timeout=900s", timeout=930)
        # Step 4: the restored database has every realm the original had.
        assert realms("keycloak-db-restore-1") == expected
    finally:
        kubectl(
            "delete",
            "cluster/keycloak-db-restore",
            "backup/e2e-backup",
            "secret/e2e-backup-credentials",
            "-n",
            ns,
            "--ignore-not-found",
            check=False,
            timeout=300,
        )
