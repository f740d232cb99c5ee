"""Provenance and guardrails: the `agentplane:provenance` config, Kyverno's values, the
rendered policies against the pinned CRDs, and what the program registers."""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

import jinja2
import pytest
import yaml
from pydantic import ValidationError

from agentplane import namespaces
from agentplane.builders import provenance as build
from agentplane.config.load import build_spec, load_from_files
from agentplane.config.sections.provenance import KYVERNO_CHART, ProvenanceConfig
from agentplane.errors import ConfigError
from policies import render
from tests.support.plans import ROOT, STACKS, example_plan, kubernetes_objects, resources_of
from tests.support.upstream import upstream_dir, validate_chart_values, validate_objects

KEYLESS = {
    "issuer": "https://token.actions.githubusercontent.com",
    "subjectRegExp": r"^https://github\.com/acme/[^/]+/\.github/workflows/release\.yml@refs/heads/main$",
}
COMPLETE = {
    "signers": [{"keyless": KEYLESS}],
    "builders": ["https://github.com/actions/runner/github-hosted"],
    "sourceRepositories": ["https://github.com/acme/*"],
}
PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"


def spec_of(stack: str):
    return load_from_files(stack, root=ROOT)


# --------------------------------------------------------------------------- config


def test_defaults_need_nothing_but_warn_that_up_needs_signers():
    config = ProvenanceConfig()
    assert config.signers == () and config.admin_groups == ("platform-admins",) and config.chart == KYVERNO_CHART
    assert config.images == ("*",) and config.policy_exceptions is True
    assert "signers is empty" in config.missing_for_deploy()[0]
    assert ProvenanceConfig.model_validate(COMPLETE).missing_for_deploy() == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"signers": [{"keyless": KEYLESS, "publicKey": PEM}]}, "exactly one"),
        ({"signers": [{}]}, "exactly one"),
        ({"signers": [{"keyless": {**KEYLESS, "subjectRegExp": "github.com/acme/"}}]}, "must be anchored"),
        (
            {"signers": [{"keyless": {**KEYLESS, "subjectRegExp": "^https://github.com/(acme$"}}]},
            "not a valid regular expression",
        ),
        ({"signers": [{"keyless": {**KEYLESS, "issuer": "http://token.example.com"}}]}, "https://"),
        ({"signers": [{"publicKey": "ssh-ed25519 AAAA"}]}, "PEM public key"),
        ({"builders": []}, "builders: list the SLSA builder ids"),
        ({"sourceRepositories": []}, "sourceRepositories: list"),
        ({"sourceRepositories": ["https://github.com/acme*"]}, "must end with '/'"),
        ({"builders": ["https://ci.example.com/*/jobs"]}, "only once, at the end"),
        ({"images": ["*", "ghcr.io/acme/*"]}, "already matches every image"),
        ({"exemptImages": ["autoinstrumentation-python"]}, "should match pattern"),
        ({"adminGroups": []}, "at least 1 item"),
        ({"replicas": 0}, "greater than or equal to 1"),
        ({"policyExceptions": "yes"}, "valid boolean"),
        ({"admins": ["x"]}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_config_is_refused_with_a_clear_message(change, words):
    with pytest.raises(ValidationError) as error:
        ProvenanceConfig.model_validate({**COMPLETE, **change})
    assert words in str(error.value)


def test_builders_without_signers_are_refused():
    with pytest.raises(ValidationError, match="list the signers too"):
        ProvenanceConfig.model_validate({"builders": COMPLETE["builders"]})


def _env(provenance: dict | None, modes: tuple[str, str] = ("audit", "enforce")) -> dict:
    tiers = [
        {
            "name": name,
            "quota": {"cpu": "2", "memory": "4Gi", "pods": "10"},
            "egress": False,
            "provenance": mode,
            "dailyTokenBudget": 1000,
        }
        for name, mode in zip(("restricted", "standard"), modes, strict=True)
    ]
    return {"tiers": tiers, **({"provenance": provenance} if provenance is not None else {})}


def _team(promote: dict | None = None) -> list:
    doc = {
        "name": "payments",
        "owners": ["payments-admins"],
        "environments": {"dev": {"tier": "standard"}},
        "agents": [{"name": "invoice-triage", **({"promote": promote} if promote else {})}],
    }
    return [(Path("stacks/teams/payments.yaml"), doc)]


def test_a_tier_enforcing_provenance_without_signers_is_a_config_error():
    with pytest.raises(ConfigError) as error:
        build_spec(
            "dev", _env(None), "stacks/Pulumi.dev.yaml", _team(promote={"dev": "standard"}), {"dev"}, source="file"
        )
    (issue,) = error.value.issues
    assert issue.file == "stacks/Pulumi.dev.yaml" and issue.field == "agentplane:provenance.signers"
    assert issue.message.startswith("tier(s) standard enforce image provenance, so every pod in them would be rejected")


def test_audit_only_without_signers_plans_but_up_is_refused():
    spec = build_spec("dev", _env(None, ("audit", "audit")), "f", _team(), {"dev"}, source="file")
    assert any(w.startswith("agentplane:provenance: signers is empty") for w in spec.warnings)
    assert build.policy_objects(spec)[-1]["kind"] != "ImageValidatingPolicy"  # nothing to verify with


def test_enforcing_with_signers_is_valid():
    spec = build_spec("dev", _env(COMPLETE), "f", _team(promote={"dev": "standard"}), {"dev"}, source="file")
    assert spec.warnings == ()


@pytest.mark.parametrize("stack", STACKS)
def test_example_stacks_configure_realistic_signers(stack):
    config = spec_of(stack).env.provenance
    assert config.signers and config.missing_for_deploy() == []
    for signer in config.signers:
        assert signer.keyless.issuer == "https://token.actions.githubusercontent.com"
        assert re.match(
            signer.keyless.subject_reg_exp,
            "https://github.com/acme/invoice-triage/.github/workflows/release.yml@refs/tags/v1.2.3",
        )
        assert not re.match(
            signer.keyless.subject_reg_exp,
            "https://github.com/acme-evil/x/.github/workflows/release.yml@refs/tags/v1.2.3",
        )


def test_prod_only_admits_images_released_from_a_tag():
    (signer,) = spec_of("prod").env.provenance.signers
    assert not re.match(
        signer.keyless.subject_reg_exp, "https://github.com/acme/x/.github/workflows/release.yml@refs/heads/main"
    )


# --------------------------------------------------------------------------- Kyverno values


@pytest.mark.parametrize("stack", STACKS)
def test_kyverno_values_fit_the_pinned_chart(stack):
    assert validate_chart_values("kyverno", "3.9.0", build.kyverno_values(spec_of(stack))) == []


def test_kyverno_never_sees_the_platform_or_kube_namespaces():
    values = build.kyverno_values(spec_of("dev"))
    (expression,) = values["config"]["webhooks"]["namespaceSelector"]["matchExpressions"]
    assert expression["key"] == "kubernetes.io/metadata.name" and expression["operator"] == "NotIn"
    assert set(expression["values"]) == {
        *namespaces.PLATFORM_NAMESPACES,
        "kube-system",
        "kube-public",
        "kube-node-lease",
    }


def test_exceptions_restricted_to_the_kyverno_namespace_and_no_write_verbs_for_tenants():
    values = build.kyverno_values(spec_of("dev"))
    assert values["features"]["policyExceptions"] == {"enabled": True, "namespace": namespaces.POLICY}
    # The chart aggregates create/update/delete on every policy and PolicyException kind into
    # `admin`, which tenant owners hold in their namespaces; only read-only `view` remains.
    assert values["rbac"]["roles"]["aggregate"] == {"admin": False, "view": True}
    chart_defaults = yaml.safe_load((upstream_dir() / "charts" / "kyverno-3.9.0" / "values.yaml").read_text())
    assert chart_defaults["rbac"]["roles"]["aggregate"]["admin"] is True  # why the override exists


def test_admission_replicas_follow_protect_unless_configured():
    assert build.admission_replicas(spec_of("dev")) == 1
    prod = spec_of("prod")
    assert build.admission_replicas(prod) == 3
    values = build.kyverno_values(prod)
    assert values["admissionController"]["replicas"] == 3 and values["backgroundController"]["replicas"] == 2
    from dataclasses import replace

    env = prod.env.model_copy(update={"provenance": prod.env.provenance.model_copy(update={"replicas": 5})})
    assert build.admission_replicas(replace(prod, env=env)) == 5


# --------------------------------------------------------------------------- templates


def test_templates_ship_as_package_data_and_are_strict():
    shipped = {p.name for p in importlib.resources.files("policies").joinpath("templates").iterdir()}
    on_disk = {p.name for p in (ROOT / "policies" / "templates").glob("*.yaml.j2")}
    assert on_disk and shipped >= on_disk
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"templates/*.yaml.j2"' in pyproject and '"pack/*.yaml"' in pyproject
    with pytest.raises(jinja2.UndefinedError):
        render.render("policy-guard.yaml.j2", name="x")


@pytest.mark.parametrize("value", ['a"b', "back\\slash", "it's", "ünïcode", "new\nline"])
def test_cel_literals_round_trip(value):
    from tests.test_provenance_cel import evaluate

    assert evaluate(render.cel_literal(value), {}) == value
    assert evaluate(render.cel_literal({value: [value, "x"]}), {}) == {value: [value, "x"]}
    assert evaluate(render.cel_block([value, "x"], 4), {}) == [value, "x"]


def test_a_hostile_admin_group_name_stays_a_string_in_the_policy():
    spec = spec_of("dev")
    hostile = '"]) || true || (["'
    env = spec.env.model_copy(
        update={"provenance": spec.env.provenance.model_copy(update={"admin_groups": (hostile,)})}
    )
    from dataclasses import replace

    guard = build.policy_guard(replace(spec, env=env))
    (condition,) = guard["spec"]["matchConditions"]
    from tests.test_provenance_cel import evaluate

    request = {"userInfo": {"username": "bob", "groups": ["payments-admins"]}}
    assert evaluate(condition["expression"], {"request": request}) is True  # still checked
    request = {"userInfo": {"username": "eve", "groups": [hostile]}}
    assert evaluate(condition["expression"], {"request": request}) is False


# --------------------------------------------------------------------------- policies


def test_served_version_of_the_policies_kyverno_io_crds_is_v1():
    for path in (upstream_dir() / "crds" / "policies.kyverno.io").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        served = {v["name"] for v in crd["spec"]["versions"] if v["served"]}
        assert "v1" in served, path.name


@pytest.mark.parametrize("stack", STACKS)
def test_every_provenance_object_validates_against_the_pinned_schemas(stack):
    doc = example_plan(stack)
    objects = [r["inputs"] for r in resources_of(doc, component="provenance") if "kind" in r.get("inputs", {})]
    assert {o["kind"] for o in objects} >= {"Namespace", "MutatingPolicy", "ValidatingPolicy", "ImageValidatingPolicy"}
    assert validate_objects(objects) == []


@pytest.mark.parametrize("stack", STACKS)
def test_policies_use_the_policies_kyverno_io_v1_kinds_only(stack):
    policies = [o for o in kubernetes_objects(example_plan(stack)) if "kyverno.io" in o["apiVersion"]]
    assert policies and all(o["apiVersion"] == "policies.kyverno.io/v1" for o in policies)
    assert not any(o["kind"] == "ClusterPolicy" for o in policies)


@pytest.mark.parametrize("stack", STACKS)
def test_one_image_policy_per_provenance_mode_in_use(stack):
    spec = spec_of(stack)
    modes = {t.provenance for t in spec.env.tiers}
    names = {o["metadata"]["name"] for o in build.policy_objects(spec) if o["kind"] == "ImageValidatingPolicy"}
    assert names == {build.provenance_policy_name(m) for m in modes}


def test_every_policy_except_the_policy_guard_excludes_the_platform_namespaces():
    for obj in build.policy_objects(spec_of("staging")):
        selector = obj["spec"]["matchConstraints"].get("namespaceSelector")
        if obj["metadata"]["name"] == build.POLICY_GUARD:
            # Cluster-scoped kinds ignore a namespaceSelector; Kyverno's own webhook selector
            # keeps the platform namespaces out (test_kyverno_never_sees_...).
            assert selector is None
            continue
        not_in = [e for e in selector["matchExpressions"] if e["operator"] == "NotIn"]
        assert set(not_in[0]["values"]) >= set(namespaces.PLATFORM_NAMESPACES)


def test_pod_policies_generate_no_pod_controller_variants():
    # Kyverno generates Deployment/Job/... variants unless told otherwise; on a pod template the
    # tier would be judged without the pod's ServiceAccount mapping and label.
    for obj in build.policy_objects(spec_of("staging")):
        if obj["spec"]["matchConstraints"]["resourceRules"][0]["resources"][0] == "pods":
            assert obj["spec"]["autogen"] == {"podControllers": {"controllers": []}}, obj["metadata"]["name"]


def test_guardrails_fail_closed_and_judge_only_admission_requests():
    for obj in build.policy_objects(spec_of("staging")):
        spec = obj["spec"]
        if obj["kind"] == "ValidatingPolicy":
            assert spec["validationActions"] == ["Deny"] and spec["failurePolicy"] == "Fail"
            assert spec["evaluation"]["background"]["enabled"] is False  # they read request.userInfo
        if obj["kind"] == "MutatingPolicy":
            assert spec["failurePolicy"] == "Fail"


def test_the_tier_map_is_rendered_from_the_team_files():
    spec = spec_of("staging")
    assert build.agent_tiers(spec) == {
        "payments/invoice-triage": "standard",
        "payments/refund-drafter": "restricted",
        "research/paper-summarizer": "restricted",
        "support/kb-answerer": "restricted",
        "support/ticket-router": "standard",
    }
    # The same map the tenants builder labels the ServiceAccounts with.
    labeled = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["metadata"]["labels"]["agentplane.io/tier"]
        for o in kubernetes_objects(example_plan("staging"))
        if o["kind"] == "ServiceAccount"
        and o["metadata"].get("namespace") in {t.namespace for t in spec.teams}
        and "agentplane.io/agent" in o["metadata"].get("labels", {})
    }
    assert labeled == build.agent_tiers(spec)


@pytest.mark.parametrize("exempt", [(), ("ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-",)])
def test_validation_configurations_leave_exempt_images_and_audit_tags_alone(exempt):
    """Kyverno 1.19 applies `required` and `verifyDigest` to every image matchImageReferences
    selects, exempt ones included (tests/test_provenance_cel.py runs both on sample pods)."""
    from dataclasses import replace

    spec = spec_of("dev")
    config = spec.env.provenance.model_copy(update={"exempt_images": exempt})
    spec = replace(spec, env=spec.env.model_copy(update={"provenance": config}))
    enforce = build.provenance_policy(spec, "enforce")["spec"]["validationConfigurations"]
    audit = build.provenance_policy(spec, "audit")["spec"]["validationConfigurations"]
    assert enforce == {"required": not exempt, "mutateDigest": True, "verifyDigest": not exempt}
    assert audit == {"required": not exempt, "mutateDigest": False, "verifyDigest": False}


def test_public_key_signers_render_as_cosign_keys():
    spec = spec_of("dev")
    config = spec.env.provenance.model_copy(
        update={
            "signers": (
                *spec.env.provenance.signers,
                ProvenanceConfig.model_validate({**COMPLETE, "signers": [{"publicKey": PEM}]}).signers[0],
            )
        }
    )
    from dataclasses import replace

    ivpol = build.provenance_policy(replace(spec, env=spec.env.model_copy(update={"provenance": config})), "audit")
    attestors = ivpol["spec"]["attestors"]
    assert [a["name"] for a in attestors] == ["signer0", "signer1"]
    assert attestors[1]["cosign"] == {"key": {"data": PEM}}
    variables = {v["name"]: v["expression"] for v in ivpol["spec"]["variables"]}
    assert "[attestors.signer0, attestors.signer1]" in variables["signers"]
    assert validate_objects([ivpol]) == []


# --------------------------------------------------------------------------- the component


@pytest.mark.parametrize("stack", STACKS)
def test_kyverno_release_is_pinned_and_protected_where_the_environment_is(stack):
    spec = spec_of(stack)
    doc = example_plan(stack)
    (release,) = [r for r in resources_of(doc, component="provenance") if r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert release["inputs"]["chart"] == "kyverno" and release["inputs"]["version"] == "3.9.0"
    assert release["inputs"]["name"] == "kyverno"  # upstream object names
    assert release["inputs"]["namespace"] == namespaces.POLICY
    assert release["protect"] is spec.protect and release["retainOnDelete"] is spec.protect
    (ns,) = [r for r in resources_of(doc, component="provenance") if r["type"] == "kubernetes:core/v1:Namespace"]
    assert ns["inputs"]["metadata"]["name"] == namespaces.POLICY and ns["urn"] in release["dependsOn"]
    policies = [
        r for r in resources_of(doc, component="provenance") if r["type"].startswith("kubernetes:policies.kyverno.io/")
    ]
    assert policies and all(release["urn"] in r["dependsOn"] for r in policies)


def test_a_promotion_in_a_team_file_changes_the_rendered_policies():
    from tests.support.plans import plan_with_teams

    text = (ROOT / "stacks" / "teams" / "payments.yaml").read_text()
    promoted = text.replace(
        "  - name: refund-drafter          # new: runs at the lowest tier until promoted",
        "  - name: refund-drafter\n    promote: {staging: standard}",
    )
    assert promoted != text
    doc = plan_with_teams("staging", add={"payments.yaml": promoted})
    mutation = next(
        o
        for o in kubernetes_objects(doc)
        if o["metadata"]["name"] == build.POLICY_AGENT_LABELS and o["kind"] == "MutatingPolicy"
    )
    before = next(
        o
        for o in kubernetes_objects(example_plan("staging"))
        if o["metadata"]["name"] == build.POLICY_AGENT_LABELS and o["kind"] == "MutatingPolicy"
    )

    def tier_map(policy: dict) -> str:
        return next(v["expression"] for v in policy["spec"]["variables"] if v["name"] == "agentTiers")

    assert '"payments/refund-drafter": "restricted"' in tier_map(before)
    assert '"payments/refund-drafter": "standard"' in tier_map(mutation)


# --------------------------------------------------------------------------- platform CA and telemetry opt-out


@pytest.mark.parametrize("stack", STACKS)
def test_the_opt_out_policy_matches_exactly_the_agents_the_team_files_opt_out(stack):
    from tests.test_provenance_cel import evaluate

    (mutation,) = [
        o for o in kubernetes_objects(example_plan(stack)) if o["metadata"]["name"] == build.POLICY_TELEMETRY_OPT_OUT
    ]
    (condition,) = mutation["spec"]["matchConditions"]
    seen = 0
    for path in sorted((ROOT / "stacks" / "teams").glob("*.yaml")):  # the team files as written, not the spec
        team = yaml.safe_load(path.read_text())
        for agent in team.get("agents", []):
            pod = {"spec": {"serviceAccountName": agent["name"]}}
            matched = evaluate(condition["expression"], {"object": pod, "request": {"namespace": team["name"]}})
            assert matched is (agent.get("instrumentation") is False), f"{team['name']}/{agent['name']}"
            seen += 1
    assert seen >= 5
    assert build.opted_out_agents(spec_of(stack)) == ["support/kb-answerer"]


def test_no_opt_out_policy_when_every_agent_is_instrumented():
    spec = build_spec("dev", _env(COMPLETE), "f", _team(promote={"dev": "standard"}), {"dev"}, source="file")
    names = [o["metadata"]["name"] for o in build.policy_objects(spec)]
    assert build.POLICY_TELEMETRY_OPT_OUT not in names and build.POLICY_PLATFORM_CA in names
    ((_, doc),) = _team()
    doc["agents"][0]["instrumentation"] = False
    opted_out = build_spec(
        "dev", _env(COMPLETE), "f", [(Path("stacks/teams/payments.yaml"), doc)], {"dev"}, source="file"
    )
    assert build.opted_out_agents(opted_out) == ["payments/invoice-triage"]
    assert build.telemetry_opt_out_mutation(opted_out)["spec"]["failurePolicy"] == "Fail"


def test_kyverno_mutates_pods_before_the_opentelemetry_operator_decides_to_inject():
    """The API server calls mutating webhook configurations one after the other, sorted by name
    (kube-apiserver's mutating webhook manager); reinvocation cannot repair the other order
    (docs/components/provenance.md, "Telemetry opt-out and webhook order"). Kyverno registers every
    MutatingPolicy in this configuration:"""
    kyverno_configuration = "kyverno-resource-mutating-webhook-cfg"
    from agentplane.builders import telemetry

    values = telemetry.operator_values(spec_of("dev"))
    chart_defaults = yaml.safe_load(
        (upstream_dir() / "charts" / "opentelemetry-operator-0.122.0" / "values.yaml").read_text()
    )
    prefix = values.get("admissionWebhooks", {}).get("namePrefix", chart_defaults["admissionWebhooks"]["namePrefix"])
    # The chart names it `<namePrefix>-<fullname>-mutation` (leading "-" trimmed); without a
    # fullnameOverride it would depend on the release name.
    fullname = values["fullnameOverride"]
    operator_configuration = f"{prefix}-{fullname}".removeprefix("-") + "-mutation"
    assert operator_configuration == "opentelemetry-operator-mutation"
    assert kyverno_configuration < operator_configuration


@pytest.mark.parametrize("stack", STACKS)
def test_the_platform_ca_policy_names_the_platform_ca_issuer(stack):
    from agentplane.config.sections.certificates import PLATFORM_CA_ISSUER

    (validation,) = [
        o for o in kubernetes_objects(example_plan(stack)) if o["metadata"]["name"] == build.POLICY_PLATFORM_CA
    ]
    assert f'variables.issuerName in ["{PLATFORM_CA_ISSUER}"]' in validation["spec"]["validations"][0]["expression"]
    rules = validation["spec"]["matchConstraints"]["resourceRules"]
    assert {r for rule in rules for r in rule["resources"]} == {
        "certificates",
        "certificaterequests",
        "ingresses",
        "gateways",
        "listenersets",
    }
    assert validation["spec"]["matchConditions"][0]["name"] == "requester-is-not-platform"


# --------------------------------------------------------------------------- Service routing


@pytest.mark.parametrize("stack", STACKS)
def test_the_service_routing_policy_is_registered_and_validates_against_the_pinned_crd(stack):
    (validation,) = [
        o for o in kubernetes_objects(example_plan(stack)) if o["metadata"]["name"] == build.POLICY_SERVICE_ROUTING
    ]
    assert validation["apiVersion"] == "policies.kyverno.io/v1" and validation["kind"] == "ValidatingPolicy"
    assert validate_objects([validation]) == []
    spec = validation["spec"]
    rules = {
        (g, r)
        for rule in spec["matchConstraints"]["resourceRules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert rules == {("", "services"), ("", "endpoints"), ("discovery.k8s.io", "endpointslices")}
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in spec["matchConstraints"]["resourceRules"])
    # Tenant namespaces only, and the platform's requesters are not judged.
    selector = spec["matchConstraints"]["namespaceSelector"]["matchExpressions"]
    assert {"key": "agentplane.io/tenant", "operator": "Exists"} in selector
    assert spec["matchConditions"][0]["name"] == "requester-is-not-platform"


def test_only_the_controller_managers_endpoint_controllers_may_write_endpoints():
    # kube-controller-manager's ClientBuilder.ClientOrDie names, as kube-system ServiceAccounts.
    controllers = {"endpoint-controller", "endpointslice-controller", "endpointslicemirroring-controller"}
    assert set(build.ENDPOINT_CONTROLLERS) == {f"system:serviceaccount:kube-system:{c}" for c in controllers} | {
        "system:kube-controller-manager"
    }
    # Keyed on the requester, never on the managed-by label a tenant can set itself.
    text = (ROOT / "policies" / "templates" / "service-routing.yaml.j2").read_text()
    body = text.split("-#}", 1)[1]
    assert "managed-by" not in body and "request.userInfo.username in variables.endpointControllers" in body
