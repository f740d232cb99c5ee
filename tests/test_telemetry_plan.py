"""Telemetry in the offline plan: schemas, dependencies, protection, per-team grouping, onboarding."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from agentplane import namespaces
from agentplane.builders import telemetry as build
from agentplane.engine import REDACTED
from agentplane.plan import dump_yaml, plan_document, run_program
from tests.support.plans import ROOT, STACKS, by_urn, example_plan, plan_with_teams, resources_of
from tests.support.upstream import validate_chart_values, validate_objects

RELEASE = "kubernetes:helm.sh/v3:Release"
INSTRUMENTATION = "kubernetes:opentelemetry.io/v1alpha1:Instrumentation"
COLLECTOR = "kubernetes:opentelemetry.io/v1beta1:OpenTelemetryCollector"
TEAM_COMPONENT = "agentplane:telemetry:TeamTelemetry"

NEW_TEAM = """\
name: tracing-lab
owners: [tracing-lab-admins]
environments:
  dev: {tier: standard}
agents:
  - name: probe
    instrumentation: false
"""


def telemetry_resources(doc: dict) -> list[dict]:
    return resources_of(doc, component="telemetry")


def one(resources: list[dict], type_: str) -> dict:
    (found,) = [r for r in resources if r["type"] == type_]
    return found


def collector_config(doc: dict) -> dict:
    return one(telemetry_resources(doc), COLLECTOR)["inputs"]["spec"]["config"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_telemetry_object_matches_its_pinned_schema(stack: str) -> None:
    resources = telemetry_resources(example_plan(stack))
    objects = [r["inputs"] for r in resources if "kind" in r["inputs"] and r["type"] != RELEASE]
    kinds = {o["kind"] for o in objects}
    assert {
        "Namespace",
        "OpenTelemetryCollector",
        "Instrumentation",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "NetworkPolicy",
    } <= kinds
    assert validate_objects(objects) == []
    release = one(resources, RELEASE)["inputs"]
    assert validate_chart_values(release["chart"], release["version"], release["values"]) == []


@pytest.mark.parametrize("stack", STACKS)
def test_operator_release_is_pinned_brings_its_own_webhook_ca_and_is_protected_where_data_is(stack: str) -> None:
    doc = example_plan(stack)
    release = one(telemetry_resources(doc), RELEASE)
    assert (release["inputs"]["chart"], release["inputs"]["version"]) == ("opentelemetry-operator", "0.122.0")
    assert release["inputs"]["namespace"] == build.NAMESPACE
    urns = by_urn(doc)
    assert {urns[u]["inputs"].get("kind") for u in release["dependsOn"]} == {"Namespace"}
    # The webhook CA is Helm's own, rendered with the release: no cainjector to wait for.
    webhooks = release["inputs"]["values"]["admissionWebhooks"]
    assert webhooks["certManager"] == {"enabled": False} and webhooks["autoGenerateCert"]["enabled"] is True
    protected = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]["agentplane:protect"]
    assert (release["protect"], release["retainOnDelete"]) == (protected, protected)


@pytest.mark.parametrize("stack", STACKS)
def test_collector_waits_for_the_operator_and_its_permissions(stack: str) -> None:
    doc = example_plan(stack)
    resources = telemetry_resources(doc)
    collector = one(resources, COLLECTOR)
    release = one(resources, RELEASE)
    urns = by_urn(doc)
    assert release["urn"] in collector["dependsOn"]
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= {
        urns[u]["inputs"].get("kind") for u in collector["dependsOn"]
    }
    spec = collector["inputs"]["spec"]
    assert spec["mode"] == "statefulset"  # each replica keeps its queue volume
    assert collector["inputs"]["metadata"]["namespace"] == build.NAMESPACE
    env = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"].get(
        "agentplane:telemetry", {}
    )
    assert spec["replicas"] == env.get("collector", {}).get("replicas", 2)
    # The config stays a mapping, so the plan shows it as YAML rather than an opaque string.
    assert isinstance(spec["config"], dict)
    assert "routing/traces:" in dump_yaml(collector["inputs"])


@pytest.mark.parametrize("stack", STACKS)
def test_each_team_gets_an_instrumentation_in_its_own_component(stack: str) -> None:
    doc = example_plan(stack)
    urns = by_urn(doc)
    release = one(telemetry_resources(doc), RELEASE)
    assert set(doc["teams"]), "the example stacks have teams"
    for team, info in doc["teams"].items():
        (component,) = [r for r in resources_of(doc, component="telemetry", team=team) if r["type"] == TEAM_COMPONENT]
        assert component["inputs"] == {"team": team}
        instrumentation = one(resources_of(doc, component="telemetry", team=team), INSTRUMENTATION)
        assert instrumentation["parent"] == component["urn"]
        assert instrumentation["inputs"]["metadata"]["namespace"] == info["namespace"]
        namespaces = [urns[u] for u in instrumentation["dependsOn"] if urns[u]["inputs"].get("kind") == "Namespace"]
        assert [n["inputs"]["metadata"]["name"] for n in namespaces] == [info["namespace"]]
        assert namespaces[0]["component"] == "tenants"
        assert release["urn"] in instrumentation["dependsOn"]


def test_onboarding_a_team_changes_only_its_own_objects_and_the_collector_config() -> None:
    before = example_plan("dev")
    after = plan_with_teams("dev", add={"tracing-lab.yaml": NEW_TEAM})
    old, new = by_urn(before), by_urn(after)
    assert set(old) <= set(new), "onboarding removed resources"
    added = [new[u] for u in set(new) - set(old)]
    assert added and all(r["team"] == "tracing-lab" for r in added)
    assert any(r["type"] == INSTRUMENTATION for r in added)
    changed = sorted(
        new[u]["type"] for u in old if new[u]["component"] == "telemetry" and new[u]["inputs"] != old[u]["inputs"]
    )
    assert changed == [COLLECTOR]
    # No other team's resource changed in any way, in any component.
    for urn, resource in old.items():
        if resource["team"] is not None:
            assert new[urn] == resource, urn
    # The collector config only gained the new team's exporter, route and pipelines.
    before_config, after_config = collector_config(before), collector_config(after)
    for signal in build.SIGNALS:
        router_before = before_config["connectors"][f"routing/{signal}"]
        router_after = after_config["connectors"][f"routing/{signal}"]
        assert all(route in router_after["table"] for route in router_before["table"])
        (new_route,) = [r for r in router_after["table"] if r not in router_before["table"]]
        assert new_route["pipelines"] == [build.tenant_pipeline(signal, "tracing-lab")]
    assert set(after_config["exporters"]) - set(before_config["exporters"]) == {"debug/tenant-tracing-lab"}
    for name, settings in before_config["exporters"].items():
        assert after_config["exporters"][name] == settings
    for name, pipeline in before_config["service"]["pipelines"].items():
        assert after_config["service"]["pipelines"][name] == pipeline


def test_offboarding_removes_the_team_route_and_instrumentation() -> None:
    after = plan_with_teams("dev", remove=("research.yaml",))
    assert not resources_of(after, component="telemetry", team="research")
    config = collector_config(after)
    assert not [p for p in config["service"]["pipelines"] if p.endswith("/tenant-research")]
    assert all(
        "research" not in r["condition"] for s in build.SIGNALS for r in config["connectors"][f"routing/{s}"]["table"]
    )


def test_team_endpoint_in_its_file_reaches_the_plan() -> None:
    doc = example_plan("prod")
    config = collector_config(doc)
    support = yaml.safe_load((ROOT / "stacks" / "teams" / "support.yaml").read_text())["telemetry"]
    (exporter,) = config["service"]["pipelines"][build.tenant_pipeline("traces", "support")]["exporters"]
    assert exporter == f"otlp_{support.get('protocol', 'http')}/tenant-support"
    assert config["exporters"][exporter]["endpoint"] == support["endpoint"]


def test_header_secrets_are_registered_redacted_and_mounted(tmp_path: Path) -> None:
    config_path = tmp_path / "Pulumi.dev.yaml"
    stack = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    stack["config"]["agentplane:telemetry"] = {
        "tenantHeaders": {"tracing-lab": {"otlp-token": {"secure": "v1:ciphertext-the-plan-cannot-read"}}},
    }
    config_path.write_text(yaml.safe_dump(stack))
    teams = tmp_path / "teams"
    shutil.copytree(ROOT / "stacks" / "teams", teams)
    (teams / "tracing-lab.yaml").write_text(
        NEW_TEAM
        + "telemetry:\n  endpoint: https://otlp.tracing-lab.example.com\n  headers: {Authorization: otlp-token}\n"
    )
    plan = run_program("dev", config=config_path, teams=teams, root=ROOT)
    doc = plan_document(plan)
    team = resources_of(doc, component="telemetry", team="tracing-lab")
    secret = one(team, "kubernetes:core/v1:Secret")
    assert secret["inputs"]["metadata"]["namespace"] == build.NAMESPACE
    assert secret["inputs"]["stringData"] == {"authorization": REDACTED}
    collector = one(telemetry_resources(doc), COLLECTOR)
    assert secret["urn"] in collector["dependsOn"]
    assert {
        "name": "tenant-tracing-lab-otlp-headers",
        "secret": {"secretName": "tenant-tracing-lab-otlp-headers"},
    } in collector["inputs"]["spec"]["volumes"]
    assert any("tenantHeaders.tracing-lab.otlp-token" in w for w in plan.spec.warnings)
    assert validate_objects([secret["inputs"] | {"stringData": {"authorization": "x"}}, collector["inputs"]]) == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_and_the_collector_share_one_generated_token(stack: str) -> None:
    """The collector's gateway-only port checks the token the gateway's OTLP backend sends: both
    Secrets come from one RandomPassword, each in its own namespace, redacted in the plan."""
    doc = example_plan(stack)
    urns = by_urn(doc)
    secrets = {
        r["inputs"]["metadata"]["name"]: r
        for r in doc["resources"]
        if r["inputs"].get("kind") == "Secret"
        and r["inputs"]["metadata"]["name"] in (build.GATEWAY_TOKEN_SECRET, "agentplane-otlp-token")
    }
    collector_side, gateway_side = secrets[build.GATEWAY_TOKEN_SECRET], secrets["agentplane-otlp-token"]
    assert collector_side["inputs"]["metadata"]["namespace"] == build.NAMESPACE
    assert gateway_side["inputs"]["metadata"]["namespace"] == "agentplane-gateway"
    assert collector_side["inputs"]["stringData"] == {build.GATEWAY_TOKEN_KEY: REDACTED}
    assert gateway_side["inputs"]["stringData"] == {"Authorization": REDACTED}
    sources = [
        {u for u in s["dependsOn"] if urns[u]["type"] == "random:index/randomPassword:RandomPassword"}
        for s in (collector_side, gateway_side)
    ]
    assert sources[0] == sources[1] and len(sources[0]) == 1
    (password,) = sources[0]
    assert urns[password]["inputs"]["length"] >= 32
    collector = one(telemetry_resources(doc), COLLECTOR)
    assert collector_side["urn"] in collector["dependsOn"]
    # The gateway sends its access logs and traces through the backend that carries the token.
    gateway = [r["inputs"] for r in doc["resources"] if r["component"] == "gateway"]
    backend = next(
        o for o in gateway if o.get("kind") == "AgentgatewayBackend" and o["metadata"]["name"] == "agentplane-otlp"
    )
    assert backend["spec"]["policies"]["auth"] == {"secretRef": {"name": "agentplane-otlp-token"}}
    assert backend["spec"]["static"]["port"] == namespaces.TELEMETRY_GATEWAY_PORTS[0]
    frontend = next(
        o for o in gateway if o.get("kind") == "AgentgatewayPolicy" and o["metadata"]["name"] == "agentplane-frontend"
    )["spec"]["frontend"]
    ref = {"group": "agentgateway.dev", "kind": "AgentgatewayBackend", "name": "agentplane-otlp"}
    assert frontend["accessLog"]["otlp"] == {"backendRef": ref, "protocol": "GRPC"}
    assert frontend["tracing"]["backendRef"] == ref
    names = [a["name"] for a in frontend["accessLog"]["attributes"]["add"]]
    assert {build.TENANT_ATTRIBUTE, build.AGENT_ATTRIBUTE, build.CALLER_ATTRIBUTE, build.DECISION_ATTRIBUTE} <= set(
        names
    )
    assert (
        validate_objects(
            [backend, next(o for o in gateway if o.get("metadata", {}).get("name") == "agentplane-frontend")]
        )
        == []
    )
