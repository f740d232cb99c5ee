"""The policy pack's checks, as plain functions over the program's resources.

Each check takes a list of resources and returns violations. A resource is a plain dict:

    {"type": "kubernetes:core/v1:Namespace", "urn": "...", "name": "...",
     "props": {...inputs...}, "protect": bool}

which is what both the real engine (`crossguard.py`, under `pulumi preview --policy-pack`)
and the offline plan (`plan.json`, see `from_plan`) provide. Standard library only, so the
pack runs wherever Pulumi runs it, and the tests call these functions directly.

Values Pulumi cannot know during a preview arrive as UNKNOWN; a check never reports a
violation from an unknown value (the same check runs again at `pulumi up`, when it is known).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

UNKNOWN = "[unknown]"
LABEL_TENANT = "agentplane.io/tenant"
LABEL_PLATFORM = "agentplane.io/platform"
# Set on a tenant namespace by the team file's `offboard: true`: its protection is lifted on purpose.
LABEL_OFFBOARDING = "agentplane.io/offboarding"

NAMESPACE = "kubernetes:core/v1:Namespace"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
HELM_RELEASE_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart")
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"

# Workloads: where the pod spec is inside the object.
POD_SPEC_PATHS = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

# Helm charts that install CustomResourceDefinitions: deleting their release deletes every
# custom resource of those kinds, so in a protected environment the release must be protected.
CRD_BEARING_CHARTS = frozenset(
    {
        "cert-manager",
        "kyverno",
        "spire-crds",
        "cloudnative-pg",
        "opentelemetry-operator",
        "agentgateway-crds",
        "gateway-api",
        "gateway-helm",
    }
)
# Data the platform keeps: protected wherever the environment is.
DATA_TYPES = frozenset(
    {
        "kubernetes:postgresql.cnpg.io/v1:Cluster",
        "kubernetes:core/v1:PersistentVolumeClaim",
    }
)
# The platform root CA (pulumi-tls): its key signs every platform certificate, so it is kept;
# its certificate is replaced at renewal, which Pulumi refuses for a protected resource.
ROOT_CA_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED_CERT = "tls:index/selfSignedCert:SelfSignedCert"
# Resources that install CRDs themselves (a component wrapping a CRD-bearing chart).
# The Gateway API CRDs arrive as the pinned upstream manifest (a ConfigFile).
CRD_BEARING_TYPES = frozenset({"kubernetes-cert-manager:index:CertManager", CRD, "kubernetes:yaml/v2:ConfigFile"})

# Subjects that include every tenant whatever the team.
EVERYONE_GROUPS = frozenset({"system:authenticated", "system:unauthenticated", "system:serviceaccounts"})
AGGREGATE_TO_TENANT_ROLES = (
    "rbac.authorization.k8s.io/aggregate-to-admin",
    "rbac.authorization.k8s.io/aggregate-to-edit",
)

_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


class Violation(NamedTuple):
    message: str
    urn: str


Resource = Mapping[str, Any]


# --- reading resources -------------------------------------------------------------------


def from_plan(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The resources of an offline plan (plan.json) in the shape the checks read."""
    return [
        {"type": r["type"], "urn": r["urn"], "name": r["name"], "props": r["inputs"], "protect": r["protect"]}
        for r in doc["resources"]
    ]


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _known(value: Any) -> bool:
    return value is not None and value != UNKNOWN


def _metadata(resource: Resource) -> Mapping[str, Any]:
    meta = _get(resource, "props", "metadata")
    return meta if isinstance(meta, Mapping) else {}


def _labels(resource: Resource) -> Mapping[str, Any]:
    labels = _metadata(resource).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def _of_type(resources: Iterable[Resource], *types: str) -> Iterator[Resource]:
    return (r for r in resources if r["type"] in types)


def tenant_namespaces(resources: Iterable[Resource]) -> dict[str, Resource]:
    """Namespace name -> Namespace resource, for every namespace labeled as a tenant's."""
    found = {}
    for r in _of_type(resources, NAMESPACE):
        name = _metadata(r).get("name")
        if _known(_labels(r).get(LABEL_TENANT)) and _known(name):
            found[name] = r
    return found


def _in_namespace(resources: Iterable[Resource], type_: str, namespace: str) -> list[Resource]:
    return [r for r in _of_type(resources, type_) if _metadata(r).get("namespace") == namespace]


# --- tenant namespaces -------------------------------------------------------------------


def _is_default_deny(policy: Resource) -> bool:
    spec = _get(policy, "props", "spec") or {}
    selector = spec.get("podSelector")
    selects_all = (
        isinstance(selector, Mapping) and not selector.get("matchLabels") and not selector.get("matchExpressions")
    )
    types = set(spec.get("policyTypes") or ())
    return selects_all and {"Ingress", "Egress"} <= types and not spec.get("ingress") and not spec.get("egress")


def tenant_namespace_isolation(resources: Sequence[Resource]) -> list[Violation]:
    """Every tenant namespace: Pod Security `restricted` enforced, a ResourceQuota, a
    LimitRange and a default-deny (ingress and egress) NetworkPolicy."""
    violations = []
    for name, ns in sorted(tenant_namespaces(resources).items()):
        enforce = _labels(ns).get("pod-security.kubernetes.io/enforce")
        if enforce not in ("restricted", UNKNOWN):
            violations.append(
                Violation(
                    f"tenant namespace {name} must enforce Pod Security `restricted` "
                    f"(label pod-security.kubernetes.io/enforce is {enforce!r})",
                    ns["urn"],
                )
            )
        quotas = _in_namespace(resources, RESOURCE_QUOTA, name)
        if not any(_get(q, "props", "spec", "hard") for q in quotas):
            violations.append(Violation(f"tenant namespace {name} has no ResourceQuota with hard limits", ns["urn"]))
        if not _in_namespace(resources, LIMIT_RANGE, name):
            violations.append(
                Violation(
                    f"tenant namespace {name} has no LimitRange (pods without requests would be refused by the quota)",
                    ns["urn"],
                )
            )
        if not any(_is_default_deny(p) for p in _in_namespace(resources, NETWORK_POLICY, name)):
            violations.append(
                Violation(
                    f"tenant namespace {name} has no default-deny NetworkPolicy "
                    "(podSelector {}, policyTypes Ingress and Egress, no rules)",
                    ns["urn"],
                )
            )
    return violations


# --- pinned charts -----------------------------------------------------------------------


def _chart_version(resource: Resource) -> tuple[str, Any]:
    props = resource.get("props") or {}
    if resource["type"] in HELM_RELEASE_TYPES:
        return str(props.get("chart", resource["name"])), props.get("version")
    options = props.get("helmOptions")
    return str(_get(options, "chart") or resource["type"]), _get(options, "version")


def _releases(resources: Iterable[Resource]) -> Iterator[Resource]:
    for r in resources:
        if r["type"] in HELM_RELEASE_TYPES or isinstance(_get(r, "props", "helmOptions"), Mapping):
            yield r


def pinned_chart_versions(resources: Sequence[Resource]) -> list[Violation]:
    """Every Helm release (and every component wrapping one) names an exact chart version:
    not empty, not a range such as ^1.2, ~1.2, >=1.2, 1.x or *."""
    violations = []
    for r in _releases(resources):
        chart, version = _chart_version(r)
        if version == UNKNOWN:
            continue
        if not isinstance(version, str) or not _EXACT_VERSION.match(version):
            violations.append(
                Violation(
                    f"Helm chart {chart} ({r['name']}) must be pinned to an exact version, got {version!r}", r["urn"]
                )
            )
    return violations


# --- images ------------------------------------------------------------------------------


def _mutable(image: Any) -> bool:
    return isinstance(image, str) and _known(image) and image != "" and not _DIGEST.search(image)


def _pod_spec_images(resource: Resource) -> Iterator[tuple[str, Any]]:
    pod_spec = _get(resource.get("props"), *POD_SPEC_PATHS[resource["type"]])
    for list_name in CONTAINER_LISTS:
        for container in _get(pod_spec, list_name) or []:
            if isinstance(container, Mapping):
                yield f"{list_name}[{container.get('name', '?')}]", container.get("image")


def _value_images(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Images a Helm values tree (or a custom resource's spec) sets by mutable tag.

    Best effort, by key name: a string under a key `image`; a mapping under `image` whose
    `tag` is set without a `digest` (a tag left unset means the chart's own default, which the
    platform did not choose); a string under a key `tag` elsewhere."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "image" and isinstance(child, str):
                if _mutable(child):
                    yield here, child
            elif key == "image" and isinstance(child, Mapping):
                tag, digest = child.get("tag"), child.get("digest")
                repository = child.get("repository")
                pinned = _known(digest) and digest or (isinstance(repository, str) and "@sha256:" in repository)
                if isinstance(tag, str) and _known(tag) and tag and "sha256:" not in tag and not pinned:
                    yield f"{here}.tag", tag
                yield from _value_images(
                    {k: v for k, v in child.items() if k not in ("tag", "digest", "repository")}, here
                )
            elif key == "tag" and isinstance(child, str) and _known(child) and child and "sha256:" not in child:
                yield here, child
            else:
                yield from _value_images(child, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _value_images(item, f"{path}[{i}]")


def _is_custom_resource(type_: str) -> bool:
    """`kubernetes:<group>/<version>:<Kind>` of a kind defined by a CRD (not a Kubernetes API group)."""
    if not type_.startswith("kubernetes:") or type_.count(":") != 2:
        return False
    group = type_.split(":")[1].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io") and group != "helm.sh"


def images_pinned_by_digest(resources: Sequence[Resource]) -> list[Violation]:
    """No image by mutable tag where the program sets images: pod specs of the workloads it
    registers, image/tag keys of the Helm values it passes, `image` keys of custom resources."""
    violations = []
    for r in resources:
        type_ = r["type"]
        found: list[tuple[str, Any]] = []
        if type_ in POD_SPEC_PATHS:
            found = [(where, image) for where, image in _pod_spec_images(r) if _mutable(image)]
        elif type_ in HELM_RELEASE_TYPES:
            found = list(_value_images(_get(r, "props", "values") or {}, "values"))
        elif isinstance(_get(r, "props", "helmOptions"), Mapping):
            props = {k: v for k, v in (r.get("props") or {}).items() if k != "helmOptions"}
            found = list(_value_images(props, "")) + list(_value_images(_get(props, "values") or {}, "values"))
        elif _is_custom_resource(type_) and isinstance(_get(r, "props", "spec"), Mapping):
            # e.g. an OpenTelemetryCollector's or an Instrumentation's images.
            found = [
                (w, i) for w, i in _value_images(_get(r, "props", "spec"), "spec") if w.endswith(("image", "image.tag"))
            ]
        for where, image in found:
            violations.append(
                Violation(
                    f"{r['name']}: {where} uses image {image!r} by a mutable tag; pin it by digest (…@sha256:<digest>)",
                    r["urn"],
                )
            )
    return violations


# --- protection --------------------------------------------------------------------------


def _chart_name(resource: Resource) -> str:
    chart, _ = _chart_version(resource)
    return chart.rstrip("/").rsplit("/", 1)[-1]


def must_be_protected(resource: Resource) -> str | None:
    """Why a resource must be protected in a protected environment, or None."""
    type_ = resource["type"]
    labels = _labels(resource)
    if type_ == NAMESPACE and _known(labels.get(LABEL_TENANT)):
        if labels.get(LABEL_OFFBOARDING) == "true":
            return None
        return f"tenant namespace {_metadata(resource).get('name')} holds a team's data"
    if type_ == NAMESPACE and labels.get(LABEL_PLATFORM) == "true":
        return f"platform namespace {_metadata(resource).get('name')} holds the platform's data"
    if type_ in DATA_TYPES:
        return f"{type_.rsplit(':', 1)[-1]} {resource['name']} holds data"
    if type_ == ROOT_CA_KEY:
        return f"key {resource['name']} signs every certificate of the platform CA (a new key invalidates them all)"
    if type_ in CRD_BEARING_TYPES:
        return f"{resource['name']} installs CustomResourceDefinitions"
    if type_ in HELM_RELEASE_TYPES and _chart_name(resource) in CRD_BEARING_CHARTS:
        return f"Helm release {resource['name']} (chart {_chart_name(resource)}) installs CustomResourceDefinitions"
    return None


def protected_resources(resources: Sequence[Resource], *, protected: bool) -> list[Violation]:
    """In a protected environment, namespaces, CRD-bearing releases and data are protected, so
    that a deleted team file or a refactoring makes `pulumi up` fail instead of deleting them."""
    if not protected:
        return []
    violations = []
    for r in resources:
        reason = must_be_protected(r)
        if reason and not r.get("protect"):
            violations.append(
                Violation(
                    f"{reason} and must be protected in this environment (agentplane:protect is true); "
                    "set protect (offboarding a team lifts it through the team file)",
                    r["urn"],
                )
            )
        # pulumi-tls replaces a certificate within earlyRenewalHours of expiry
        # (hashicorp/terraform-provider-tls internal/provider/common_cert.go), and Pulumi refuses
        # to replace a protected resource: such a certificate would expire instead of renewing.
        renewal = _get(r, "props", "earlyRenewalHours")
        if (
            r["type"] == SELF_SIGNED_CERT
            and r.get("protect")
            and (renewal == UNKNOWN or (isinstance(renewal, (int, float)) and renewal > 0))
        ):
            violations.append(
                Violation(
                    f"certificate {r['name']} renews by replacement (earlyRenewalHours), which Pulumi refuses for a "
                    "protected resource, so it would expire instead; protect its key, not the certificate",
                    r["urn"],
                )
            )
    return violations


# --- RBAC --------------------------------------------------------------------------------


def tenant_subjects(resources: Sequence[Resource]) -> tuple[set[str], set[str]]:
    """(groups, namespaces) that identify tenants: the groups bound in tenant namespaces,
    and the tenant namespaces (whose service accounts are tenants too)."""
    namespaces = set(tenant_namespaces(resources))
    groups = set()
    for binding in _of_type(resources, ROLE_BINDING):
        if _metadata(binding).get("namespace") in namespaces:
            for subject in _get(binding, "props", "subjects") or []:
                if isinstance(subject, Mapping) and subject.get("kind") == "Group" and _known(subject.get("name")):
                    groups.add(subject["name"])
    return groups, namespaces


def _tenant_subject(subject: Mapping[str, Any], groups: set[str], namespaces: set[str]) -> str | None:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "Group" and name in groups:
        return f"tenant group {name}"
    if kind == "Group" and name in EVERYONE_GROUPS:
        return f"group {name} (every tenant among others)"
    if (
        kind == "Group"
        and isinstance(name, str)
        and name.startswith("system:serviceaccounts:")
        and name.split(":")[-1] in namespaces
    ):
        return f"every service account of tenant namespace {name.split(':')[-1]}"
    if kind == "ServiceAccount" and subject.get("namespace") in namespaces:
        return f"service account {subject.get('namespace')}/{name}"
    return None


def no_cluster_wide_tenant_rights(resources: Sequence[Resource]) -> list[Violation]:
    """Nothing binds a tenant (a team group, a tenant namespace's service account, or a group
    that contains them all) cluster-wide, and no ClusterRole the program defines aggregates
    into `admin`/`edit`, which tenants hold in their namespaces."""
    groups, namespaces = tenant_subjects(resources)
    violations = []
    for binding in _of_type(resources, CLUSTER_ROLE_BINDING):
        role = _get(binding, "props", "roleRef", "name")
        for subject in _get(binding, "props", "subjects") or []:
            who = _tenant_subject(subject, groups, namespaces) if isinstance(subject, Mapping) else None
            if who:
                violations.append(
                    Violation(
                        f"ClusterRoleBinding {_metadata(binding).get('name')} grants ClusterRole {role} "
                        f"cluster-wide to {who}; bind tenants with RoleBindings in their own namespace",
                        binding["urn"],
                    )
                )
    for role in _of_type(resources, CLUSTER_ROLE):
        labels = _labels(role)
        for label in AGGREGATE_TO_TENANT_ROLES:
            if labels.get(label) == "true":
                violations.append(
                    Violation(
                        f"ClusterRole {_metadata(role).get('name')} aggregates into the "
                        f"`{label.rsplit('-', 1)[-1]}` role that tenants hold in their namespaces; "
                        "grant platform rights with a dedicated role instead",
                        role["urn"],
                    )
                )
    return violations


# --- all together ------------------------------------------------------------------------

CHECKS = {
    "tenant-namespace-isolation": tenant_namespace_isolation,
    "pinned-chart-versions": pinned_chart_versions,
    "images-pinned-by-digest": images_pinned_by_digest,
    "no-cluster-wide-tenant-rights": no_cluster_wide_tenant_rights,
}


def all_violations(resources: Sequence[Resource], *, protected: bool) -> dict[str, list[Violation]]:
    """Every check's violations, keyed by the policy name the pack reports them under."""
    found = {name: check(resources) for name, check in CHECKS.items()}
    found["protected-resources"] = protected_resources(resources, protected=protected)
    return found
