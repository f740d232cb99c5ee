"""Output conventions every builder shares: the labels the platform sets, object metadata, and the
security contexts that meet Pod Security `restricted`.

These describe what the platform writes into the cluster, not what an operator configures, so
they live outside the config package. Every helper returns a new dict: builders add to it freely.
"""

from __future__ import annotations

from collections.abc import Mapping

# A Kubernetes object (or Helm values) as builders return it: plain, JSON-serialisable dicts.
Obj = dict

# Platform-owned labels: set by the platform, keyed on by policies, never by tenants.
LABEL_TENANT = "agentplane.io/tenant"
LABEL_TIER = "agentplane.io/tier"
LABEL_AGENT = "agentplane.io/agent"
# On a tenant namespace whose team file says `offboard: true`: its protection is lifted on purpose.
LABEL_OFFBOARDING = "agentplane.io/offboarding"
# On every object the platform declares in a tenant namespace: tenants may neither change nor
# delete such an object, nor put the label on one of their own (ValidatingAdmissionPolicy
# agentplane-tenant-guard, enforced by the API server itself).
LABEL_PLATFORM_OWNED = "agentplane.io/platform-owned"
# On the namespaces the platform itself runs in (components/kube.py `platform_namespace`).
LABEL_PLATFORM = "agentplane.io/platform"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "agentplane"


def labels(
    *, tenant: str | None = None, platform_owned: bool = False, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What every object the platform declares carries (`managed-by: agentplane`), plus the
    tenant it belongs to, the platform-owned mark tenants may not touch, and `extra`."""
    out = {LABEL_MANAGED_BY: MANAGED_BY}
    if tenant is not None:
        out[LABEL_TENANT] = tenant
    if platform_owned:
        out[LABEL_PLATFORM_OWNED] = "true"
    out.update(extra or {})
    return out


def metadata(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> dict:
    """An object's `metadata`: no namespace for a cluster-scoped object; `labels` default to
    `labels()` (managed by agentplane, nothing else)."""
    out: dict = {"name": name}
    if namespace is not None:
        out["namespace"] = namespace
    out["labels"] = dict(labels) if labels is not None else {LABEL_MANAGED_BY: MANAGED_BY}
    return out


# --- Pod Security `restricted` ---------------------------------------------------------------
#
# The Pod Security Standards level every platform and tenant namespace enforces, except where a
# piece says why not: no privilege escalation, every capability dropped, a non-root user and the
# RuntimeDefault seccomp profile, the last two on the pod or on each container. Where the pieces
# differ (who sets the user, a writable root filesystem, chart values against manifests) the
# parameters say so.

RUNTIME_DEFAULT_SECCOMP = "RuntimeDefault"


def restricted_container(
    *,
    read_only_root_filesystem: bool = True,
    run_as_non_root: bool = False,
    run_as_user: int | None = None,
    run_as_group: int | None = None,
    seccomp_profile: bool = False,
) -> dict:
    """A container `securityContext`. `run_as_non_root` and `seccomp_profile` are needed here
    when the pod's context does not set them (an init container injected into tenant pods, a
    chart that takes the container's context alone)."""
    _refuse_root(run_as_user)
    out: dict = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    if read_only_root_filesystem:
        out["readOnlyRootFilesystem"] = True
    if run_as_non_root:
        out["runAsNonRoot"] = True
    if run_as_user is not None:
        out["runAsUser"] = run_as_user
    if run_as_group is not None:
        out["runAsGroup"] = run_as_group
    if seccomp_profile:
        out["seccompProfile"] = {"type": RUNTIME_DEFAULT_SECCOMP}
    return out


def restricted_pod(
    *,
    run_as_non_root: bool = True,
    run_as_user: int | None = None,
    run_as_group: int | None = None,
    fs_group: int | None = None,
) -> dict:
    """A pod `securityContext` with the RuntimeDefault seccomp profile; `run_as_non_root=False`
    only where every container sets it itself."""
    _refuse_root(run_as_user)
    out: dict = {"seccompProfile": {"type": RUNTIME_DEFAULT_SECCOMP}}
    if run_as_non_root:
        out["runAsNonRoot"] = True
    if run_as_user is not None:
        out["runAsUser"] = run_as_user
    if run_as_group is not None:
        out["runAsGroup"] = run_as_group
    if fs_group is not None:
        out["fsGroup"] = fs_group
    return out


def _refuse_root(run_as_user: int | None) -> None:
    # `restricted` refuses user 0 whatever runAsNonRoot says; better here than at admission.
    if run_as_user == 0:
        raise ValueError("a restricted security context may not run as user 0")
