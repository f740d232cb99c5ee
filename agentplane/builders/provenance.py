"""Provenance and guardrails: Kyverno's Helm values and the platform's Kyverno policies.

Pure functions of the spec. The policies themselves are YAML templates in
`policies/templates/`, rendered here with the values the spec resolves (tiers, the
ServiceAccount -> tier map of every agent, signers, builders, admin groups).
"""

from __future__ import annotations

from agentplane import namespaces
from agentplane.builders import telemetry
from agentplane.config.platform import PlatformSpec
from agentplane.config.sections.certificates import PLATFORM_CA_ISSUER
from agentplane.config.sections.provenance import SLSA_PROVENANCE_V1, ProvenanceConfig
from agentplane.config.sections.resilience import kyverno_admission_replicas
from agentplane.manifest import LABEL_AGENT, LABEL_TENANT, LABEL_TIER, Obj, labels
from policies.render import render

PLATFORM_PREFIX = "agentplane.io/"
POD_SECURITY_PREFIX = "pod-security.kubernetes.io/"
KUBE_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
# The cluster's break-glass group: it bypasses RBAC anyway, so exempting it from the
# guardrails takes nothing away, and it keeps a way in if adminGroups is misconfigured.
BREAK_GLASS_GROUP = "system:masters"
# Kinds of the legacy kyverno.io group a tenant must not write either (deprecated, still served).
LEGACY_POLICY_RESOURCES = (
    "clusterpolicies",
    "policies",
    "policyexceptions",
    "cleanuppolicies",
    "clustercleanuppolicies",
    "globalcontextentries",
)
ATTESTATION_NAME = "slsaProvenance"
PROVENANCE_MODES = ("enforce", "audit")

POLICY_AGENT_LABELS = "agentplane-agent-labels"
POLICY_PLATFORM_METADATA = "agentplane-platform-metadata"
POLICY_GUARD = "agentplane-protect-policies"
POLICY_PLATFORM_CA = "agentplane-platform-ca"
POLICY_TELEMETRY_OPT_OUT = "agentplane-telemetry-opt-out"
POLICY_SERVICE_ROUTING = "agentplane-service-routing"

# Who may write Endpoints and EndpointSlices in tenant namespaces: kube-controller-manager's
# endpoints, EndpointSlice and EndpointSlice mirroring controllers. With
# --use-service-account-credentials (kubeadm and managed clusters) each runs as its own
# ServiceAccount in kube-system (the names it passes to ClientBuilder.ClientOrDie); without
# it, as the controller manager's own user.
ENDPOINT_CONTROLLERS = (
    "system:serviceaccount:kube-system:endpoint-controller",
    "system:serviceaccount:kube-system:endpointslice-controller",
    "system:serviceaccount:kube-system:endpointslicemirroring-controller",
    "system:kube-controller-manager",
)


def provenance_policy_name(mode: str) -> str:
    return f"agentplane-provenance-{mode}"


# --- Helm values -------------------------------------------------------------------------


def admission_replicas(spec: PlatformSpec) -> int:
    return kyverno_admission_replicas(spec.env)


def excluded_namespaces() -> list[str]:
    """Namespaces Kyverno never sees: the cluster's own and the platform's. A Kyverno outage
    (its webhooks fail closed) then cannot block the pieces needed to recover from it."""
    return [*KUBE_NAMESPACES, *namespaces.PLATFORM_NAMESPACES]


def kyverno_values(spec: PlatformSpec) -> dict:
    config = spec.env.provenance
    replicas = admission_replicas(spec)
    # The background, cleanup and reports controllers elect a leader; two replicas are enough for HA.
    controller_replicas = 2 if replicas > 1 else 1
    small = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
    return {
        "config": {
            # The API server itself skips these namespaces for every Kyverno webhook,
            # including those Kyverno generates for the policies.kyverno.io kinds.
            "webhooks": {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded_namespaces()}
                    ]
                }
            },
            # ...and the background controller skips them too (work that is not a webhook call).
            "resourceFiltersIncludeNamespaces": list(namespaces.PLATFORM_NAMESPACES),
        },
        "features": {
            # Exceptions are honoured only in the Kyverno namespace, which only platform admins
            # can write to (tenants have no RBAC there, and no verbs on exceptions anywhere).
            "policyExceptions": {"enabled": config.policy_exceptions, "namespace": namespaces.POLICY},
        },
        # The chart aggregates write verbs on every Kyverno policy and PolicyException kind
        # (and on reports) into the built-in `admin`. Tenants hold the platform's own roles
        # (builders/tenants.py, no aggregation), so this reaches no tenant; off all the same,
        # for anyone a cluster operator binds to `admin`.
        "rbac": {"roles": {"aggregate": {"admin": False, "view": True}}},
        "admissionController": {
            "replicas": replicas,
            # The chart's PDB selects the admission pods by its matchLabels (and is on whenever
            # replicas > 1): at most one of them is evicted at a time. The chart's default
            # anti-affinity (preferred, by hostname) stays on.
            "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": max(1, replicas - 1)},
            # Image verification holds registry responses and signatures in memory.
            "container": {"resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}},
        },
        "backgroundController": {"replicas": controller_replicas, "resources": small},
        "cleanupController": {"replicas": controller_replicas, "resources": small},
        "reportsController": {"replicas": controller_replicas, "resources": small},
    }


# --- Policies ----------------------------------------------------------------------------


def agent_tiers(spec: PlatformSpec) -> dict[str, str]:
    """`namespace/serviceaccount` -> tier of every agent: what the tenants builder labels the
    agents' ServiceAccounts with, and what admission copies onto their pods."""
    return {
        f"{team.namespace}/{agent.name}": agent.tier.name
        for team in sorted(spec.teams, key=lambda t: t.namespace)
        for agent in sorted(team.agents, key=lambda a: a.name)
    }


def platform_groups(config: ProvenanceConfig) -> list[str]:
    """Requesters the guardrails do not apply to: platform admins, the break-glass group and
    the service accounts of the platform's own namespaces (Kyverno, the operators)."""
    service_accounts = [f"system:serviceaccounts:{ns}" for ns in namespaces.PLATFORM_NAMESPACES]
    return list(dict.fromkeys([*config.admin_groups, BREAK_GLASS_GROUP, *service_accounts]))


def admin_groups(config: ProvenanceConfig) -> list[str]:
    """Platform admins and the break-glass group: people, whose requests no tenant steers."""
    return list(dict.fromkeys([*config.admin_groups, BREAK_GLASS_GROUP]))


def _selector_tenant_namespaces() -> dict:
    return {
        "matchExpressions": [
            {"key": LABEL_TENANT, "operator": "Exists"},
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded_namespaces()},
        ]
    }


def _selector_non_platform_namespaces() -> dict:
    return {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded_namespaces()}
        ]
    }


def _split_patterns(patterns: tuple[str, ...], prefix: str = "") -> tuple[list[str], list[str]]:
    """(exact values, prefixes): a trailing `*` makes an entry a prefix match."""
    exact = [prefix + p for p in patterns if not p.endswith("*")]
    prefixes = [prefix + p[:-1] for p in patterns if p.endswith("*")]
    return exact, prefixes


def _common_context(spec: PlatformSpec) -> dict:
    return {
        "labels": labels(),
        "tier_label": LABEL_TIER,
        "agent_label": LABEL_AGENT,
        "platform_prefix": PLATFORM_PREFIX,
        "lowest_tier": spec.lowest_tier.name,
        "tenant_namespaces": _selector_tenant_namespaces(),
        "non_platform_namespaces": _selector_non_platform_namespaces(),
        "platform_groups": platform_groups(spec.env.provenance),
        "admin_groups": admin_groups(spec.env.provenance),
        "policy_namespace": namespaces.POLICY,
    }


def provenance_policy(spec: PlatformSpec, mode: str) -> Obj | None:
    """The ImageValidatingPolicy for the tiers whose provenance is `mode`; None when no tier
    uses that mode or no signer is configured (then nothing could be verified; the config
    check refuses enforce tiers without signers, and `pulumi up` refuses no signers at all)."""
    config = spec.env.provenance
    tiers = [t.name for t in spec.env.tiers if t.provenance == mode]
    if not tiers or not config.signers:
        return None
    builders_exact, builders_prefix = _split_patterns(config.builders)
    sources_exact, sources_prefix = _split_patterns(config.source_repositories)
    git_exact, git_prefix = _split_patterns(config.source_repositories, prefix="git+")
    # A resolved git dependency names the ref after the repository: git+<repo>@<ref>.
    git_prefix += [f"{repository}@" for repository in git_exact]
    signers = [
        {"name": f"signer{i}", "keyless": s.keyless, "public_key": s.public_key} for i, s in enumerate(config.signers)
    ]
    agents = agent_tiers(spec)
    return render(
        "image-provenance.yaml.j2",
        **_common_context(spec),
        name=provenance_policy_name(mode),
        mode=mode,
        tiers=tiers,
        agent_tiers=agents,
        agents_in_mode=[key for key, tier in agents.items() if tier in tiers],
        agents_outside_mode=[key for key, tier in agents.items() if tier not in tiers],
        images=list(config.images),
        exempt_images=list(config.exempt_images),
        signers=signers,
        attestation_name=ATTESTATION_NAME,
        predicate_type=SLSA_PROVENANCE_V1,
        builders_exact=builders_exact,
        builders_prefix=builders_prefix,
        sources_exact=sources_exact,
        sources_prefix=sources_prefix,
        git_sources_exact=git_exact,
        git_sources_prefix=git_prefix,
        credentials={"providers": list(config.registry_providers)} if config.registry_providers else None,
        # Registry and transparency-log round trips; the API server's limit is 30s.
        timeout_seconds=15,
    )


def agent_labels_mutation(spec: PlatformSpec) -> Obj:
    return render(
        "agent-labels-mutation.yaml.j2",
        **_common_context(spec),
        name=POLICY_AGENT_LABELS,
        agent_tiers=agent_tiers(spec),
    )


def agent_labels_validation(spec: PlatformSpec) -> Obj:
    return render(
        "agent-labels-validation.yaml.j2",
        **_common_context(spec),
        name=POLICY_AGENT_LABELS,
        agent_tiers=agent_tiers(spec),
    )


def platform_metadata_validation(spec: PlatformSpec) -> Obj:
    return render(
        "platform-metadata.yaml.j2",
        **_common_context(spec),
        name=POLICY_PLATFORM_METADATA,
        namespace_label_prefixes=[PLATFORM_PREFIX, POD_SECURITY_PREFIX],
    )


def policy_guard(spec: PlatformSpec) -> Obj:
    return render(
        "policy-guard.yaml.j2",
        **_common_context(spec),
        name=POLICY_GUARD,
        legacy_policy_resources=list(LEGACY_POLICY_RESOURCES),
    )


def platform_ca_validation(spec: PlatformSpec) -> Obj:
    """Tenants cannot have the platform's ClusterIssuers (the CA, and the ACME issuer of
    `certificates.acme`) sign their certificates."""
    return render(
        "platform-ca.yaml.j2",
        **_common_context(spec),
        name=POLICY_PLATFORM_CA,
        issuer=PLATFORM_CA_ISSUER,
        issuers=list(spec.env.certificates.issuers()),
    )


def service_routing_validation(spec: PlatformSpec) -> Obj:
    """Tenant Services route to the tenant's own pods: the gateway reaches agents by Service name."""
    return render(
        "service-routing.yaml.j2",
        **_common_context(spec),
        name=POLICY_SERVICE_ROUTING,
        endpoint_controllers=list(ENDPOINT_CONTROLLERS),
    )


def opted_out_agents(spec: PlatformSpec) -> list[str]:
    """`namespace/serviceaccount` of every agent whose team file says `instrumentation: false`."""
    return [
        f"{team.namespace}/{agent}"
        for team in sorted(spec.teams, key=lambda t: t.namespace)
        for agent in sorted(telemetry.opted_out_agents(team))
    ]


def telemetry_opt_out_mutation(spec: PlatformSpec) -> Obj | None:
    """Sets the telemetry opt-out annotation on the pods of opted-out agents; None when no agent
    opts out (a policy that never matches would still put a webhook call on every tenant pod).

    A sibling of agentplane-agent-labels rather than part of it: that one is a security guardrail
    (the tier decides network, model and provenance rights) whose patch the validation policy
    mirrors exactly; this one is a telemetry preference, matches only the opted-out agents'
    pods (a matchCondition, so other pods are not patched), and comes and goes with them."""
    opted_out = opted_out_agents(spec)
    if not opted_out:
        return None
    return render(
        "telemetry-opt-out.yaml.j2",
        **_common_context(spec),
        name=POLICY_TELEMETRY_OPT_OUT,
        opted_out=opted_out,
        opt_out_annotations=telemetry.opt_out_annotations(),
    )


def policy_objects(spec: PlatformSpec) -> list[Obj]:
    """Every Kyverno policy of the platform, in a stable order."""
    provenance = [p for p in (provenance_policy(spec, mode) for mode in PROVENANCE_MODES) if p is not None]
    opt_out = telemetry_opt_out_mutation(spec)
    return [
        agent_labels_mutation(spec),
        agent_labels_validation(spec),
        *([opt_out] if opt_out is not None else []),
        platform_metadata_validation(spec),
        policy_guard(spec),
        platform_ca_validation(spec),
        service_routing_validation(spec),
        *provenance,
    ]
