"""Tenant namespaces' settings (`agentplane:tenancy`): RoleBinding group prefix, container
defaults and reserved names. The stack-config key predates the piece's name (`tenants`) and stays
`tenancy`: renaming it would break every existing stack file. The tiers a team is placed in are
`agentplane:tiers` (agentplane/config/environment.py), read by every piece."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from agentplane.config.base import Quantity, StrictModel


class ContainerDefaults(StrictModel):
    """LimitRange defaults so a pod that declares no resources is still admitted under the quota."""

    cpu_request: Quantity = "100m"
    memory_request: Quantity = "128Mi"
    cpu_limit: Quantity = "500m"
    memory_limit: Quantity = "512Mi"


def _group_prefix(value: str) -> str:
    if (
        len(value) > 63
        or not value.isascii()
        or not value.isprintable()
        or any(c.isspace() for c in value)
        or "/" in value
    ):
        raise ValueError(
            "a group prefix is at most 63 printable ASCII characters without whitespace or '/' (for example oidc:)"
        )
    if value.lower().startswith("system:"):
        raise ValueError(f"{value!r}: Kubernetes reserves system: groups; team groups must never look like them")
    return value


# Namespaces the cluster or its distribution already has (kind's local-path-storage, managed
# clusters' add-ons); a team named like one would take it over. A trailing '*' is a prefix.
DEFAULT_RESERVED_NAMESPACES = (
    "default",
    "kube-*",
    "local-path-storage",
    "agentplane",
    "agentplane-*",
    "ingress-nginx",
    "gatekeeper-system",
    "istio-system",
    "calico-system",
    "tigera-operator",
    "openshift",
    "openshift-*",
    "gke-*",
    "gmp-*",
    "aks-*",
    "amazon-*",
    "cattle-*",
)
_RESERVED_NAMESPACE = re.compile(r"^[a-z0-9][-a-z0-9]*\*?$")


def _reserved_namespace(value: str) -> str:
    if len(value) > 63 or not _RESERVED_NAMESPACE.match(value):
        raise ValueError(f"{value!r} is not a namespace name or a prefix ending in '*' (such as kube-*)")
    return value


class TenancyConfig(StrictModel):
    # Kubernetes sees OIDC groups with the API server's --oidc-groups-prefix; RoleBindings must match it.
    group_prefix: Annotated[str, Field(strict=True), AfterValidator(_group_prefix)] = ""
    """Prepended to group names in RoleBindings: match the API server's `--oidc-groups-prefix`."""
    container_defaults: ContainerDefaults = ContainerDefaults()
    """LimitRange defaults of each tenant namespace (`cpuRequest`, `memoryRequest`, `cpuLimit`, `memoryLimit`), capped
    at the quota. Default: `100m`/`128Mi` requests, `500m`/`512Mi` limits."""
    # Names no team may take as its namespace, besides the platform's own (always reserved).
    reserved_namespaces: tuple[Annotated[str, Field(strict=True), AfterValidator(_reserved_namespace)], ...] = (
        DEFAULT_RESERVED_NAMESPACES
    )
    """Namespaces no team may be named like (a trailing `*` is a prefix), besides the platform's own. Default:
    `default`, `kube-*`, `local-path-storage`, the platform's and common distributions' add-on namespaces."""
