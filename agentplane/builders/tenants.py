"""Tenant namespaces: everything a team gets in one environment, as plain Kubernetes objects."""

from __future__ import annotations

from agentplane import namespaces
from agentplane.builders import telemetry
from agentplane.quantity import parse_quantity
from agentplane.spec.platform import (
    LABEL_AGENT,
    LABEL_MANAGED_BY,
    LABEL_OFFBOARDING,
    LABEL_TENANT,
    LABEL_TIER,
    MANAGED_BY,
    PlatformSpec,
    TeamSpec,
)

Obj = dict


def _meta(name: str, team: TeamSpec, *, namespaced: bool = True, labels: dict | None = None) -> dict:
    meta: dict = {"name": name, "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_TENANT: team.name, **(labels or {})}}
    if namespaced:
        meta["namespace"] = team.namespace
    return meta


def namespace(team: TeamSpec) -> Obj:
    psa = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    psa |= {f"pod-security.kubernetes.io/{mode}-version": "latest" for mode in ("enforce", "audit", "warn")}
    labels = {LABEL_TIER: team.tier.name, **psa}
    if team.offboard:
        labels[LABEL_OFFBOARDING] = "true"  # reviewers and the policy pack see why protection is off
    metadata = _meta(team.namespace, team, namespaced=False, labels=labels)
    # Zero-code instrumentation for every pod of the namespace; an agent opts out on its pods.
    metadata["annotations"] = telemetry.namespace_annotations()
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def resource_quota(team: TeamSpec) -> Obj:
    quota = team.quota
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta("tenant-quota", team),
        "spec": {
            "hard": {
                "requests.cpu": quota.cpu,
                "limits.cpu": quota.cpu,
                "requests.memory": quota.memory,
                "limits.memory": quota.memory,
                "pods": quota.pods,
            }
        },
    }


def _at_most(default: str, ceiling: str) -> str:
    return default if parse_quantity(default) <= parse_quantity(ceiling) else ceiling


def limit_range(team: TeamSpec, spec: PlatformSpec) -> Obj:
    # With limits.* in the quota, a pod without requests/limits would be rejected; these defaults
    # admit it. Defaults never exceed the quota, or every defaulted pod would be refused.
    d = spec.env.tenancy.container_defaults
    cpu_limit = _at_most(d.cpu_limit, team.quota.cpu)
    memory_limit = _at_most(d.memory_limit, team.quota.memory)
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta("tenant-defaults", team),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": cpu_limit, "memory": memory_limit},
                    "defaultRequest": {"cpu": _at_most(d.cpu_request, cpu_limit), "memory": _at_most(d.memory_request, memory_limit)},
                    "max": {"cpu": team.quota.cpu, "memory": team.quota.memory},
                }
            ]
        },
    }


def _to_namespace(name: str, ports: tuple[int, ...]) -> dict:
    return {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}],
        "ports": [{"protocol": "TCP", "port": port} for port in ports],
    }


def network_policies(team: TeamSpec) -> list[Obj]:
    """Default-deny both ways, then the few allows every agent needs.

    External egress is deliberately absent: agents reach the internet only through the
    platform gateway, which enforces the team's egress list.
    """
    everything = {"podSelector": {}}
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("default-deny", team),
            "spec": {**everything, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("allow-same-namespace", team),
            "spec": {
                **everything,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("allow-dns", team),
            "spec": {
                **everything,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("allow-platform", team),
            "spec": {
                **everything,
                "policyTypes": ["Ingress", "Egress"],
                # The gateway forwards agent-to-agent and MCP calls into the namespace.
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespaces.GATEWAY}}}]}],
                "egress": [
                    _to_namespace(namespaces.GATEWAY, namespaces.GATEWAY_PORTS),
                    _to_namespace(namespaces.TELEMETRY, namespaces.TELEMETRY_PORTS),
                    _to_namespace(namespaces.IDENTITY, namespaces.IDENTITY_PORTS),
                ],
            },
        },
    ]


def role_bindings(team: TeamSpec, spec: PlatformSpec) -> list[Obj]:
    prefix = spec.env.tenancy.group_prefix

    def binding(name: str, role: str, groups: tuple[str, ...]) -> Obj:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(name, team),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": prefix + g} for g in groups],
        }

    bindings = [binding("tenant-owners", "admin", team.owners)]
    if team.members:
        bindings.append(binding("tenant-members", "edit", team.members))
    return bindings


def service_accounts(team: TeamSpec) -> list[Obj]:
    # The ServiceAccount is the agent's identity (its SPIFFE ID and OIDC client); its tier label is
    # what admission copies onto the agent's pods.
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(agent.name, team, labels={LABEL_AGENT: agent.name, LABEL_TIER: agent.tier.name}),
            "automountServiceAccountToken": False,
        }
        for agent in team.agents
    ]


def tenant_objects(team: TeamSpec, spec: PlatformSpec) -> list[Obj]:
    """Everything in one team's namespace, the Namespace first."""
    return [
        namespace(team),
        resource_quota(team),
        limit_range(team, spec),
        *network_policies(team),
        *role_bindings(team, spec),
        *service_accounts(team),
    ]
