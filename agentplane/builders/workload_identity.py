"""SPIRE workload identity as plain chart values and ClusterSPIFFEIDs.

Every agent pod in a tenant namespace gets the X.509/JWT SVID
`spiffe://<trust domain>/ns/<namespace>/sa/<service account>` from one ClusterSPIFFEID per
tier, selected by the platform-owned tier label, so tiers can differ (TTLs now, federation
later) without changing any agent's ID.
"""

from __future__ import annotations

from agentplane import namespaces
from agentplane.config.platform import PlatformSpec
from agentplane.manifest import LABEL_TENANT, LABEL_TIER, Obj, labels, metadata

SPIRE_API = "spire.spiffe.io/v1alpha1"
# The controller-manager class: the chart's controller only reconciles ClusterSPIFFEIDs whose
# `className` equals its own. Set explicitly (the chart would derive "<namespace>-<release>")
# so the platform's ClusterSPIFFEIDs and the chart cannot drift apart.
CLASS_NAME = "agentplane"
# Go template the controller renders per pod; the fields are the SPIFFE ID's variable parts.
SPIFFE_ID_TEMPLATE = "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
# How a pod reaches the Workload API: the SPIFFE CSI driver mounts the agent's socket directory.
CSI_DRIVER = "csi.spiffe.io"
WORKLOAD_API_MOUNT = "/spiffe-workload-api"
WORKLOAD_API_SOCKET = f"unix://{WORKLOAD_API_MOUNT}/spire-agent.sock"


def spire_crds_values(spec: PlatformSpec) -> dict:
    """The spire-crds chart only installs CRDs; it takes no settings."""
    return {}


def spire_values(spec: PlatformSpec) -> dict:
    """Values of the `spire` umbrella chart (server, agent, CSI driver, OIDC discovery provider)."""
    config = spec.env.spire
    trust_domain = config.trust_domain
    subject = config.ca_subject
    return {
        "global": {
            "spire": {
                "trustDomain": trust_domain,
                "clusterName": config.resolved_cluster_name(spec.stack),
                "caSubject": {
                    "country": subject.country,
                    "organization": subject.organization,
                    "commonName": subject.common_name or trust_domain,
                },
                # The chart's production settings: server and node agents in separate namespaces,
                # hardened security contexts, priority classes, metrics ports, and a strict mode
                # that refuses the chart's placeholder trust domain and CA subject.
                "recommendations": {"enabled": True},
                "namespaces": {
                    # The platform creates both namespaces itself, with their Pod Security labels.
                    "create": False,
                    "server": {"name": namespaces.SPIRE_SERVER},
                    "system": {"name": namespaces.SPIRE_SYSTEM},
                },
            },
        },
        "spire-server": {
            "controllerManager": {
                "className": CLASS_NAME,
                # The chart's catch-all ID would give every pod in the cluster an identity; the
                # platform registers tenant agents per tier instead (cluster_spiffe_ids below).
                "identities": {"clusterSPIFFEIDs": {"default": {"enabled": False}}},
            },
        },
        "spiffe-csi-driver": {"enabled": True},
    }


def cluster_spiffe_id(spec: PlatformSpec, tier: str) -> Obj:
    x509_ttl, jwt_ttl = spec.env.spire.ttl_for(tier)
    return {
        "apiVersion": SPIRE_API,
        "kind": "ClusterSPIFFEID",
        "metadata": metadata(f"agentplane-tier-{tier}", labels=labels(extra={LABEL_TIER: tier})),
        "spec": {
            "className": CLASS_NAME,
            "spiffeIDTemplate": SPIFFE_ID_TEMPLATE,
            # Tenant namespaces only; platform namespaces never carry the tenant label.
            "namespaceSelector": {"matchExpressions": [{"key": LABEL_TENANT, "operator": "Exists"}]},
            # Set by admission from the agent's ServiceAccount; tenants cannot set or change it.
            "podSelector": {"matchLabels": {LABEL_TIER: tier}},
            "ttl": x509_ttl,
            "jwtTtl": jwt_ttl,
        },
    }


def cluster_spiffe_ids(spec: PlatformSpec) -> list[Obj]:
    """One per tier of the environment, whether or not a team uses it yet: onboarding a team never changes them."""
    return [cluster_spiffe_id(spec, tier.name) for tier in spec.env.tiers]


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    """The ID an agent gets (what SPIFFE_ID_TEMPLATE renders to), for docs, tests and other pieces' policies."""
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"
