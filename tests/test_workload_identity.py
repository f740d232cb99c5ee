"""Workload identity: SPIRE releases, the platform's ClusterSPIFFEIDs, and the IDs agents get."""

from __future__ import annotations

import re

import pytest

from agentplane import namespaces, safeyaml
from agentplane.builders import workload_identity as build
from agentplane.config.environment import EnvironmentConfig
from agentplane.config.files import env_config_from_stack_document
from agentplane.config.load import load_from_files, validate_environment
from agentplane.config.sections import workload_identity as spire_section
from agentplane.errors import ConfigError
from agentplane.manifest import LABEL_AGENT, LABEL_TIER
from tests.support.admission_match import selector_matches
from tests.support.plans import ROOT, STACKS, example_plan, plan_with_teams, resources_of
from tests.support.upstream import validate_chart_values, validate_objects

RELEASE = "kubernetes:helm.sh/v3:Release"
SPIRE_VERSION, SPIRE_CRDS_VERSION = "0.30.0", "0.6.0"


def _raw(stack: str) -> dict:
    return env_config_from_stack_document(safeyaml.load_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml"), stack)


def _resources(stack: str) -> list[dict]:
    return resources_of(example_plan(stack), component="workload-identity")


def _release(stack: str, chart: str) -> dict:
    (release,) = [r for r in _resources(stack) if r["type"] == RELEASE and r["inputs"]["chart"] == chart]
    return release


def _namespace(stack: str, name: str) -> dict:
    (ns,) = [
        r
        for r in _resources(stack)
        if r["inputs"].get("kind") == "Namespace" and r["inputs"]["metadata"]["name"] == name
    ]
    return ns


def _cluster_spiffe_ids(stack: str) -> list[dict]:
    return [r for r in _resources(stack) if r["inputs"].get("kind") == "ClusterSPIFFEID"]


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector, evaluated on a label set (closed-world: an unknown key or
    operator fails; tests/support/admission_match.py cites kubernetes/apimachinery)."""
    return selector_matches(selector, labels, "ClusterSPIFFEID selector")


def _render(template: str, fields: dict[str, str]) -> str:
    """Substitute `{{ .Field.Path }}` the way the controller's Go template does for plain fields."""
    rendered = re.sub(r"\{\{\s*\.([A-Za-z.]+)\s*\}\}", lambda m: fields[m.group(1)], template)
    assert "{{" not in rendered, f"unrendered template field in {rendered}"
    return rendered


# --- upstream schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_identity_object_matches_its_upstream_schema(stack: str) -> None:
    objects = [r["inputs"] for r in _resources(stack) if "kind" in r["inputs"]]
    assert {o["kind"] for o in objects} == {"Namespace", "ClusterSPIFFEID"}
    assert validate_objects(objects) == []


@pytest.mark.parametrize("stack", STACKS)
def test_spire_values_match_the_umbrella_chart_and_its_subcharts(stack: str) -> None:
    release = _release(stack, "spire")["inputs"]
    assert release["version"] == SPIRE_VERSION and release["namespace"] == namespaces.SPIRE_SERVER
    assert validate_chart_values("spire", SPIRE_VERSION, release["values"]) == []


def test_the_validator_would_catch_a_misspelt_subchart_key() -> None:
    values = _release("dev", "spire")["inputs"]["values"]
    broken = {**values, "spire-server": {"controllerManager": {"classname": "x"}}}
    assert validate_chart_values("spire", SPIRE_VERSION, broken)


@pytest.mark.parametrize("stack", STACKS)
def test_spire_crds_release_is_pinned_and_takes_no_values(stack: str) -> None:
    crds = _release(stack, "spire-crds")["inputs"]
    assert (crds["version"], crds["values"]) == (SPIRE_CRDS_VERSION, {})


@pytest.mark.parametrize("stack", STACKS)
def test_spire_settings_come_from_the_environment(stack: str) -> None:
    configured = _raw(stack).get("spire") or {}
    values = _release(stack, "spire")["inputs"]["values"]
    spire = values["global"]["spire"]
    assert spire["trustDomain"] == configured.get("trustDomain", "agentplane.local")
    assert spire["clusterName"] == configured.get("clusterName", stack)
    assert values["spiffe-csi-driver"]["enabled"] is True
    controller = values["spire-server"]["controllerManager"]
    assert controller["identities"]["clusterSPIFFEIDs"]["default"]["enabled"] is False
    # Server and node agents land in the platform's namespaces.
    assert spire["recommendations"]["enabled"] is True
    assert spire["namespaces"]["server"]["name"] == namespaces.SPIRE_SERVER
    assert spire["namespaces"]["system"]["name"] == namespaces.SPIRE_SYSTEM
    assert spire["namespaces"]["create"] is False


def test_each_environment_is_its_own_trust_domain() -> None:
    domains = [_release(s, "spire")["inputs"]["values"]["global"]["spire"]["trustDomain"] for s in STACKS]
    assert len(set(domains)) == len(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_pod_security_is_privileged_only_where_the_node_agents_run(stack: str) -> None:
    def enforce(name: str) -> str:
        return _namespace(stack, name)["inputs"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]

    assert enforce(namespaces.SPIRE_SYSTEM) == "privileged"
    assert enforce(namespaces.SPIRE_SERVER) == "restricted"


# --- ClusterSPIFFEIDs ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_one_cluster_spiffe_id_per_tier_with_the_charts_class_name(stack: str) -> None:
    tiers = [t.name for t in load_from_files(stack, root=ROOT).env.tiers]
    ids = [r["inputs"] for r in _cluster_spiffe_ids(stack)]
    by_tier = {o["spec"]["podSelector"]["matchLabels"][LABEL_TIER]: o for o in ids}
    assert sorted(by_tier) == sorted(tiers) and len(ids) == len(tiers)
    class_name = _release(stack, "spire")["inputs"]["values"]["spire-server"]["controllerManager"]["className"]
    for obj in ids:
        assert obj["spec"]["className"] == class_name
        assert obj["spec"]["spiffeIDTemplate"] == (
            "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
        )


@pytest.mark.parametrize("stack", STACKS)
def test_every_agent_pod_matches_exactly_its_tiers_id_and_platform_namespaces_none(stack: str) -> None:
    doc = example_plan(stack)
    ids = [r["inputs"] for r in _cluster_spiffe_ids(stack)]
    tenant_namespaces = {
        r["inputs"]["metadata"]["name"]: r["inputs"]["metadata"]["labels"]
        for r in resources_of(doc, component="tenants")
        if r["inputs"].get("kind") == "Namespace"
    }
    assert tenant_namespaces
    for team in doc["teams"].values():
        ns_labels = tenant_namespaces[team["namespace"]]
        for agent, tier in team["agents"].items():
            pod_labels = {LABEL_AGENT: agent, LABEL_TIER: tier}
            matching = [
                o
                for o in ids
                if _selects(o["spec"]["namespaceSelector"], ns_labels)
                and _selects(o["spec"]["podSelector"], pod_labels)
            ]
            assert [o["spec"]["podSelector"]["matchLabels"][LABEL_TIER] for o in matching] == [tier], (team, agent)
    # Platform namespaces carry no tenant label, so no platform pod gets a tenant identity.
    platform = [
        r["inputs"]["metadata"]["labels"]
        for r in doc["resources"]
        if r["inputs"].get("kind") == "Namespace" and r["inputs"]["metadata"]["name"] in namespaces.PLATFORM_NAMESPACES
    ]
    assert platform
    for labels in platform:
        assert not any(_selects(o["spec"]["namespaceSelector"], labels) for o in ids)
    # A pod without the platform-owned tier label gets no ID either.
    any_tenant = next(iter(tenant_namespaces.values()))
    assert not any(
        _selects(o["spec"]["namespaceSelector"], any_tenant) and _selects(o["spec"]["podSelector"], {}) for o in ids
    )


@pytest.mark.parametrize("stack", STACKS)
def test_an_agent_gets_spiffe_id_ns_namespace_sa_service_account(stack: str) -> None:
    doc = example_plan(stack)
    trust_domain = _release(stack, "spire")["inputs"]["values"]["global"]["spire"]["trustDomain"]
    templates = {
        o["inputs"]["spec"]["podSelector"]["matchLabels"][LABEL_TIER]: o["inputs"]["spec"]["spiffeIDTemplate"]
        for o in _cluster_spiffe_ids(stack)
    }
    service_accounts = [
        r["inputs"] for r in resources_of(doc, component="tenants") if r["inputs"].get("kind") == "ServiceAccount"
    ]
    assert service_accounts
    for sa in service_accounts:
        namespace, name = sa["metadata"]["namespace"], sa["metadata"]["name"]
        tier = sa["metadata"]["labels"][LABEL_TIER]
        fields = {"TrustDomain": trust_domain, "PodMeta.Namespace": namespace, "PodSpec.ServiceAccountName": name}
        rendered = _render(templates[tier], fields)
        assert rendered == f"spiffe://{trust_domain}/ns/{namespace}/sa/{name}"
        assert rendered == build.spiffe_id(trust_domain, namespace, name)
        # A valid SPIFFE ID: path segments of letters, digits, '.', '-' and '_'.
        assert re.fullmatch(r"spiffe://[a-z0-9._-]+(/[A-Za-z0-9._-]+)+", rendered)


@pytest.mark.parametrize("stack", STACKS)
def test_svid_ttls_per_tier_come_from_config_with_defaults(stack: str) -> None:
    configured = _raw(stack).get("spire") or {}
    overrides = configured.get("tiers") or {}
    for resource in _cluster_spiffe_ids(stack):
        spec = resource["inputs"]["spec"]
        tier = spec["podSelector"]["matchLabels"][LABEL_TIER]
        override = overrides.get(tier) or {}
        assert spec["ttl"] == override.get("x509SvidTtl", configured.get("x509SvidTtl", "1h")), tier
        assert spec["jwtTtl"] == override.get("jwtSvidTtl", configured.get("jwtSvidTtl", "5m")), tier


def test_prod_gives_its_production_tier_a_shorter_x509_ttl() -> None:
    ttls = {
        r["inputs"]["spec"]["podSelector"]["matchLabels"][LABEL_TIER]: r["inputs"]["spec"]["ttl"]
        for r in _cluster_spiffe_ids("prod")
    }
    assert ttls["production"] == "30m" and ttls["standard"] == "1h"


# --- ordering and protection --------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_ordering_crds_then_spire_then_cluster_spiffe_ids(stack: str) -> None:
    crds, spire = _release(stack, "spire-crds"), _release(stack, "spire")
    server, system = _namespace(stack, namespaces.SPIRE_SERVER), _namespace(stack, namespaces.SPIRE_SYSTEM)
    assert server["urn"] in crds["dependsOn"]
    assert {crds["urn"], server["urn"], system["urn"]} <= set(spire["dependsOn"])
    ids = _cluster_spiffe_ids(stack)
    assert ids
    for resource in ids:
        assert {crds["urn"], spire["urn"]} <= set(resource["dependsOn"]), resource["urn"]


@pytest.mark.parametrize(("stack", "protected"), [("dev", False), ("staging", False), ("prod", True)])
def test_crds_server_and_namespaces_are_protected_in_protected_environments(stack: str, protected: bool) -> None:
    kept = [
        _release(stack, "spire-crds"),
        _release(stack, "spire"),
        _namespace(stack, namespaces.SPIRE_SERVER),
        _namespace(stack, namespaces.SPIRE_SYSTEM),
    ]
    for resource in kept:
        assert (resource["protect"], resource["retainOnDelete"]) == (protected, protected), resource["urn"]


# --- onboarding ---------------------------------------------------------------------------

NEW_TEAM = """\
name: newcomers
owners: [newcomers-admins]
environments:
  dev: {tier: standard}
  staging: {tier: standard}
  prod: {tier: production}
agents:
  - name: first-agent
    promote: {dev: standard, staging: standard, prod: production}
  - name: second-agent
"""


def _fingerprint(doc: dict) -> dict[str, tuple]:
    return {
        r["urn"]: (r["inputs"], sorted(r["dependsOn"]), r["protect"], r["retainOnDelete"], r["parent"])
        for r in doc["resources"]
        if r["component"] in ("certificates", "workload-identity")
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_onboarding_or_removing_a_team_changes_no_certificates_or_workload_identity_object(stack: str) -> None:
    before = _fingerprint(example_plan(stack))
    assert len(before) > 10
    onboarded = plan_with_teams(stack, add={"newcomers.yaml": NEW_TEAM})
    assert "newcomers" in onboarded["teams"]  # the change did reach the plan
    assert _fingerprint(onboarded) == before
    # Tiers come from the environment, not from teams: one left unused keeps its ID too.
    removed = plan_with_teams(stack, remove=("support.yaml",))
    assert _fingerprint(removed) == before


# --- configuration errors -----------------------------------------------------------------


def _issues(spire: dict) -> list[tuple[str, str]]:
    raw = {**_raw("dev"), "spire": spire}
    with pytest.raises(ConfigError) as info:
        validate_environment(raw, "stacks/Pulumi.dev.yaml", source="file")
    return [(issue.field, issue.message) for issue in info.value.issues]


@pytest.mark.parametrize(
    "trust_domain",
    [
        "Prod.Example.com",
        "spiffe://prod.example.com",
        "prod example.com",
        "prod/example",
        "",
        "a" * 256,
        "example.org",
        42,
    ],
)
def test_a_bad_trust_domain_is_an_error_naming_the_field(trust_domain) -> None:
    ((field, message),) = _issues({"trustDomain": trust_domain})
    assert field == "agentplane:spire.trustDomain"
    assert message


def test_trust_domain_message_says_what_is_allowed() -> None:
    ((_, message),) = _issues({"trustDomain": "Prod.Example.com"})
    assert "lowercase letters, digits, '.', '-' and '_'" in message
    ((_, message),) = _issues({"trustDomain": "spiffe://prod.example.com"})
    assert "without the spiffe:// scheme" in message


@pytest.mark.parametrize(
    ("spire", "field"),
    [
        ({"x509SvidTtl": "1d"}, "agentplane:spire.x509SvidTtl"),
        ({"jwtSvidTtl": "5 minutes"}, "agentplane:spire.jwtSvidTtl"),
        ({"tiers": {"standard": {"x509SvidTtl": "2days"}}}, "agentplane:spire.tiers.standard.x509SvidTtl"),
    ],
)
def test_a_bad_ttl_is_an_error_naming_the_field(spire: dict, field: str) -> None:
    ((got_field, message),) = _issues(spire)
    assert got_field == field and "Go duration" in message


@pytest.mark.parametrize(
    ("spire", "field", "allowed"),
    [
        ({"trustdomain": "x.example"}, "agentplane:spire.trustdomain", "trustDomain"),
        ({"tiers": {"standard": {"ttl": "1h"}}}, "agentplane:spire.tiers.standard.ttl", "x509SvidTtl"),
        ({"caSubject": {"org": "x"}}, "agentplane:spire.caSubject.org", "organization"),
    ],
)
def test_an_unknown_field_is_an_error_listing_the_allowed_ones(spire: dict, field: str, allowed: str) -> None:
    ((got_field, message),) = _issues(spire)
    assert got_field == field and "unknown field" in message and allowed in message


def test_bad_cluster_name_country_and_pinned_chart_are_errors() -> None:
    fields = {
        f
        for f, _ in _issues(
            {"clusterName": "Prod Cluster", "caSubject": {"country": "usa"}, "chart": {"version": "0.29.0"}}
        )
    }
    assert fields == {"agentplane:spire.clusterName", "agentplane:spire.caSubject.country", "agentplane:spire.chart"}


def test_per_tier_settings_must_name_an_existing_tier() -> None:
    raw = {**_raw("dev"), "spire": {"tiers": {"premium": {"x509SvidTtl": "10m"}, "standard": {"jwtSvidTtl": "1m"}}}}
    env = EnvironmentConfig.model_validate(raw, context={"source": "file"})
    tiers = ", ".join(t.name for t in env.tiers)
    assert spire_section.check_environment(env) == [("spire.tiers.premium", f"unknown tier 'premium' (tiers: {tiers})")]


def test_defaults_need_no_spire_or_certificates_keys() -> None:
    raw = {key: value for key, value in _raw("dev").items() if key not in ("spire", "certificates")}
    env = validate_environment(raw, "stacks/Pulumi.dev.yaml", source="file")
    assert env.spire.trust_domain == "agentplane.local"
    assert env.spire.resolved_cluster_name("dev") == "dev"
    assert env.spire.ttl_for("standard") == ("1h", "5m")
    assert env.certificates.chart.version == "v1.21.0" and env.certificates.root_ca.duration == "87600h"
