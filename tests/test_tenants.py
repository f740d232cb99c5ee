"""Tenants: the builder's objects, and what the program registers for them under the mock engine."""

from __future__ import annotations

import dataclasses

import pytest

from agentplane import namespaces
from agentplane.builders import telemetry
from agentplane.builders import tenants as build
from agentplane.config.load import load_from_files
from agentplane.config.sections.telemetry import TeamTelemetryConfig
from agentplane.manifest import LABEL_PLATFORM_OWNED, LABEL_TENANT, LABEL_TIER
from agentplane.quantity import parse_quantity
from tests.support.plans import (
    BACKEND_PORT,
    BACKEND_TEAM,
    BACKEND_TEAM_FILE,
    ROOT,
    STACKS,
    example_plan,
    kubernetes_objects,
    plan_with_backend_team,
    plan_with_teams,
    resources_of,
)


@pytest.fixture(scope="module")
def dev_spec():
    return load_from_files("dev", root=ROOT)


def _objects(spec, team_name: str) -> dict[tuple[str, str], dict]:
    team = spec.team(team_name)
    return {(o["kind"], o["metadata"]["name"]): o for o in build.tenant_objects(team, spec)}


def test_namespace_carries_tenant_tier_and_restricted_pod_security(dev_spec) -> None:
    ns = _objects(dev_spec, "payments")[("Namespace", "payments")]
    labels = ns["metadata"]["labels"]
    assert labels[LABEL_TENANT] == "payments" and labels[LABEL_TIER] == "standard"
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    # Python agents are instrumented by the namespace's own `agentplane` Instrumentation.
    assert ns["metadata"]["annotations"] == {"instrumentation.opentelemetry.io/inject-python": "agentplane"}


def test_quota_uses_team_override_else_tier_ceiling() -> None:
    prod = load_from_files("prod", root=ROOT)
    payments_quota = _objects(prod, "payments")[("ResourceQuota", "tenant-quota")]["spec"]["hard"]
    assert payments_quota["requests.cpu"] == "16" and payments_quota["pods"] == "100"  # team override
    support_quota = _objects(prod, "support")[("ResourceQuota", "tenant-quota")]["spec"]["hard"]
    standard = prod.env.tier("standard")
    assert support_quota["limits.memory"] == standard.quota.memory  # tier ceiling


def test_limit_range_defaults_fit_inside_small_quotas() -> None:
    staging = load_from_files("staging", root=ROOT)
    research = staging.team("research")  # quota cpu "1", memory 2Gi
    limits = _objects(staging, "research")[("LimitRange", "tenant-defaults")]["spec"]["limits"][0]
    assert parse_quantity(limits["default"]["cpu"]) <= parse_quantity(research.quota.cpu)
    assert parse_quantity(limits["defaultRequest"]["cpu"]) <= parse_quantity(limits["default"]["cpu"])


def test_limit_range_default_is_capped_by_a_tiny_quota(dev_spec) -> None:
    from dataclasses import replace

    from agentplane.config.base import Quota

    team = replace(dev_spec.team("research"), quota=Quota(cpu="200m", memory="256Mi", pods="2"))
    limits = build.limit_range(team, dev_spec)["spec"]["limits"][0]
    assert limits["default"] == {"cpu": "200m", "memory": "256Mi"}
    assert limits["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}


def test_network_policies_default_deny_and_only_platform_allows(dev_spec) -> None:
    objs = _objects(dev_spec, "research")
    deny = objs[("NetworkPolicy", "default-deny")]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    platform = objs[("NetworkPolicy", "allow-platform")]["spec"]
    reached = {
        peer["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in platform["egress"]
    }
    assert reached == {namespaces.GATEWAY, namespaces.TELEMETRY, namespaces.IDENTITY}
    # No policy opens egress to arbitrary addresses: external traffic must go through the gateway.
    for (kind, _), obj in objs.items():
        if kind == "NetworkPolicy":
            for rule in obj["spec"].get("egress", []):
                assert rule.get("to"), f"{obj['metadata']['name']} has an egress rule to anywhere"
                assert not any("ipBlock" in peer for peer in rule["to"])


def test_role_bindings_map_owners_and_members_to_the_tenant_roles(dev_spec) -> None:
    objs = _objects(dev_spec, "support")
    owners = objs[("RoleBinding", "tenant-owners")]
    members = objs[("RoleBinding", "tenant-members")]
    # Groups by their path in tokens (the realm's groups mapper emits full paths): no other team
    # can produce `/support/...`, and none of them is a `system:` or admin group.
    assert owners["roleRef"]["name"] == build.ROLE_OWNER and [s["name"] for s in owners["subjects"]] == [
        "/support/support-admins"
    ]
    assert members["roleRef"]["name"] == build.ROLE_MEMBER
    assert [s["name"] for s in members["subjects"]] == ["/support/support-engineers", "/support/support-leads"]
    assert all(s["kind"] == "Group" for s in owners["subjects"] + members["subjects"])


def test_service_account_per_agent_carries_its_effective_tier(dev_spec) -> None:
    objs = _objects(dev_spec, "payments")
    assert objs[("ServiceAccount", "invoice-triage")]["metadata"]["labels"][LABEL_TIER] == "standard"  # promoted in dev
    assert objs[("ServiceAccount", "refund-drafter")]["metadata"]["labels"][LABEL_TIER] == "restricted"  # not promoted


def test_promotion_is_per_environment() -> None:
    tiers = {stack: example_plan(stack)["teams"]["support"]["agents"] for stack in ("dev", "staging")}
    assert tiers["dev"] == {"ticket-router": "restricted", "kb-answerer": "standard"}
    assert tiers["staging"] == {"ticket-router": "standard", "kb-answerer": "restricted"}


def test_teams_only_get_the_environments_they_list() -> None:
    assert "research" in example_plan("dev")["teams"]
    assert "research" not in example_plan("prod")["teams"]
    assert not [r for r in example_plan("prod")["resources"] if r["team"] == "research"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_tenant_namespace_has_the_invariants(stack: str) -> None:
    """PSA restricted, a quota, a limit range and default-deny, for every team of every stack."""
    doc = example_plan(stack)
    for team, info in doc["teams"].items():
        objs = [r["inputs"] for r in resources_of(doc, component="tenants", team=team) if "kind" in r["inputs"]]
        kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
        ns = next(o for o in objs if o["kind"] == "Namespace")
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted", team
        assert ("ResourceQuota", "tenant-quota") in kinds, team
        assert ("LimitRange", "tenant-defaults") in kinds, team
        deny = next(o for o in objs if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "default-deny")
        assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}, team
        assert all(
            o["metadata"].get("namespace", info["namespace"]) == info["namespace"]
            for o in objs
            if o["kind"] != "Namespace"
        ), team


def test_namespaced_objects_depend_on_their_namespace() -> None:
    doc = example_plan("dev")
    for team in doc["teams"]:
        tenant = [r for r in resources_of(doc, component="tenants", team=team) if "kind" in r["inputs"]]
        ns_urn = next(r["urn"] for r in tenant if r["inputs"]["kind"] == "Namespace")
        for r in tenant:
            if r["inputs"]["kind"] != "Namespace":
                assert ns_urn in r["dependsOn"], r["urn"]


@pytest.mark.parametrize("stack,protected", [("dev", False), ("staging", False), ("prod", True)])
def test_namespaces_are_protected_only_in_protected_environments(stack: str, protected: bool) -> None:
    namespaces_seen = 0
    for r in resources_of(example_plan(stack), component="tenants"):
        if r["inputs"].get("kind") == "Namespace":
            namespaces_seen += 1
            assert r["protect"] is protected and r["retainOnDelete"] is protected, r["urn"]
        elif "kind" in r["inputs"]:
            assert r["protect"] is False  # deleted with the namespace; protecting them adds nothing
    assert namespaces_seen, "the plan has no tenant namespaces: the test checked nothing"


def test_offboarding_lifts_protection_for_that_team_only() -> None:
    text = (ROOT / "stacks/teams/support.yaml").read_text() + "offboard: true\n"
    doc = plan_with_teams("prod", add={"support.yaml": text})
    teams_seen = set()
    for r in resources_of(doc, component="tenants"):
        if r["inputs"].get("kind") == "Namespace":
            teams_seen.add(r["team"])
            expected = r["team"] != "support"
            assert r["protect"] is expected and r["retainOnDelete"] is expected, r["urn"]
    assert "support" in teams_seen and len(teams_seen) > 1, teams_seen


def test_every_kubernetes_resource_uses_the_explicit_provider() -> None:
    doc = example_plan("dev")
    kube = [
        r
        for r in doc["resources"]
        if r["type"].startswith("kubernetes:") and r["type"] != "pulumi:providers:kubernetes"
    ]
    assert kube
    assert {r["provider"] for r in kube} == {"kubernetes"}
    provider = next(r for r in doc["resources"] if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["context"] == "kind-agentplane"


def test_child_names_are_prefixed_with_their_component() -> None:
    doc = example_plan("dev")
    by_urn = {r["urn"]: r for r in doc["resources"]}
    for r in doc["resources"]:
        parent = by_urn.get(r["parent"])
        if parent is not None:
            assert r["name"].startswith(parent["name"]), (r["name"], parent["name"])


def test_offboarding_is_labelled_on_the_namespace() -> None:
    from agentplane.manifest import LABEL_OFFBOARDING

    text = (ROOT / "stacks/teams/support.yaml").read_text() + "offboard: true\n"
    doc = plan_with_teams("prod", add={"support.yaml": text})
    labels = {
        r["team"]: r["inputs"]["metadata"]["labels"]
        for r in resources_of(doc, component="tenants")
        if r["inputs"].get("kind") == "Namespace"
    }
    assert labels["support"][LABEL_OFFBOARDING] == "true"
    assert LABEL_OFFBOARDING not in labels["payments"]


def test_an_object_declared_twice_is_an_error() -> None:
    """Generated names of two teams can coincide (e.g. team `foo` agent `x-egress` and team `foo-agent-x`);
    the second declaration of the same Kubernetes object must fail, not fight the first in the cluster."""
    import pulumi

    from components import kube

    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": "agentplane-gateway"}}
    kube.start_run()
    kube._claimed[("v1", "ConfigMap", "agentplane-gateway", "shared")] = (
        "gateway-foo-configmap-agentplane-gateway-shared"
    )
    with pytest.raises(
        kube.DuplicateObject,
        match=r"ConfigMap agentplane-gateway/shared would be declared twice, by gateway-foo-.* and by gateway-bar-",
    ):
        kube.register("gateway-bar", obj, pulumi.ResourceOptions())
    kube.start_run()


def _with_endpoint(spec, team_name: str, endpoint: str, protocol: str = "http"):
    team = spec.team(team_name)
    return dataclasses.replace(team, telemetry=TeamTelemetryConfig(endpoint=endpoint, protocol=protocol))


@pytest.mark.parametrize(
    ("endpoint", "protocol", "port"),
    [
        ("http://otel.research.svc:4318", "http", 4318),
        ("http://tempo.research.svc.cluster.local:4317", "grpc", 4317),
        ("https://otel.research.svc.cluster.local/otlp", "http", 443),  # the scheme's default port
        ("http://otel.research.svc", "http", 80),
    ],
)
def test_an_in_namespace_backend_gets_one_ingress_policy_from_the_collector(dev_spec, endpoint, protocol, port):
    team = _with_endpoint(dev_spec, "research", endpoint, protocol)
    policies = [o for o in build.tenant_objects(team, dev_spec) if o["metadata"]["name"] == "allow-telemetry-backend"]
    assert policies == [build.telemetry_backend_policy(team)]
    (policy,) = policies
    assert policy["metadata"]["namespace"] == "research"
    assert policy["metadata"]["labels"][LABEL_TENANT] == "research"
    assert policy["metadata"]["labels"][LABEL_PLATFORM_OWNED] == "true"
    assert policy["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespaces.TELEMETRY}},
                        "podSelector": {"matchLabels": telemetry.COLLECTOR_POD_LABELS},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        ],
    }


@pytest.mark.parametrize("endpoint", [None, "https://otlp.example.com", "https://otlp.example.com:4318/v1"])
def test_a_team_without_an_in_namespace_backend_gets_no_extra_policy(dev_spec, endpoint):
    team = dev_spec.team("research") if endpoint is None else _with_endpoint(dev_spec, "research", endpoint)
    assert build.telemetry_backend_policy(team) is None
    names = {o["metadata"]["name"] for o in build.tenant_objects(team, dev_spec) if o["kind"] == "NetworkPolicy"}
    assert names == {"default-deny", "allow-dns", "allow-platform"}


def test_a_backend_in_another_namespace_is_never_opened(dev_spec):
    """Refused where the team file is checked (tests/hostile/addresses.yaml `endpoint-other-namespace`,
    tests/test_input_grammar.py, tests/test_telemetry.py); the builder refuses it too rather than open
    another team's namespace to the collector."""
    team = _with_endpoint(dev_spec, "research", "http://otel.payments.svc:4318")
    with pytest.raises(ValueError, match="own namespace"):
        build.tenant_objects(team, dev_spec)


def test_an_in_namespace_backend_changes_the_plan_by_its_policy_and_the_exporter_only() -> None:
    """The same team with its backend outside the cluster instead: the plans differ by the team's
    `allow-telemetry-backend` and the collector's exporter endpoint, nothing else."""

    def keyed(doc: dict) -> dict:
        return {
            (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in kubernetes_objects(doc)
        }

    inside = keyed(plan_with_backend_team())
    external = BACKEND_TEAM_FILE.replace(f"http://otel.{BACKEND_TEAM}.svc:{BACKEND_PORT}", "https://otlp.example.com")
    assert external != BACKEND_TEAM_FILE
    outside = keyed(plan_with_teams("dev", add={f"{BACKEND_TEAM}.yaml": external}))
    assert set(inside) - set(outside) == {("NetworkPolicy", BACKEND_TEAM, "allow-telemetry-backend")}
    assert set(outside) <= set(inside)
    changed = {key for key in outside if outside[key] != inside[key]}
    assert changed == {("OpenTelemetryCollector", namespaces.TELEMETRY, telemetry.COLLECTOR_NAME)}
    key = ("OpenTelemetryCollector", namespaces.TELEMETRY, telemetry.COLLECTOR_NAME)
    exporter = telemetry.tenant_exporter_id("otlp_http", BACKEND_TEAM)
    assert (
        inside[key]["spec"]["config"]["exporters"][exporter]["endpoint"]
        == f"http://otel.{BACKEND_TEAM}.svc:{BACKEND_PORT}"
    )
    outside[key]["spec"]["config"]["exporters"][exporter]["endpoint"] = f"http://otel.{BACKEND_TEAM}.svc:{BACKEND_PORT}"
    assert outside[key] == inside[key]
