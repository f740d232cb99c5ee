"""Faults, on the rendered plans: what keeps each request-path piece up through a node drain,
the budget counters through a restart, and Keycloak's data through the loss of its volume.

Pods that upstream controllers create (the gateway proxy, cert-manager's webhook, Kyverno's
admission controller, the collector) are modelled from the pinned sources cited at each model;
the budget service's pods are the plan's own Deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml

from agentplane.builders.gateway import platform as gw
from agentplane.builders.gateway import token_budgets as budget
from agentplane.builders.identity import postgres as idb
from agentplane.config.load import validate_environment
from agentplane.config.sections import resilience
from agentplane.errors import ConfigError
from agentplane.quantity import parse_quantity
from tests.support.admission_match import selector_matches
from tests.support.plans import ROOT, STACKS, example_plan, stack_document
from tests.support.upstream import validate_objects

PROTECTED_STACKS = tuple(
    s
    for s in STACKS
    if yaml.safe_load((ROOT / "stacks" / f"Pulumi.{s}.yaml").read_text())["config"]["agentplane:protect"]
)


def test_there_is_a_protected_example_stack() -> None:
    assert PROTECTED_STACKS == ("prod",)


# --- label selectors (tests/support/admission_match.py, kubernetes/apimachinery@v0.34.10 pkg/labels) -------------


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector selects an object with `labels` (closed-world: unknown keys fail)."""
    assert selector, "an empty selector selects everything: never what a PDB or affinity means here"
    return selector_matches(selector, labels, "label selector")


def test_selects_is_an_and_of_every_requirement() -> None:
    pod = {"a": "1", "b": "2"}
    assert selects({"matchLabels": {"a": "1"}}, pod)
    assert not selects({"matchLabels": {"a": "1", "c": "3"}}, pod)
    assert not selects(
        {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "In", "values": ["3"]}]}, pod
    )
    assert selects({"matchExpressions": [{"key": "c", "operator": "DoesNotExist"}]}, pod)


# --- the pieces on a request's path, as the plan and the pinned upstreams make them -------------


@dataclass(frozen=True)
class Piece:
    name: str
    namespace: str
    replicas: int
    pod_labels: dict[str, str]
    # PDBs that exist for the pods: (selector, minAvailable, maxUnavailable)
    budgets: tuple[tuple[dict, int | None, int | None], ...]
    anti_affinity: tuple[dict, ...]  # labelSelectors of podAntiAffinity terms on hostname


def _resources(doc: dict, type_: str) -> list[dict]:
    return [r for r in doc["resources"] if r["type"] == type_]


def _objects(doc: dict, kind: str) -> list[dict]:
    return [
        r["inputs"] for r in doc["resources"] if r["type"].startswith("kubernetes:") and r["inputs"].get("kind") == kind
    ]


def _plan_pdbs(doc: dict, namespace: str) -> list[tuple[dict, int | None, int | None]]:
    return [
        (p["spec"]["selector"], p["spec"].get("minAvailable"), p["spec"].get("maxUnavailable"))
        for p in _objects(doc, "PodDisruptionBudget")
        if p["metadata"]["namespace"] == namespace
    ]


def _hostname_anti_affinity(affinity: dict | None) -> tuple[dict, ...]:
    terms = (affinity or {}).get("podAntiAffinity", {})
    found = [t["podAffinityTerm"] for t in terms.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
    found += terms.get("requiredDuringSchedulingIgnoredDuringExecution", [])
    return tuple(t["labelSelector"] for t in found if t["topologyKey"] == "kubernetes.io/hostname")


def budget_service(doc: dict) -> Piece:
    (deployment,) = [d for d in _objects(doc, "Deployment") if d["metadata"]["name"] == budget.SERVICE]
    pod = deployment["spec"]["template"]
    ns = deployment["metadata"]["namespace"]
    return Piece(
        "budget service",
        ns,
        deployment["spec"]["replicas"],
        pod["metadata"]["labels"],
        tuple(_plan_pdbs(doc, ns)),
        _hostname_anti_affinity(pod["spec"].get("affinity")),
    )


def gateway_proxy(doc: dict) -> Piece:
    """The controller renders the proxy Deployment with selector labels keyed on the Gateway's
    name and, given `podDisruptionBudget`, a PDB with that Deployment's selector
    (agentgateway/agentgateway@v1.4.1:controller/pkg/helm/agentgateway/templates/_helpers.tpl
    `kgateway.gateway.selectorLabels`, .../deployer/strategicpatch/strategicpatch.go createPodDisruptionBudget)."""
    (params,) = _objects(doc, "AgentgatewayParameters")
    (gateway,) = _objects(doc, "Gateway")
    assert gateway["spec"]["infrastructure"]["parametersRef"]["name"] == params["metadata"]["name"]
    name = gateway["metadata"]["name"]
    selector_labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": name,
        "gateway.networking.k8s.io/gateway-name": name,
    }
    pod_labels = {
        **selector_labels,
        "app.kubernetes.io/managed-by": "agentgateway",
        "gateway.networking.k8s.io/gateway-class-name": gateway["spec"]["gatewayClassName"],
    }
    spec = params["spec"]
    budgets = ()
    if "podDisruptionBudget" in spec:
        pdb = spec["podDisruptionBudget"].get("spec", {})
        budgets = (({"matchLabels": selector_labels}, pdb.get("minAvailable"), pdb.get("maxUnavailable")),)
    template = spec["deployment"]["spec"]["template"]["spec"]
    ns = params["metadata"]["namespace"]
    budgets += tuple(_plan_pdbs(doc, ns))  # any PDB of our own would select them too
    return Piece(
        "gateway proxy",
        ns,
        spec["deployment"]["spec"]["replicas"],
        pod_labels,
        budgets,
        _hostname_anti_affinity(template.get("affinity")),
    )


def cert_manager_webhook(doc: dict) -> Piece:
    """Webhook pod labels
    (cert-manager/cert-manager@v1.21.0:deploy/charts/cert-manager/templates/webhook-deployment.yaml);
    the component's typed `webhook` values (pulumi-kubernetes-cert-manager@v0.2.0)."""
    (release,) = _resources(doc, "kubernetes-cert-manager:index:CertManager")
    inputs = release["inputs"]
    instance = inputs["helmOptions"]["name"]
    ns = inputs["helmOptions"]["namespace"]
    webhook = inputs.get("webhook", {})
    pod_labels = {
        "app": "webhook",
        "app.kubernetes.io/name": "webhook",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": "webhook",
    }
    return Piece(
        "cert-manager webhook",
        ns,
        webhook.get("replicaCount", 1),
        pod_labels,
        tuple(_plan_pdbs(doc, ns)),
        _hostname_anti_affinity(webhook.get("affinity")),
    )


def kyverno_admission(doc: dict) -> Piece:
    """kyverno/kyverno@v1.19.0:charts/kyverno/templates: the admission PDB exists when
    `podDisruptionBudget.enabled` or replicas > 1 (admission-controller/poddisruptionbudget.yaml),
    selecting `kyverno.admission-controller.matchLabels` (part-of: fullname, instance: release,
    component: admission-controller), which the pods carry; the chart's default anti-affinity is
    on component=admission-controller (values.yaml admissionController.podAntiAffinity)."""
    (release,) = [
        r for r in _resources(doc, "kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"].endswith("kyverno")
    ]
    inputs = release["inputs"]
    name = inputs["name"]
    fullname = name if "kyverno" in name else f"{name}-kyverno"  # _helpers/_names.tpl kyverno.fullname
    values = inputs["values"]["admissionController"]
    replicas = values.get("replicas") or 1
    match = {
        "app.kubernetes.io/part-of": fullname,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "admission-controller",
    }
    pod_labels = {**match, "app.kubernetes.io/name": f"{fullname}-admission-controller"}
    pdb = values.get("podDisruptionBudget", {})
    budgets = ()
    if pdb.get("enabled") or replicas > 1:
        max_unavailable = pdb.get("maxUnavailable")
        budgets = (
            ({"matchLabels": match}, None if max_unavailable else (pdb.get("minAvailable") or 1), max_unavailable),
        )
    anti = ()
    if values.get("antiAffinity", {}).get("enabled", True) and "podAntiAffinity" not in values:
        anti = (
            {
                "matchExpressions": [
                    {"key": "app.kubernetes.io/component", "operator": "In", "values": ["admission-controller"]}
                ]
            },
        )
    ns = inputs["namespace"]
    return Piece("Kyverno admission", ns, replicas, pod_labels, budgets + tuple(_plan_pdbs(doc, ns)), anti)


def collector(doc: dict) -> Piece:
    """The operator makes a PDB for a deployment- or statefulset-mode collector (maxUnavailable 1 when unset),
    selecting SelectorLabels, which its pods carry
    (open-telemetry/opentelemetry-operator@v0.158.0:internal/manifests/collector/poddisruptionbudget.go,
    internal/manifests/manifestutils/labels.go)."""
    (col,) = _objects(doc, "OpenTelemetryCollector")
    meta, spec = col["metadata"], col["spec"]
    # Both modes get the PDB (collector.go Build: ModeDeployment and ModeStatefulSet).
    assert spec["mode"] in ("deployment", "statefulset")
    selector = {
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/instance": f"{meta['namespace']}.{meta['name']}",
        "app.kubernetes.io/part-of": "opentelemetry",
        "app.kubernetes.io/component": "opentelemetry-collector",
    }
    pdb = spec.get("podDisruptionBudget") or {"maxUnavailable": 1}
    budgets = (({"matchLabels": selector}, pdb.get("minAvailable"), pdb.get("maxUnavailable")),)
    return Piece(
        "collector",
        meta["namespace"],
        spec.get("replicas", 1),
        {**meta.get("labels", {}), **selector},
        budgets + tuple(_plan_pdbs(doc, meta["namespace"])),
        _hostname_anti_affinity(spec.get("affinity")),
    )


PIECES = (gateway_proxy, budget_service, cert_manager_webhook, kyverno_admission, collector)


def _allowed_disruptions(replicas: int, min_available: int | None, max_unavailable: int | None) -> int:
    if max_unavailable is not None:
        return min(max_unavailable, replicas)
    assert min_available is not None
    return max(0, replicas - min_available)


@pytest.mark.parametrize("stack", PROTECTED_STACKS)
@pytest.mark.parametrize("piece_of", PIECES, ids=lambda f: f.__name__)
def test_every_request_path_piece_survives_a_node_drain_in_protected_stacks(stack: str, piece_of) -> None:
    piece = piece_of(example_plan(stack))
    assert piece.replicas >= 2, f"{piece.name}: {piece.replicas} replica in {stack}"
    covering = [b for b in piece.budgets if selects(b[0], piece.pod_labels)]
    # Exactly one: the eviction API refuses pods covered by more than one PDB, which blocks drains.
    assert len(covering) == 1, f"{piece.name}: {len(covering)} PodDisruptionBudgets select its pods"
    _, min_available, max_unavailable = covering[0]
    allowed = _allowed_disruptions(piece.replicas, min_available, max_unavailable)
    assert 1 <= allowed < piece.replicas, f"{piece.name}: a drain may evict {allowed} of {piece.replicas} at once"
    assert any(selects(s, piece.pod_labels) for s in piece.anti_affinity), (
        f"{piece.name}: no anti-affinity that selects its own pods"
    )


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("piece_of", PIECES, ids=lambda f: f.__name__)
def test_no_disruption_budget_blocks_a_drain_anywhere(stack: str, piece_of) -> None:
    """In every stack (one replica or many) a drain can always evict one pod of each piece."""
    piece = piece_of(example_plan(stack))
    covering = [b for b in piece.budgets if selects(b[0], piece.pod_labels)]
    assert len(covering) <= 1
    for _, min_available, max_unavailable in covering:
        assert _allowed_disruptions(piece.replicas, min_available, max_unavailable) >= 1


def test_a_pdb_selector_that_misses_the_pods_is_caught() -> None:
    piece = budget_service(example_plan("prod"))
    wrong = {
        "matchLabels": {**piece.budgets[0][0]["matchLabels"], "app.kubernetes.io/name": "agentplane-ratelimit-redis"}
    }
    assert not selects(wrong, piece.pod_labels)


# --- replicas: per-environment defaults, and refusals in protected environments ----------------


def _env(stack: str, **sections):
    doc = stack_document(stack, **sections)
    raw = {k.split(":", 1)[1]: v for k, v in doc["config"].items()}
    return validate_environment(raw, f"stacks/Pulumi.{stack}.yaml", source="file")


def test_replicas_default_to_two_where_protected_and_one_elsewhere() -> None:
    dev = _env("dev")
    assert set(resilience.request_path_replicas(dev).values()) <= {1, 2}
    assert (
        resilience.proxy_replicas(dev)
        == resilience.budget_service_replicas(dev)
        == resilience.cert_manager_webhook_replicas(dev)
        == 1
    )
    protected = _env("staging", protect=True, identity={"database": {"backup": {"enabled": False}}})
    assert resilience.proxy_replicas(protected) == resilience.budget_service_replicas(protected) == 2
    assert (
        resilience.cert_manager_webhook_replicas(protected) == 2
        and resilience.kyverno_admission_replicas(protected) == 3
    )


@pytest.mark.parametrize(
    ("sections", "field"),
    [
        ({"gateway": {"proxyReplicas": 1}}, "agentplane:gateway.proxyReplicas"),
        ({"gateway": {"budget": {"replicas": 1}}}, "agentplane:gateway.budget.replicas"),
        ({"certificates": {"webhookReplicas": 1}}, "agentplane:certificates.webhookReplicas"),
        ({"provenance_replicas": 1}, "agentplane:provenance.replicas"),
        ({"telemetry_replicas": 1}, "agentplane:telemetry.collector.replicas"),
    ],
)
def test_a_protected_stack_with_a_lone_request_path_replica_is_refused(sections: dict, field: str) -> None:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    raw = {k.split(":", 1)[1]: v for k, v in doc.items()}
    if "provenance_replicas" in sections:
        raw["provenance"] = {**raw["provenance"], "replicas": 1}
    elif "telemetry_replicas" in sections:
        raw["telemetry"] = {**raw["telemetry"], "collector": {**raw["telemetry"]["collector"], "replicas": 1}}
    else:
        for key, value in sections.items():
            merged = dict(raw.get(key, {}))
            for k, v in value.items():
                merged[k] = {**merged.get(k, {}), **v} if isinstance(v, dict) else v
            raw[key] = merged
    with pytest.raises(ConfigError) as caught:
        validate_environment(raw, "stacks/Pulumi.prod.yaml", source="file")
    issues = [(i.file, i.field) for i in caught.value.issues]
    assert issues == [("stacks/Pulumi.prod.yaml", field)]
    assert "at least 2" in str(caught.value)


def test_an_unprotected_stack_may_run_single_replicas() -> None:
    env = _env("dev", gateway={"proxyReplicas": 1, "budget": {"replicas": 1}})
    assert resilience.check_environment(env) == []


# --- durable budgets -------------------------------------------------------------------------


def redis_config(args: list[str]) -> dict[str, str]:
    """Redis command-line `--key value` pairs (redis/redis@7.4.5:src/config.c reads each
    `--name` followed by its argument(s) as a config line); closed-world on what we pass."""
    assert len(args) % 2 == 0 and all(a.startswith("--") for a in args[::2]), args
    config = {k[2:]: v for k, v in zip(args[::2], args[1::2], strict=True)}
    assert len(config) == len(args) // 2, "a setting given twice: the last one wins, silently"
    return config


@pytest.mark.parametrize("stack", STACKS)
def test_the_budget_store_refuses_eviction_and_persists_on_a_volume(stack: str) -> None:
    doc = example_plan(stack)
    (store,) = [s for s in _objects(doc, "StatefulSet") if s["metadata"]["name"] == budget.REDIS]
    assert not [d for d in _objects(doc, "Deployment") if d["metadata"]["name"] == budget.REDIS]
    pod = store["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config = redis_config(container["args"])
    # Every counter carries a TTL (EXPIRE after INCRBY, envoyproxy/ratelimit@1e50889b:
    # src/redis/fixed_cache_impl.go pipelineAppend): any volatile-* or allkeys-* policy evicts them.
    assert config["maxmemory-policy"] == "noeviction"
    assert config["appendonly"] == "yes" and config["appendfsync"] in ("always", "everysec")
    assert int(config["maxmemory"].removesuffix("mb")) > 0
    # The data directory is a mount of the claim template, not an emptyDir.
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == config["dir"]]
    claims = {c["metadata"]["name"] for c in store["spec"]["volumeClaimTemplates"]}
    assert mount["name"] in claims
    assert mount["name"] not in {v["name"] for v in pod.get("volumes", [])}
    assert store["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert validate_objects([store]) == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_budget_store_volume_holds_its_append_only_files_through_a_rewrite(stack: str) -> None:
    # redis/redis@7.4.1:redis.conf: base (<= the data set) + incremental file (grows to the
    # base's size, at least 64mb) + the new base a rewrite writes beside them.
    (store,) = [s for s in _objects(example_plan(stack), "StatefulSet") if s["metadata"]["name"] == budget.REDIS]
    (container,) = store["spec"]["template"]["spec"]["containers"]
    max_memory = int(redis_config(container["args"])["maxmemory"].removesuffix("mb")) * 2**20
    (claim,) = store["spec"]["volumeClaimTemplates"]
    assert parse_quantity(claim["spec"]["resources"]["requests"]["storage"]) >= 3 * max_memory + 64 * 2**20


def test_a_budget_store_volume_too_small_for_its_memory_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        _env(
            "dev",
            gateway={
                **stack_document("dev")["config"]["agentplane:gateway"],
                "budget": {
                    **stack_document("dev")["config"]["agentplane:gateway"]["budget"],
                    "store": {"storageSize": "1Gi", "maxMemoryMib": 1024},
                },
            },
        )
    assert [(i.file, i.field) for i in caught.value.issues] == [
        ("stacks/Pulumi.dev.yaml", "agentplane:gateway.budget.store")
    ]
    assert "needs at least 3136Mi" in str(caught.value)
    _env(
        "dev",
        gateway={
            **stack_document("dev")["config"]["agentplane:gateway"],
            "budget": {
                **stack_document("dev")["config"]["agentplane:gateway"]["budget"],
                "store": {"storageSize": "3136Mi", "maxMemoryMib": 1024},
            },
        },
    )


@pytest.mark.parametrize("stack", STACKS)
def test_budget_failure_mode_is_stated_in_every_stack_and_closed_where_protected(stack: str) -> None:
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    mode = config["agentplane:gateway"]["budget"]["failureMode"]
    policies = [p for p in _objects(example_plan(stack), "AgentgatewayPolicy") if "rateLimit" in str(p["spec"])]
    assert policies
    for policy in policies:
        global_limit = policy["spec"]["traffic"]["rateLimit"]["global"]
        assert global_limit["failureMode"] == mode
    if config["agentplane:protect"]:
        assert mode == "FailClosed"


def test_budget_service_exports_the_redis_error_counter() -> None:
    deployment = budget.ratelimit_deployment(_spec("prod"))
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    # envoyproxy/ratelimit@1e50889b:src/service_cmd/runner/runner.go: one sink only.
    assert (
        env["USE_PROMETHEUS"] == "true"
        and env["USE_STATSD"] == "false"
        and env.get("USE_DOG_STATSD", "false") == "false"
    )
    ports = {p["name"]: p["containerPort"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert env["PROMETHEUS_ADDR"] == f":{ports['metrics']}"


def _spec(stack: str):
    from agentplane.config.load import load_from_files

    return load_from_files(stack, root=ROOT)


# --- Keycloak database backups ---------------------------------------------------------------


def test_a_protected_stack_without_backups_is_refused_with_file_and_field() -> None:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    raw = {k.split(":", 1)[1]: v for k, v in doc.items()}
    raw["identity"] = {**raw["identity"], "database": {"storageSize": "20Gi"}}
    with pytest.raises(ConfigError) as caught:
        validate_environment(raw, "stacks/Pulumi.prod.yaml", source="file")
    assert [(i.file, i.field) for i in caught.value.issues] == [
        ("stacks/Pulumi.prod.yaml", "agentplane:identity.database.backup")
    ]
    assert "enabled: false" in str(caught.value)


def test_a_protected_stack_may_state_that_backups_are_off() -> None:
    env = _env(
        "prod",
        identity={
            **stack_document("prod")["config"]["agentplane:identity"],
            "database": {"backup": {"enabled": False}},
        },
    )
    assert env.identity.database.backup is not None and not env.identity.database.backup.enabled


@pytest.mark.parametrize(
    ("backup", "message"),
    [
        ({"enabled": True}, "destinationPath is required"),
        ({"enabled": True, "destinationPath": "https://bucket/x"}, "not an S3 destination"),
        ({"enabled": True, "destinationPath": "s3://bucket/x", "retention": "30"}, "not a retention period"),
        ({"enabled": True, "destinationPath": "s3://bucket/x", "schedule": "0 3 * * *"}, "six-field cron"),
        (
            {
                "enabled": True,
                "destinationPath": "s3://bucket/x",
                "s3": {"accessKeyId": "AKIAPLAINTEXT", "secretAccessKey": "s3cr3t"},
            },
            "plain text",
        ),
        (
            {"enabled": True, "destinationPath": "s3://bucket/x", "endpointUrl": "https://user:pw@minio.example.com"},
            "carries credentials",
        ),
        ({"enabled": False, "destinationPath": "s3://bucket/x"}, "states that there are no backups"),
    ],
)
def test_bad_backup_settings_are_refused_without_echoing_secrets(backup: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _env("dev", identity={"publicUrl": "http://keycloak.localtest.me:8080", "database": {"backup": backup}})
    text = str(caught.value)
    assert message in text and "stacks/Pulumi.dev.yaml" in text
    assert "s3cr3t" not in text and "AKIAPLAINTEXT" not in text and "user:pw" not in text


def test_prod_backs_up_keycloak_with_secret_credentials_and_retention() -> None:
    doc = example_plan("prod")
    (cluster,) = _objects(doc, "Cluster")
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://") and cluster["spec"]["backup"]["retentionPolicy"] == "30d"
    # Keys come from a Secret (never inline); the offline plan has no keys, so no Secret is faked
    # and `pulumi up` is refused until they are set (a warning here).
    for key in ("accessKeyId", "secretAccessKey"):
        assert store["s3Credentials"][key]["name"] == idb.BACKUP_CREDENTIALS_SECRET
    assert not [s for s in _objects(doc, "Secret") if s["metadata"]["name"] == idb.BACKUP_CREDENTIALS_SECRET]
    assert any("database.backup.s3.accessKeyId" in w for w in _spec("prod").warnings)
    (scheduled,) = _objects(doc, "ScheduledBackup")
    assert scheduled["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert scheduled["spec"]["method"] == "barmanObjectStore" and scheduled["spec"]["immediate"] is True
    assert validate_objects([cluster, scheduled]) == []


def test_backup_credentials_secret_holds_pulumi_secrets_only() -> None:
    from agentplane.config.sections.resilience import DatabaseBackup

    backup = DatabaseBackup.model_validate(
        {"enabled": True, "destinationPath": "s3://backups/keycloak", "s3": {"region": "eu-west-1"}}
    )
    secret = idb.backup_credentials(backup, "<secret id>", "<secret key>")
    assert secret is not None and secret["stringData"] == {
        "ACCESS_KEY_ID": "<secret id>",
        "ACCESS_SECRET_KEY": "<secret key>",
        "REGION": "eu-west-1",
    }
    iam = DatabaseBackup.model_validate(
        {"enabled": True, "destinationPath": "s3://backups/keycloak", "s3": {"inheritFromIamRole": True}}
    )
    assert idb.backup_credentials(iam, None, None) is None
    assert idb.cluster_backup(iam)["barmanObjectStore"]["s3Credentials"] == {"inheritFromIAMRole": True}


def test_gateway_proxy_parameters_carry_a_pdb_and_anti_affinity() -> None:
    params = gw.proxy_parameters(_spec("prod"))
    assert params["spec"]["podDisruptionBudget"] == {"spec": {"maxUnavailable": 1}}
    assert validate_objects([params]) == []
