"""The gateway in the offline plan: schemas, pinning, protection, isolation, budgets, onboarding."""

from __future__ import annotations

import pytest
import yaml

from agentplane import namespaces
from agentplane.builders.gateway import platform as build
from agentplane.builders.gateway import token_budgets as budget
from agentplane.engine import REDACTED
from tests.support.plans import ROOT, STACKS, by_urn, example_plan, plan_with_teams, resources_of
from tests.support.upstream import validate_chart_values, validate_objects

RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
TEAM_COMPONENT = "agentplane:gateway:TeamGateway"

NEW_TEAM = """\
name: acme
owners: [acme-admins]
environments:
  dev: {tier: standard}
agents:
  - name: helper
    promote: {dev: standard}
    dailyTokenBudget: 1000
models: [gpt-4o-mini]
egress: ["*.stripe.com"]
mcpServers:
  - {name: search, service: search-mcp, port: 8000}
"""


def gateway_resources(doc: dict) -> list[dict]:
    return resources_of(doc, component="gateway")


def objects(resources: list[dict]) -> list[dict]:
    return [
        r["inputs"]
        for r in resources
        if r["type"].startswith("kubernetes:") and "kind" in r["inputs"] and r["type"] != RELEASE
    ]


def one(resources: list[dict], type_: str, name: str | None = None) -> dict:
    (found,) = [r for r in resources if r["type"] == type_ and (name is None or r["name"] == name)]
    return found


def protected(stack: str) -> bool:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]["agentplane:protect"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_gateway_object_matches_its_pinned_schema(stack: str) -> None:
    resources = gateway_resources(example_plan(stack))
    found = objects(resources)
    kinds = {o["kind"] for o in found}
    assert {
        "Namespace",
        "GatewayClass",
        "Gateway",
        "Certificate",
        "AgentgatewayParameters",
        "AgentgatewayBackend",
        "AgentgatewayPolicy",
        "HTTPRoute",
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
    } <= kinds
    assert validate_objects(found) == []
    release = one(resources, RELEASE, "gateway-agentgateway")["inputs"]
    assert (
        validate_chart_values(
            "agentgateway", release["version"], release["values"], free_form=build.CHART_FREE_FORM["agentgateway"]
        )
        == []
    )


@pytest.mark.parametrize("stack", STACKS)
def test_charts_and_gateway_api_crds_are_pinned_and_crds_protected_where_data_is(stack: str) -> None:
    resources = gateway_resources(example_plan(stack))
    crds = one(resources, RELEASE, "gateway-agentgateway-crds")
    controller = one(resources, RELEASE, "gateway-agentgateway")
    gateway_api = one(resources, CONFIG_FILE)
    assert (crds["inputs"]["chart"], crds["inputs"]["version"]) == (
        "oci://cr.agentgateway.dev/charts/agentgateway-crds",
        "v1.4.1",
    )
    assert (controller["inputs"]["chart"], controller["inputs"]["version"]) == (
        "oci://cr.agentgateway.dev/charts/agentgateway",
        "v1.4.1",
    )
    assert (
        gateway_api["inputs"]["file"]
        == "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml"
    )
    for release in (crds, controller):
        assert release["inputs"]["namespace"] == namespaces.GATEWAY
    keep = protected(stack)
    assert (crds["protect"], crds["retainOnDelete"], gateway_api["protect"]) == (keep, keep, keep)
    # The controller starts only once both CRD sets exist.
    assert {crds["urn"], gateway_api["urn"]} <= set(controller["dependsOn"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_terminates_tls_from_the_platform_ca_and_admits_only_its_own_routes(stack: str) -> None:
    doc = example_plan(stack)
    resources = gateway_resources(doc)
    gw = one(resources, "kubernetes:gateway.networking.k8s.io/v1:Gateway")["inputs"]
    https = next(listener for listener in gw["spec"]["listeners"] if listener["name"] == "https")
    assert https["hostname"] == yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"].get(
        "agentplane:gateway", {}
    ).get("hostname", "gateway.localtest.me")
    assert https["tls"]["certificateRefs"][0]["name"] == build.TLS_SECRET
    # Tenants cannot attach routes of their own to the platform Gateway.
    assert {listener["allowedRoutes"]["namespaces"]["from"] for listener in gw["spec"]["listeners"]} == {"Same"}
    # Ports the tenant NetworkPolicies allow (listener port, or the proxy's +8000 container port).
    for listener in gw["spec"]["listeners"]:
        assert listener["port"] in namespaces.GATEWAY_PORTS and listener["port"] + 8000 in namespaces.GATEWAY_PORTS
    cert = one(resources, "kubernetes:cert-manager.io/v1:Certificate")
    assert cert["inputs"]["spec"]["issuerRef"] == {
        "group": "cert-manager.io",
        "kind": "ClusterIssuer",
        "name": "platform-ca",
    }
    assert cert["inputs"]["spec"]["secretName"] == build.TLS_SECRET
    urns = by_urn(doc)
    issuers = [urns[u] for u in cert["dependsOn"] if urns[u]["inputs"].get("kind") == "ClusterIssuer"]
    assert [i["inputs"]["metadata"]["name"] for i in issuers] == ["platform-ca"]


@pytest.mark.parametrize("stack", STACKS)
def test_each_teams_gateway_objects_are_grouped_under_its_team_and_live_where_tenants_cannot_edit_them(
    stack: str,
) -> None:
    doc = example_plan(stack)
    resources = gateway_resources(doc)
    components = [r for r in resources if r["type"] == TEAM_COMPONENT]
    assert sorted(c["inputs"]["team"] for c in components) == sorted(doc["teams"])
    urns = by_urn(doc)
    for team in doc["teams"]:
        owned = [r for r in resources if r["team"] == team and r["type"].startswith("kubernetes:")]
        assert owned, team
        for r in owned:
            meta = r["inputs"]["metadata"]
            assert meta["namespace"] == namespaces.GATEWAY
            assert meta["labels"]["agentplane.io/tenant"] == team
            assert meta["name"].startswith(f"{team}-")
            # Offboarding deletes a team's routes before its namespace.
            deps = {
                (urns[u]["inputs"].get("kind"), urns[u]["inputs"].get("metadata", {}).get("name"))
                for u in r["dependsOn"]
            }
            assert ("Namespace", team) in deps and ("Gateway", build.GATEWAY_NAME) in deps
    # No gateway object (provider keys included) is ever put in a team namespace.
    assert {r["inputs"]["metadata"].get("namespace") for r in resources if "metadata" in r["inputs"]} <= {
        namespaces.GATEWAY,
        None,
    }


@pytest.mark.parametrize("stack", STACKS)
def test_no_route_bypasses_authentication_or_authorization(stack: str) -> None:
    # Authorization rules merge across attachment points ("any Allow allows"): each route must
    # have exactly one policy of its own, with strict JWT and an Allow rule, and nothing may be
    # attached at the Gateway that could widen it.
    found = objects(gateway_resources(example_plan(stack)))
    routes = [o["metadata"]["name"] for o in found if o["kind"] == "HTTPRoute"]
    policies = [o for o in found if o["kind"] == "AgentgatewayPolicy"]
    assert routes
    for route in routes:
        (policy,) = [
            p
            for p in policies
            if {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route} in p["spec"]["targetRefs"]
        ]
        traffic = policy["spec"]["traffic"]
        assert traffic["jwtAuthentication"]["mode"] == "Strict", route
        assert (
            traffic["authorization"]["action"] == "Allow" and traffic["authorization"]["policy"]["matchExpressions"]
        ), route
    gateway_level = [p for p in policies if any(t["kind"] == "Gateway" for t in p["spec"]["targetRefs"])]
    assert [sorted(p["spec"]) for p in gateway_level] == [["frontend", "targetRefs"]]


def test_provider_keys_become_a_secret_in_the_gateway_namespace_only(tmp_path) -> None:
    import shutil

    from agentplane.plan import plan_document, run_program

    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    path = tmp_path / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["agentplane:gateway"]["providerKeys"] = {"openai": {"secure": "v1:ciphertext"}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    plan = plan_document(run_program("dev", root=tmp_path))
    # (The collector's OTLP token, agentplane-otlp-token, is checked in test_telemetry_plan.)
    secrets = [
        r
        for r in plan["resources"]
        if r["inputs"].get("kind") == "Secret"
        and r["component"] == "gateway"
        and r["inputs"]["metadata"]["name"] != "agentplane-otlp-token"
    ]
    assert [(s["inputs"]["metadata"]["namespace"], s["inputs"]["metadata"]["name"]) for s in secrets] == [
        (namespaces.GATEWAY, "provider-openai")
    ]
    assert secrets[0]["inputs"]["stringData"] == {"Authorization": REDACTED}
    # No key configured for anthropic: nothing stands in for it, and the model backend names the Secret it needs.
    backend = next(
        r
        for r in plan["resources"]
        if r["inputs"].get("kind") == "AgentgatewayBackend"
        and r["inputs"]["metadata"]["name"] == "model-claude-sonnet-4-5"
    )
    assert backend["inputs"]["spec"]["policies"]["auth"]["secretRef"]["name"] == "provider-anthropic"


@pytest.mark.parametrize("stack", STACKS)
def test_every_model_is_a_platform_backend_with_its_model_fixed(stack: str) -> None:
    doc = example_plan(stack)
    backends = {
        o["metadata"]["name"]: o["spec"] for o in objects(gateway_resources(doc)) if o["kind"] == "AgentgatewayBackend"
    }
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    for model in config["agentplane:models"]:
        spec = backends[build.model_backend_name(model["name"])]
        assert spec["ai"]["provider"] == {model["provider"]: {"model": model["name"]}}
        assert spec["policies"]["auth"]["secretRef"]["name"] == f"provider-{model['provider']}"


# --- the budget service --------------------------------------------------------------------


def _restricted(pod: dict) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}
        assert "@sha256:" in container["image"], container["image"]


@pytest.mark.parametrize("stack", STACKS)
def test_budget_service_pods_meet_restricted_pod_security_with_digest_pinned_images(stack: str) -> None:
    workloads = [
        o for o in objects(gateway_resources(example_plan(stack))) if o["kind"] in ("Deployment", "StatefulSet")
    ]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in workloads) == [
        ("Deployment", budget.SERVICE),
        ("StatefulSet", budget.REDIS),
    ]
    for workload in workloads:
        _restricted(workload["spec"]["template"]["spec"])


@pytest.mark.parametrize("stack", STACKS)
def test_budget_config_gives_every_team_and_agent_its_daily_budget(stack: str) -> None:
    doc = example_plan(stack)
    (config_map,) = [
        o
        for o in objects(gateway_resources(doc))
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] != "agentplane-ca-bundle"
    ]
    files = {key: yaml.safe_load(text) for key, text in config_map["data"].items()}
    assert sorted(files) == sorted(f"{team}.yaml" for team in doc["teams"])
    teams = {}
    for path in (ROOT / "stacks" / "teams").glob("*.yaml"):
        team = yaml.safe_load(path.read_text())
        if stack in team["environments"]:
            teams[team["name"]] = team
    env = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    tier_budget = {t["name"]: t["dailyTokenBudget"] for t in env["agentplane:tiers"]}
    domains = set()
    for name, team in teams.items():
        config = files[f"{name}.yaml"]
        domains.add(config["domain"])
        (node,) = config["descriptors"]
        expected = team.get("dailyTokenBudget", tier_budget[team["environments"][stack]["tier"]])
        assert (node["key"], node["value"], node["rate_limit"]) == (
            "team",
            name,
            {"unit": "day", "requests_per_unit": expected},
        )
        agents = {a["name"]: a["dailyTokenBudget"] for a in team.get("agents", []) if "dailyTokenBudget" in a}
        assert {d["value"]: d["rate_limit"] for d in node.get("descriptors", [])} == {
            agent: {"unit": "day", "requests_per_unit": tokens} for agent, tokens in agents.items()
        }
    assert len(domains) == len(teams)  # one domain (one file) per team


def test_the_budget_policy_and_the_budget_service_agree_on_domain_and_descriptors() -> None:
    doc = example_plan("dev")
    resources = gateway_resources(doc)
    (config_map,) = [o for o in objects(resources) if o["kind"] == "ConfigMap"]
    config = yaml.safe_load(config_map["data"]["payments.yaml"])
    policies = [
        o
        for o in objects(resources)
        if o["kind"] == "AgentgatewayPolicy" and "rateLimit" in o["spec"].get("traffic", {})
    ]
    payments = [p for p in policies if p["metadata"]["labels"]["agentplane.io/tenant"] == "payments"]
    assert payments  # every model route of the team is budgeted
    for policy in payments:
        limit = policy["spec"]["traffic"]["rateLimit"]["global"]
        assert limit["domain"] == config["domain"]
        assert limit["backendRef"]["name"] == budget.SERVICE and limit["backendRef"]["port"] == budget.GRPC_PORT
        assert [[e["name"] for e in d["entries"]] for d in limit["descriptors"]] == [["team"], ["team", "agent"]]
        assert {d["unit"] for d in limit["descriptors"]} == {"Tokens"}


# --- onboarding ----------------------------------------------------------------------------


def _gateway_inputs(doc: dict) -> dict[str, dict]:
    return {r["urn"]: r for r in gateway_resources(doc)}


def test_onboarding_a_team_adds_only_its_gateway_objects_and_one_shared_config_map() -> None:
    before = _gateway_inputs(example_plan("dev"))
    after = _gateway_inputs(plan_with_teams("dev", add={"acme.yaml": NEW_TEAM}))
    added = [after[u] for u in after.keys() - before.keys()]
    assert before.keys() - after.keys() == set()
    assert {r["team"] for r in added} == {"acme"}
    assert {r["inputs"].get("kind") for r in added if "kind" in r["inputs"]} == {
        "HTTPRoute",
        "AgentgatewayPolicy",
        "AgentgatewayBackend",
    }
    changed = [u for u in before.keys() & after.keys() if before[u]["inputs"] != after[u]["inputs"]]
    # The budget service's configuration gains the team's file; nothing else shared changes
    # (the service reloads it in place, so its Deployment stays as it is).
    assert [after[u]["inputs"]["metadata"]["name"] for u in changed] == [budget.CONFIG_MAP]
    assert set(after[changed[0]]["inputs"]["data"]) - set(before[changed[0]]["inputs"]["data"]) == {"acme.yaml"}


def test_removing_a_team_removes_exactly_its_gateway_objects() -> None:
    before = _gateway_inputs(example_plan("dev"))
    after = _gateway_inputs(plan_with_teams("dev", remove=("research.yaml",)))
    removed = [before[u] for u in before.keys() - after.keys()]
    assert removed and {r["team"] for r in removed} == {"research"}
    assert after.keys() - before.keys() == set()
