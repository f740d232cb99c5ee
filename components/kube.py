"""Registering builder output (plain dicts) as Kubernetes resources, and the stack's provider."""

from __future__ import annotations

import contextlib
import re
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from agentplane.builders.releases import release_policy
from agentplane.config.platform import PlatformSpec
from agentplane.config.sections.charts import ChartSource
from agentplane.manifest import LABEL_PLATFORM, labels, metadata

# API group -> pulumi_kubernetes module holding its typed resources. Kinds outside these are
# registered as CustomResource (their CRDs come from the charts this program installs).
_TYPED_GROUPS = {
    "": "core",
    "apps": "apps",
    "batch": "batch",
    "networking.k8s.io": "networking",
    "rbac.authorization.k8s.io": "rbac",
    "policy": "policy",
    "admissionregistration.k8s.io": "admissionregistration",
    "scheduling.k8s.io": "scheduling",
    "storage.k8s.io": "storage",
}


def kubernetes_provider(spec: PlatformSpec) -> k8s.Provider:
    """The one explicit provider of a stack: never the ambient kubeconfig default."""
    cluster = spec.env.cluster
    return k8s.Provider(
        "kubernetes",
        context=cluster.context,
        kubeconfig=cluster.kubeconfig,
        # Server-side apply makes a field another manager owns a conflict instead of a silent
        # overwrite. Previews dry-run updates only: a create, and the first update after it,
        # show their conflicts at `pulumi up`.
        enable_server_side_apply=True,
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def resource_name(obj: dict) -> str:
    """A readable logical name: kind, namespace and name, unique within one component."""
    meta = obj["metadata"]
    parts = [obj["kind"].lower(), meta.get("namespace"), meta["name"]]
    return "-".join(p for p in parts if p)


class DuplicateObject(Exception):
    """Two parts of the program would declare the same Kubernetes object."""


# (apiVersion, kind, namespace, name) -> the logical name that claimed it, for this program run.
_claimed: dict[tuple[str, str, str, str], str] = {}


# The offline plan (and so `agentplane validate`) lets a duplicate through and reports every
# one after the run, with the team files and fields that derive the name
# (agentplane.derived); under `pulumi up` the first duplicate stops the program.
_report_later = False


def start_run() -> None:
    """Forget claims of an earlier run in this process (the offline plan runs the program repeatedly)."""
    _claimed.clear()


@contextlib.contextmanager
def duplicates_reported_after_run():
    global _report_later
    previous, _report_later = _report_later, True
    try:
        yield
    finally:
        _report_later = previous


def register(prefix: str, obj: dict, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Register one Kubernetes object built as a dict, named `<prefix>-<kind>-<namespace>-<name>`.

    Two registrations of the same object (say, two teams whose generated names coincide)
    would silently fight over it in the cluster; that is an error here instead.
    """
    api_version, kind = obj["apiVersion"], obj["kind"]
    identity = (api_version, kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
    owner = f"{prefix}-{resource_name(obj)}"
    if identity in _claimed and not _report_later:
        where = f"{identity[2]}/{identity[3]}" if identity[2] else identity[3]
        raise DuplicateObject(
            f"{kind} {where} would be declared twice, by {_claimed[identity]} and by {owner}; rename one of them"
        )
    _claimed.setdefault(identity, owner)
    group, _, version = api_version.rpartition("/")
    name = f"{prefix}-{resource_name(obj)}"
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    module_name = _TYPED_GROUPS.get(group)
    if module_name is not None:
        cls = getattr(getattr(getattr(k8s, module_name), version), kind)
        return cls(name, **{_snake(k): v for k, v in fields.items()}, opts=opts)
    return k8s.apiextensions.CustomResource(name, api_version=api_version, kind=kind, **fields, opts=opts)


def platform_namespace(
    prefix: str, name: str, spec: PlatformSpec, opts: pulumi.ResourceOptions, *, pod_security: str = "restricted"
) -> k8s.core.v1.Namespace:
    """A namespace the platform itself runs in. Protected where data lives (`protect: true`).

    `pod_security` is the Pod Security level the piece needs (node agents such as SPIRE's
    need `privileged`); say why wherever it is not `restricted`.
    """
    psa = {f"pod-security.kubernetes.io/{mode}": pod_security for mode in ("enforce", "audit", "warn")}
    own = labels(extra={LABEL_PLATFORM: "true", **psa})
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(name, labels=own)}
    keep = pulumi.ResourceOptions(protect=spec.protect, retain_on_delete=spec.protect)
    return cast(k8s.core.v1.Namespace, register(prefix, obj, pulumi.ResourceOptions.merge(opts, keep)))


def chart_location(source: ChartSource) -> tuple[str, str | None]:
    """(chart, repository URL) as Helm takes them: an OCI chart is a full reference and has no
    repository; a classic chart is a name within its https:// repository."""
    if source.repository.startswith("oci://"):
        return f"{source.repository.rstrip('/')}/{source.chart}", None
    return source.chart, source.repository


def helm_release(
    name: str,
    source: ChartSource,
    namespace: str,
    values: dict,
    opts: pulumi.ResourceOptions,
    *,
    release_name: str | None = None,
) -> pulumi.CustomResource:
    """A pinned Helm release. Values come from a pure builder; the chart is never fetched here.
    `helm.v3.Release` keeps Helm's own lifecycle (hooks, CRDs in crds/, rollback on failure
    where the chart's entry in releases.RELEASES allows it), which is what the upstream charts
    are tested with.
    """
    chart, repository = chart_location(source)
    policy = release_policy(source.chart)
    return k8s.helm.v3.Release(
        name,
        # The Helm release name decides the chart's object names; it may differ from the
        # Pulumi name, which carries the component's prefix.
        name=release_name or name,
        chart=chart,
        version=source.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repository) if repository else None,
        namespace=namespace,
        create_namespace=False,  # namespaces are declared explicitly, with their labels
        values=values,
        # Per chart, with the reason (agentplane/builders/releases.py): long enough for a cold
        # first install, and a rollback only where it is safe.
        timeout=policy.timeout,
        atomic=policy.atomic,
        cleanup_on_fail=policy.atomic,
        max_history=10,
        opts=opts,
    )


def renamed_from(*earlier_types: str) -> pulumi.ResourceOptions:
    """Options for a component whose type token was renamed: an alias per earlier type. Children
    inherit their parent's aliases, so `pulumi up` on a stack made before the rename moves the
    component and everything under it to the new URNs instead of replacing them
    (tests/test_urn_stability.py holds every URN the shipped stacks had)."""
    return pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=earlier) for earlier in earlier_types])
