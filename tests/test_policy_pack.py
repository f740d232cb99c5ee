"""The Pulumi policy pack (policies/pack): its checks called directly on resource sets, on
every example stack's plan, and through the pulumi-policy glue the engine runs."""

from __future__ import annotations

import contextvars
import copy

import pulumi
import pytest
import yaml
from pulumi_policy import PolicyResource, PolicyResourceOptions, StackValidationArgs, StackValidationPolicy
from pulumi_policy.policy import PolicyCustomTimeouts
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from agentplane.config.load import load_from_files
from policies.pack import checks, crossguard
from tests.support.plans import ROOT, STACKS, example_plan

PACK = ROOT / "policies" / "pack"
DIGEST = "@sha256:" + "0" * 64


# --------------------------------------------------------------------------- a resource set

_counter = iter(range(10_000))


def res(type_: str, props: dict, *, protect: bool = False, name: str | None = None) -> dict:
    name = name or f"r{next(_counter)}"
    return {
        "type": type_,
        "urn": f"urn:pulumi:test::agentplane::{type_}::{name}",
        "name": name,
        "props": props,
        "protect": protect,
    }


def k8s(kind: str, group_version: str, meta: dict, **body) -> dict:
    """A Kubernetes object as the provider types it: kubernetes:<group or core>/<version>:<Kind>."""
    module = group_version if "/" in group_version else f"core/{group_version}"
    return res(f"kubernetes:{module}:{kind}", {"apiVersion": group_version, "kind": kind, "metadata": meta, **body})


def tenant(ns: str = "payments", *, protect: bool = True, labels: dict | None = None) -> list[dict]:
    """A tenant namespace with everything the platform gives it."""
    ns_labels = {"agentplane.io/tenant": ns, "pod-security.kubernetes.io/enforce": "restricted", **(labels or {})}
    namespace = k8s("Namespace", "v1", {"name": ns, "labels": ns_labels})
    namespace["protect"] = protect
    return [
        namespace,
        k8s("ResourceQuota", "v1", {"name": "tenant-quota", "namespace": ns}, spec={"hard": {"pods": "10"}}),
        k8s("LimitRange", "v1", {"name": "tenant-defaults", "namespace": ns}, spec={"limits": [{"type": "Container"}]}),
        k8s(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            {"name": "default-deny", "namespace": ns},
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        ),
        k8s(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            {"name": "allow-dns", "namespace": ns},
            spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53}]}]},
        ),
        k8s(
            "RoleBinding",
            "rbac.authorization.k8s.io/v1",
            {"name": "tenant-owners", "namespace": ns},
            roleRef={"kind": "ClusterRole", "name": "admin"},
            subjects=[{"kind": "Group", "name": f"{ns}-admins"}],
        ),
    ]


def release(chart: str, version, values: dict | None = None, *, protect: bool = True) -> dict:
    return res(
        "kubernetes:helm.sh/v3:Release",
        {"chart": chart, "version": version, "values": values or {}},
        protect=protect,
        name=f"rel-{chart}",
    )


def good_set() -> list[dict]:
    platform_ns = k8s("Namespace", "v1", {"name": "kyverno", "labels": {"agentplane.io/platform": "true"}})
    platform_ns["protect"] = True
    return [
        *tenant("payments"),
        *tenant("research"),
        platform_ns,
        release("kyverno", "3.9.0", {"admissionController": {"replicas": 3}}),
        release(
            "keycloakx",
            "7.1.11",
            {"image": {"repository": "quay.io/keycloak/keycloak", "tag": "26.5.6", "digest": "sha256:" + "1" * 64}},
            protect=False,
        ),
        k8s(
            "Deployment",
            "apps/v1",
            {"name": "web", "namespace": "agentplane-gateway"},
            spec={"template": {"spec": {"containers": [{"name": "web", "image": "ghcr.io/acme/web" + DIGEST}]}}},
        ),
        k8s(
            "ClusterRoleBinding",
            "rbac.authorization.k8s.io/v1",
            {"name": "operator"},
            roleRef={"kind": "ClusterRole", "name": "operator"},
            subjects=[{"kind": "ServiceAccount", "name": "operator", "namespace": "agentplane-telemetry"}],
        ),
        res(
            "kubernetes:postgresql.cnpg.io/v1:Cluster",
            {
                "apiVersion": "postgresql.cnpg.io/v1",
                "kind": "Cluster",
                "metadata": {"name": "db", "namespace": "agentplane-identity"},
            },
            protect=True,
            name="db",
        ),
    ]


def violations(resources: list[dict], *, protected: bool = True) -> dict[str, list[str]]:
    return {
        name: [v.message for v in found]
        for name, found in checks.all_violations(resources, protected=protected).items()
        if found
    }


def replace(resources: list[dict], match, change) -> list[dict]:
    out = copy.deepcopy(resources)
    hits = [r for r in out if match(r)]
    assert hits, "the broken set must change something"
    for r in hits:
        change(r)
    return out


def is_ns(name: str):
    return lambda r: r["type"] == checks.NAMESPACE and r["props"]["metadata"]["name"] == name


def kind_in(kind: str, ns: str, name: str | None = None):
    return lambda r: (
        r["props"].get("kind") == kind
        and r["props"]["metadata"].get("namespace") == ns
        and (name is None or r["props"]["metadata"]["name"] == name)
    )


# --------------------------------------------------------------------------- the checks


def test_the_good_set_has_no_violations():
    assert violations(good_set()) == {}


def test_tenant_namespace_without_restricted_pod_security():
    broken = replace(
        good_set(),
        is_ns("payments"),
        lambda r: r["props"]["metadata"]["labels"].update({"pod-security.kubernetes.io/enforce": "baseline"}),
    )
    assert violations(broken) == {
        "tenant-namespace-isolation": [
            "tenant namespace payments must enforce Pod Security `restricted` (label "
            "pod-security.kubernetes.io/enforce is 'baseline')"
        ]
    }
    missing = replace(
        good_set(),
        is_ns("research"),
        lambda r: r["props"]["metadata"]["labels"].pop("pod-security.kubernetes.io/enforce"),
    )
    assert "research must enforce Pod Security" in violations(missing)["tenant-namespace-isolation"][0]


@pytest.mark.parametrize(
    ("drop", "words"),
    [
        ("ResourceQuota", "has no ResourceQuota"),
        ("LimitRange", "has no LimitRange"),
    ],
)
def test_tenant_namespace_without_quota_or_limit_range(drop, words):
    broken = [r for r in good_set() if not kind_in(drop, "payments")(r)]
    assert violations(broken) == {
        "tenant-namespace-isolation": [
            f"tenant namespace payments {words}"
            + (
                " (pods without requests would be refused by the quota)"
                if drop == "LimitRange"
                else " with hard limits"
            )
        ]
    }


def test_tenant_namespace_without_default_deny():
    only_egress = replace(
        good_set(),
        kind_in("NetworkPolicy", "payments", "default-deny"),
        lambda r: r["props"]["spec"].update({"policyTypes": ["Egress"]}),
    )
    assert "payments has no default-deny NetworkPolicy" in violations(only_egress)["tenant-namespace-isolation"][0]
    with_allow = replace(
        good_set(),
        kind_in("NetworkPolicy", "research", "default-deny"),
        lambda r: r["props"]["spec"].update({"ingress": [{"from": [{"podSelector": {}}]}]}),
    )
    assert "research has no default-deny" in violations(with_allow)["tenant-namespace-isolation"][0]
    gone = [r for r in good_set() if not kind_in("NetworkPolicy", "payments", "default-deny")(r)]
    assert violations(gone)["tenant-namespace-isolation"]
    # A quota in another namespace does not count.
    moved = replace(
        good_set(),
        kind_in("ResourceQuota", "payments"),
        lambda r: r["props"]["metadata"].update({"namespace": "default"}),
    )
    assert violations(moved)["tenant-namespace-isolation"] == [
        "tenant namespace payments has no ResourceQuota with hard limits"
    ]


@pytest.mark.parametrize("version", ["", None, "^3.9.0", "~3.9", ">=3.9.0", "3.x", "*", "3.9", "latest"])
def test_helm_chart_without_an_exact_version(version):
    broken = replace(
        good_set(), lambda r: r["name"] == "rel-kyverno", lambda r: r["props"].update({"version": version})
    )
    assert violations(broken) == {
        "pinned-chart-versions": [
            f"Helm chart kyverno (rel-kyverno) must be pinned to an exact version, got {version!r}"
        ]
    }


def test_exact_versions_and_component_wrapped_charts():
    for version in ("3.9.0", "v1.21.0", "1.0.0-rc.1", "0.2.0+build.7"):
        assert checks.pinned_chart_versions([release("x", version)]) == []
    wrapped = res(
        "kubernetes-cert-manager:index:CertManager",
        {"helmOptions": {"chart": "cert-manager", "version": "v1.x"}},
        protect=True,
    )
    assert checks.pinned_chart_versions([wrapped])[0].message.startswith("Helm chart cert-manager")
    assert checks.pinned_chart_versions([release("x", checks.UNKNOWN)]) == []  # known at `pulumi up`


@pytest.mark.parametrize(
    ("resource", "where"),
    [
        (
            k8s(
                "Deployment",
                "apps/v1",
                {"name": "web", "namespace": "x"},
                spec={"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}},
            ),
            "containers[web]",
        ),
        (
            k8s(
                "StatefulSet",
                "apps/v1",
                {"name": "db", "namespace": "x"},
                spec={
                    "template": {
                        "spec": {
                            "containers": [{"name": "db", "image": "ghcr.io/a/db" + DIGEST}],
                            "initContainers": [{"name": "init", "image": "busybox"}],
                        }
                    }
                },
            ),
            "initContainers[init]",
        ),
        (
            k8s(
                "CronJob",
                "batch/v1",
                {"name": "job", "namespace": "x"},
                spec={
                    "jobTemplate": {
                        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "alpine:latest"}]}}}
                    }
                },
            ),
            "containers[c]",
        ),
        (
            k8s(
                "Pod",
                "v1",
                {"name": "p", "namespace": "x"},
                spec={"containers": [{"name": "c", "image": "ghcr.io/a/b@sha256:short"}]},
            ),
            "containers[c]",
        ),
        (
            release(
                "agentgateway", "v1.4.1", {"controller": {"image": {"repository": "ghcr.io/a/b", "tag": "v1.4.1"}}}
            ),
            "values.controller.image.tag",
        ),
        (
            release("otel", "0.122.0", {"manager": {"collectorImage": {"repository": "otel/col", "tag": "0.158.0"}}}),
            "values.manager.collectorImage.tag",
        ),
        (release("x", "1.0.0", {"sidecar": {"image": "envoyproxy/envoy:v1.31"}}), "values.sidecar.image"),
        (
            res(
                "kubernetes:opentelemetry.io/v1beta1:OpenTelemetryCollector",
                {
                    "apiVersion": "opentelemetry.io/v1beta1",
                    "kind": "OpenTelemetryCollector",
                    "metadata": {"name": "c"},
                    "spec": {"image": "otel/opentelemetry-collector-contrib:0.158.0"},
                },
            ),
            "spec.image",
        ),
    ],
)
def test_image_by_mutable_tag(resource, where):
    found = checks.images_pinned_by_digest([resource])
    assert len(found) == 1 and f": {where} uses image" in found[0].message and "pin it by digest" in found[0].message


def test_images_by_digest_or_chart_default_pass():
    fine = [
        k8s(
            "Deployment",
            "apps/v1",
            {"name": "web", "namespace": "x"},
            spec={"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27" + DIGEST}]}}},
        ),
        release("a", "1.0.0", {"image": {"repository": "ghcr.io/a/b", "tag": "v1", "digest": "sha256:" + "2" * 64}}),
        release("b", "1.0.0", {"image": {"repository": "ghcr.io/a/b", "tag": ""}}),  # chart default
        release("c", "1.0.0", {"image": {"repository": "ghcr.io/a/b" + DIGEST}}),
        release("d", "1.0.0", {"image": {"tag": "sha256:" + "3" * 64}}),
        release("e", "1.0.0", {"image": {"repository": "ghcr.io/a/b", "tag": checks.UNKNOWN}}),
        release("f", "1.0.0", {"imagePullSecrets": [], "tags": ["x"], "policy": {"image": None}}),
        k8s("NetworkPolicy", "networking.k8s.io/v1", {"name": "n", "namespace": "x"}, spec={"podSelector": {}}),
    ]
    assert checks.images_pinned_by_digest(fine) == []


def test_unprotected_resources_in_a_protected_environment():
    broken = good_set()
    for r in broken:
        r["protect"] = False
    found = violations(broken)["protected-resources"]
    assert sorted(m.split(" and must be protected")[0] for m in found) == sorted(
        [
            "tenant namespace payments holds a team's data",
            "tenant namespace research holds a team's data",
            "platform namespace kyverno holds the platform's data",
            "Helm release rel-kyverno (chart kyverno) installs CustomResourceDefinitions",
            "Cluster db holds data",
        ]
    )
    assert violations(broken, protected=False) == {}


def test_offboarding_lifts_the_protection_of_a_tenant_namespace():
    offboarding = replace(
        good_set(),
        is_ns("research"),
        lambda r: (
            r.update({"protect": False}),
            r["props"]["metadata"]["labels"].update({checks.LABEL_OFFBOARDING: "true"}),
        ),
    )
    assert violations(offboarding) == {}


def test_crds_and_crd_bearing_components_must_be_protected():
    crd = res(
        checks.CRD, {"kind": "CustomResourceDefinition", "metadata": {"name": "gateways.gateway.networking.k8s.io"}}
    )
    cert_manager = res("kubernetes-cert-manager:index:CertManager", {"helmOptions": {"version": "v1.21.0"}})
    assert len(checks.protected_resources([crd, cert_manager], protected=True)) == 2


def test_cluster_wide_rights_for_tenants():
    resources = good_set()
    cases = [
        ({"kind": "Group", "name": "payments-admins"}, "tenant group payments-admins"),
        (
            {"kind": "ServiceAccount", "name": "invoice-triage", "namespace": "payments"},
            "service account payments/invoice-triage",
        ),
        (
            {"kind": "Group", "name": "system:serviceaccounts:research"},
            "every service account of tenant namespace research",
        ),
        ({"kind": "Group", "name": "system:authenticated"}, "group system:authenticated (every tenant among others)"),
    ]
    for subject, who in cases:
        binding = k8s(
            "ClusterRoleBinding",
            "rbac.authorization.k8s.io/v1",
            {"name": "leak"},
            roleRef={"kind": "ClusterRole", "name": "view"},
            subjects=[subject],
        )
        assert violations([*resources, binding]) == {
            "no-cluster-wide-tenant-rights": [
                f"ClusterRoleBinding leak grants ClusterRole view cluster-wide to {who}; bind tenants with "
                "RoleBindings in their own namespace"
            ]
        }


def test_cluster_roles_aggregating_into_tenant_roles():
    role = k8s(
        "ClusterRole",
        "rbac.authorization.k8s.io/v1",
        {"name": "extra", "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
        rules=[],
    )
    (found,) = checks.no_cluster_wide_tenant_rights([*good_set(), role])
    assert "aggregates into the `edit` role that tenants hold" in found.message
    view_only = k8s(
        "ClusterRole",
        "rbac.authorization.k8s.io/v1",
        {"name": "read", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        rules=[],
    )
    assert checks.no_cluster_wide_tenant_rights([*good_set(), view_only]) == []


def test_a_deliberately_broken_resource_set_trips_every_check():
    broken = good_set()
    broken = replace(
        broken,
        is_ns("payments"),
        lambda r: r["props"]["metadata"]["labels"].update({"pod-security.kubernetes.io/enforce": "privileged"}),
    )
    broken = replace(
        broken,
        lambda r: r["name"] == "rel-kyverno",
        lambda r: (r.update({"protect": False}), r["props"].update({"version": "^3"})),
    )
    broken.append(
        k8s(
            "DaemonSet",
            "apps/v1",
            {"name": "agent", "namespace": "spire-system"},
            spec={"template": {"spec": {"containers": [{"name": "a", "image": "ghcr.io/spiffe/spire-agent:1.15.3"}]}}},
        )
    )
    broken.append(
        k8s(
            "ClusterRoleBinding",
            "rbac.authorization.k8s.io/v1",
            {"name": "oops"},
            roleRef={"kind": "ClusterRole", "name": "cluster-admin"},
            subjects=[{"kind": "Group", "name": "research-admins"}],
        )
    )
    found = violations(broken)
    assert set(found) == {
        "tenant-namespace-isolation",
        "pinned-chart-versions",
        "images-pinned-by-digest",
        "protected-resources",
        "no-cluster-wide-tenant-rights",
    }


# --------------------------------------------------------------------------- the example stacks


@pytest.mark.parametrize("stack", STACKS)
def test_example_stacks_have_no_violations(stack):
    """Every shipped stack passes every mandatory policy: nothing is tolerated."""
    protected = load_from_files(stack, root=ROOT).protect
    found = violations(checks.from_plan(example_plan(stack)), protected=protected)
    assert found == {}


def test_a_keycloak_tag_without_its_digest_would_fail_the_pack():
    """The program sets Keycloak's tag only together with a digest; setting the tag alone (as it
    once did) is exactly what images-pinned-by-digest rejects."""
    resources = checks.from_plan(example_plan("dev"))
    (keycloak,) = [
        r for r in resources if r["type"] in checks.HELM_RELEASE_TYPES and r["props"]["chart"] == "keycloakx"
    ]
    assert "image" not in keycloak["props"]["values"]  # the chart's own image: no digest configured in dev
    tagged = copy.deepcopy(keycloak)
    tagged["props"]["values"]["image"] = {"tag": "26.5.6"}
    (found,) = checks.images_pinned_by_digest([tagged])
    assert "values.image.tag uses image '26.5.6' by a mutable tag" in found.message
    tagged["props"]["values"]["image"]["digest"] = DIGEST.removeprefix("@")
    assert checks.images_pinned_by_digest([tagged]) == []


def test_the_example_plans_exercise_the_checks():
    # Guard against vacuous passes: the plans do contain what the checks look at.
    resources = checks.from_plan(example_plan("prod"))
    assert len(checks.tenant_namespaces(resources)) == 2
    assert [r for r in resources if r["type"] in checks.HELM_RELEASE_TYPES]
    groups, _ = checks.tenant_subjects(resources)
    assert "/payments/payments-admins" in groups  # tokens carry groups by path
    assert any(checks.must_be_protected(r) for r in resources)


# --------------------------------------------------------------------------- the pulumi-policy glue


def policy_resource(resource: dict) -> PolicyResource:
    opts = PolicyResourceOptions(resource["protect"], [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    return PolicyResource(
        resource["type"],
        unknown_checking_proxy(resource["props"]),
        resource["urn"],
        resource["name"],
        opts,
        None,
        None,
        [],
        {},
    )


def run_pack(
    resources: list[dict], config: dict | None = None, stack_config: dict | None = None
) -> dict[str, list[str]]:
    """Every policy of the pack, as the engine calls it (props behind pulumi-policy's proxy)."""

    def go() -> dict[str, list[str]]:
        pulumi.runtime.config.set_all_config(stack_config or {})
        reported: dict[str, list[str]] = {}
        for policy in crossguard.policies():
            assert isinstance(policy, StackValidationPolicy)
            args = StackValidationArgs([policy_resource(r) for r in resources], config or {})
            policy.validate(
                args, lambda message, urn=None, name=policy.name: reported.setdefault(name, []).append(message)
            )
        return reported

    return contextvars.copy_context().run(go)


def test_pack_policies_are_mandatory_stack_policies():
    names = [p.name for p in crossguard.policies()]
    assert names == [*checks.CHECKS, "protected-resources"]
    assert all(p.enforcement_level.value == "mandatory" for p in crossguard.policies())


def test_pack_reads_protect_from_the_stack_config_or_the_pack_config(monkeypatch):
    unprotected = [dict(r, protect=False) for r in good_set()]
    assert run_pack(unprotected) == {}
    assert len(run_pack(unprotected, stack_config={"agentplane:protect": "true"})["protected-resources"]) == 5
    assert run_pack(unprotected, stack_config={"agentplane:protect": "false"}) == {}
    monkeypatch.setattr(crossguard.pulumi, "get_stack", lambda: "prod")
    assert len(run_pack(unprotected, config={"protectedStacks": ["prod"]})["protected-resources"]) == 5
    assert run_pack(unprotected, config={"protectedStacks": ["staging"]}) == {}


def test_values_unknown_during_preview_are_not_violations():
    resources = good_set()
    resources.append(
        release("otel", UNKNOWN_STRING_VALUE, {"image": {"repository": "otel/x", "tag": UNKNOWN_STRING_VALUE}})
    )
    assert run_pack(resources, stack_config={"agentplane:protect": "true"}) == {}
    assert crossguard.plain(unknown_checking_proxy({"a": [UNKNOWN_STRING_VALUE, {"b": UNKNOWN_STRING_VALUE}]})) == {
        "a": [checks.UNKNOWN, {"b": checks.UNKNOWN}]
    }


def test_pack_reports_violations_of_a_broken_set_through_the_engine_interface():
    broken = [r for r in good_set() if not kind_in("LimitRange", "payments")(r)]
    assert run_pack(broken) == {
        "tenant-namespace-isolation": [
            "tenant namespace payments has no LimitRange (pods without requests would be refused by the quota)"
        ]
    }


def test_pack_project_files():
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python" and project["version"]
    # The pack runs in the project's own virtualenv, the one the program runs in (Pulumi.yaml),
    # not in whatever python3 is on PATH.
    program = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]["options"]
    venv = (PACK / project["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (ROOT / program["virtualenv"]).resolve()
    assert project["runtime"]["options"]["toolchain"] == program["toolchain"] == "pip"
    requirements = (PACK / "requirements.txt").read_text().split()
    assert requirements == ["pulumi==3.272.0", "pulumi-policy==1.21.0"]
    main = (PACK / "__main__.py").read_text()
    assert "PolicyPack(" in main and "from crossguard import" in main
    # The checks module stays importable without Pulumi (plain functions over dicts).
    source = (PACK / "checks.py").read_text()
    assert "import pulumi" not in source


def test_the_pack_loads_the_way_pulumi_runs_it(tmp_path):
    # Pulumi's Python policy host runs the pack directory with runpy (pulumi/policy/__main__.py);
    # PolicyPack is replaced by a probe so no analyzer server starts.
    import subprocess
    import sys

    probe = (
        "import pulumi_policy\n"
        "pulumi_policy.PolicyPack = lambda **kw: print(kw['name'], kw['enforcement_level'].value, "
        "*[p.name for p in kw['policies']])\n"
        "import runpy\n"
        f"runpy.run_path({str(PACK)!r}, run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["agentplane", "mandatory", *checks.CHECKS, "protected-resources"]


def test_the_root_ca_key_is_kept_and_its_certificate_can_renew():
    """The key signs every platform certificate: protected in a protected environment. The
    certificate renews by replacement (pulumi-tls earlyRenewalHours;
    hashicorp/terraform-provider-tls internal/provider/common_cert.go), which Pulumi refuses for
    a protected resource (pulumi/pulumi pkg/resource/deploy/step_generator.go), so protecting
    it is the violation."""
    key = res(checks.ROOT_CA_KEY, {"algorithm": "ECDSA", "ecdsaCurve": "P256"}, protect=True, name="root-ca-key")
    cert = res(checks.SELF_SIGNED_CERT, {"isCaCertificate": True, "earlyRenewalHours": 8760}, name="root-ca")
    assert checks.protected_resources([key, cert], protected=True) == []
    unkept_key = dict(key, protect=False)
    (found,) = checks.protected_resources([unkept_key, cert], protected=True)
    assert found.urn == key["urn"] and "signs every certificate" in found.message
    stuck = dict(cert, protect=True)
    (found,) = checks.protected_resources([key, stuck], protected=True)
    assert found.urn == cert["urn"] and "would expire" in found.message
    # A certificate that never renews may be protected.
    assert (
        checks.protected_resources(
            [key, res(checks.SELF_SIGNED_CERT, {"earlyRenewalHours": 0}, protect=True)], protected=True
        )
        == []
    )


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_shipped_root_ca_meets_the_rule(stack):
    from tests.support.plans import example_plan

    doc = example_plan(stack)
    tls_resources = [r for r in doc["resources"] if r["type"] in (checks.ROOT_CA_KEY, checks.SELF_SIGNED_CERT)]
    assert {r["type"] for r in tls_resources} == {checks.ROOT_CA_KEY, checks.SELF_SIGNED_CERT}
    as_pack_sees = [
        res(r["type"], r["inputs"], protect=r["protect"], name=r["urn"].rsplit("::", 1)[-1]) for r in tls_resources
    ]
    assert checks.protected_resources(as_pack_sees, protected=stack == "prod") == []
