"""Tenant namespaces: everything a team gets in one environment, as plain Kubernetes objects."""

from __future__ import annotations

from agentplane import namespaces
from agentplane.builders import provenance, telemetry
from agentplane.builders.gateway.platform import GATEWAY_NAME
from agentplane.builders.identity.keycloak import KEYCLOAK_POD_LABELS
from agentplane.config.platform import PlatformSpec, TeamSpec
from agentplane.manifest import (
    LABEL_AGENT,
    LABEL_OFFBOARDING,
    LABEL_PLATFORM_OWNED,
    LABEL_TENANT,
    LABEL_TIER,
    Obj,
    labels,
    metadata,
)
from agentplane.quantity import parse_quantity
from policies.render import render

# The agent gateway's proxy pods: agentgateway v1.4.1 labels the proxy it deploys for a Gateway
# with its selector labels, among them gateway.networking.k8s.io/gateway-name: <Gateway name>
# (agentgateway/agentgateway@v1.4.1:controller/pkg/helm/agentgateway/templates/_helpers.tpl,
# `kgateway.gateway.selectorLabels`). The controller's own pods do not carry it.
GATEWAY_PROXY_POD_LABELS = {"gateway.networking.k8s.io/gateway-name": GATEWAY_NAME}
# kube-dns (CoreDNS keeps the name and the k8s-app label for compatibility).
DNS_POD_LABELS = {"k8s-app": "kube-dns"}

ROLE_OWNER = "agentplane-tenant-owner"
ROLE_MEMBER = "agentplane-tenant-member"
TENANT_GUARD = "agentplane-tenant-guard"

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
READ_WRITE = READ + WRITE


def _meta(name: str, team: TeamSpec, *, namespaced: bool = True, extra_labels: dict | None = None) -> dict:
    """Every object of a tenant is the team's and platform-owned (the tenant guard keeps it)."""
    own = labels(tenant=team.name, platform_owned=True, extra=extra_labels)
    return metadata(name, team.namespace if namespaced else None, own)


def namespace(team: TeamSpec) -> Obj:
    psa = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    psa |= {f"pod-security.kubernetes.io/{mode}-version": "latest" for mode in ("enforce", "audit", "warn")}
    namespace_labels = {LABEL_TIER: team.tier.name, **psa}
    if team.offboard:
        namespace_labels[LABEL_OFFBOARDING] = "true"  # reviewers and the policy pack see why protection is off
    meta = _meta(team.namespace, team, namespaced=False, extra_labels=namespace_labels)
    # Zero-code instrumentation for every pod of the namespace; an agent opts out on its pods.
    meta["annotations"] = telemetry.namespace_annotations()
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


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
                    "defaultRequest": {
                        "cpu": _at_most(d.cpu_request, cpu_limit),
                        "memory": _at_most(d.memory_request, memory_limit),
                    },
                    "max": {"cpu": team.quota.cpu, "memory": team.quota.memory},
                }
            ]
        },
    }


def _to_pods(namespace: str, pod_labels: dict, ports: tuple[int, ...], protocols: tuple[str, ...] = ("TCP",)) -> dict:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "podSelector": {"matchLabels": dict(pod_labels)},
            }
        ],
        "ports": [{"protocol": protocol, "port": port} for port in ports for protocol in protocols],
    }


def network_policies(team: TeamSpec) -> list[Obj]:
    """Default-deny both ways, then the few allows every agent needs.

    Ingress: only the agent gateway's proxy pods reach a tenant pod (agents and MCP servers
    are called through the gateway, which authenticates the caller and sets the caller
    header); pods of the same namespace do not reach each other. Egress: DNS, the gateway's
    proxy, the telemetry collector and Keycloak, each to its own pods and ports only. External
    egress is deliberately absent: agents reach the internet only through the gateway, which
    enforces the team's egress list.
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
            "metadata": _meta("allow-dns", team),
            "spec": {
                **everything,
                "policyTypes": ["Egress"],
                "egress": [_to_pods("kube-system", DNS_POD_LABELS, (53,), ("UDP", "TCP"))],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("allow-platform", team),
            "spec": {
                **everything,
                "policyTypes": ["Ingress", "Egress"],
                # The gateway's proxy forwards callers to agents and MCP servers; nothing else
                # (not the gateway's controller, not the team's own pods) reaches them.
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": namespaces.GATEWAY}
                                },
                                "podSelector": {"matchLabels": dict(GATEWAY_PROXY_POD_LABELS)},
                            }
                        ]
                    }
                ],
                "egress": [
                    _to_pods(namespaces.GATEWAY, GATEWAY_PROXY_POD_LABELS, namespaces.GATEWAY_PORTS),
                    _to_pods(namespaces.TELEMETRY, telemetry.COLLECTOR_POD_LABELS, namespaces.TELEMETRY_PORTS),
                    _to_pods(namespaces.IDENTITY, KEYCLOAK_POD_LABELS, namespaces.IDENTITY_PORTS),
                ],
            },
        },
    ]


def telemetry_backend_policy(team: TeamSpec) -> Obj | None:
    """When the team's own OTLP backend is a Service of its namespace: ingress from the gateway
    collector's pods to the team's pods on the endpoint's port, TCP, and nothing else.

    The collector delivers to the pods behind the Service on their own port: a NetworkPolicy
    port is the pod's, so the Service must expose the pods' port (no different targetPort)."""
    port = telemetry.in_namespace_backend(team)
    if port is None:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("allow-telemetry-backend", team),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespaces.TELEMETRY}},
                            "podSelector": {"matchLabels": dict(telemetry.COLLECTOR_POD_LABELS)},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": port}],
                }
            ],
        },
    }


def tenant_cluster_roles() -> list[Obj]:
    """What team owners and members may do in their namespace (RoleBindings per team).

    Custom roles instead of the built-in admin/edit: those aggregate whatever any installed
    chart labels aggregate-to-edit/admin, and Kubernetes' own aggregate-to-edit grants writes on
    NetworkPolicies, ServiceAccount impersonation and token minting. These roles have no
    aggregationRule, so nothing installed later widens them. Left out on purpose:
    * NetworkPolicies, ResourceQuotas, LimitRanges, Roles/RoleBindings, Instrumentations: read only
      (the platform declares them; team membership changes in the team file);
    * Endpoints/EndpointSlices (Kubernetes' controllers write them from a Service's selector);
    * serviceaccounts impersonate, serviceaccounts/token, bind, escalate: escalations;
    * pods/attach, pods/portforward, pods/proxy, services/proxy: paths into a pod that do not
      pass the pod's NetworkPolicies;
    * Ingresses and Gateway API routes: agents are exposed through the platform gateway only;
    * cert-manager kinds: TLS ends at the gateway.
    pods/exec is granted: a member can already run any code under the team's ServiceAccounts.
    """

    def rule(group: str, resources: tuple[str, ...], verbs: tuple[str, ...]) -> dict:
        return {"apiGroups": [group], "resources": list(resources), "verbs": list(verbs)}

    member_rules = [
        rule("", ("pods", "services", "configmaps", "secrets", "persistentvolumeclaims"), READ_WRITE),
        rule("", ("pods/log",), READ),
        # kubectl exec: POST is `create`; the WebSocket upgrade is a GET.
        rule("", ("pods/exec",), ("create", "get")),
        # kubectl debug; ephemeral containers pass image provenance like any other container.
        rule("", ("pods/ephemeralcontainers",), ("get", "patch", "update")),
        rule("", ("serviceaccounts", "events", "endpoints", "resourcequotas", "limitranges", "pods/status"), READ),
        rule("", ("namespaces",), ("get",)),
        rule("apps", ("deployments", "statefulsets", "replicasets"), READ_WRITE),
        rule("apps", ("deployments/scale", "statefulsets/scale", "replicasets/scale"), ("get", "patch", "update")),
        rule("batch", ("jobs", "cronjobs"), READ_WRITE),
        rule("autoscaling", ("horizontalpodautoscalers",), READ_WRITE),
        rule("policy", ("poddisruptionbudgets",), READ_WRITE),
        rule("discovery.k8s.io", ("endpointslices",), READ),
        rule("networking.k8s.io", ("networkpolicies",), READ),
        rule("rbac.authorization.k8s.io", ("roles", "rolebindings"), READ),
        rule("opentelemetry.io", ("instrumentations",), READ),
        # Why a pod was admitted in an audit tier: Kyverno's policy reports.
        rule("wgpolicyk8s.io", ("policyreports",), READ),
    ]
    owner_rules = [
        *member_rules,
        # Their own ServiceAccounts (pods under them run at the lowest tier); the agents'
        # ServiceAccounts are platform-owned and refused by the tenant guard.
        rule("", ("serviceaccounts",), WRITE),
        rule("authorization.k8s.io", ("localsubjectaccessreviews",), ("create",)),
    ]

    def cluster_role(name: str, rules: list[dict]) -> Obj:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": metadata(name),
            "rules": rules,
        }

    return [cluster_role(ROLE_OWNER, owner_rules), cluster_role(ROLE_MEMBER, member_rules)]


def role_bindings(team: TeamSpec, spec: PlatformSpec) -> list[Obj]:
    prefix = spec.env.tenancy.group_prefix

    def binding(name: str, role: str, groups: tuple[str, ...]) -> Obj:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(name, team),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": prefix + g} for g in groups
            ],
        }

    bindings = [binding("tenant-owners", ROLE_OWNER, team.owners)]
    if team.members:
        bindings.append(binding("tenant-members", ROLE_MEMBER, team.members))
    return bindings


def service_accounts(team: TeamSpec) -> list[Obj]:
    # The ServiceAccount is the agent's identity (its SPIFFE ID and OIDC client); its tier label is
    # what admission copies onto the agent's pods.
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(agent.name, team, extra_labels={LABEL_AGENT: agent.name, LABEL_TIER: agent.tier.name}),
            "automountServiceAccountToken": False,
        }
        for agent in team.agents
    ]


def tenant_objects(team: TeamSpec, spec: PlatformSpec) -> list[Obj]:
    """Everything in one team's namespace, the Namespace first."""
    backend_policy = telemetry_backend_policy(team)
    return [
        namespace(team),
        resource_quota(team),
        limit_range(team, spec),
        *network_policies(team),
        *([backend_policy] if backend_policy is not None else []),
        *role_bindings(team, spec),
        *service_accounts(team),
    ]


# kube-controller-manager's clean-up after a deleted namespace or owner
# (kubernetes/kubernetes@v1.34.11:plugin/pkg/auth/authorizer/rbac/bootstrappolicy/controller_policy.go
# names the ServiceAccounts; without --use-service-account-credentials it is the manager's own user).
CLEANUP_CONTROLLERS = (
    "system:serviceaccount:kube-system:namespace-controller",
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:kube-controller-manager",
)


def tenant_guard(spec: PlatformSpec) -> list[Obj]:
    """The ValidatingAdmissionPolicy that keeps platform-owned objects and NetworkPolicies in
    tenant namespaces the platform's, and its binding (Deny: refused, not merely reported)."""
    policy = render(
        "tenant-guard.yaml.j2",
        name=TENANT_GUARD,
        labels=labels(),
        tenant_namespaces={"matchExpressions": [{"key": LABEL_TENANT, "operator": "Exists"}]},
        # The requesters every guardrail trusts: one list, shared with the Kyverno policies.
        platform_groups=provenance.platform_groups(spec.env.provenance),
        cleanup_controllers=list(CLEANUP_CONTROLLERS),
        owned_label=LABEL_PLATFORM_OWNED,
    )
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": metadata(TENANT_GUARD),
        "spec": {"policyName": TENANT_GUARD, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def cluster_objects(spec: PlatformSpec) -> list[Obj]:
    """The cluster-scoped objects shared by every tenant: the roles and the tenant guard."""
    return [*tenant_cluster_roles(), *tenant_guard(spec)]
