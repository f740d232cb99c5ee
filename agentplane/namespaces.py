"""The platform's own namespaces and the ports tenants may reach in them.

Tenant NetworkPolicies allow egress to exactly these; team names may not take them.
"""

from __future__ import annotations

CERT_MANAGER = "cert-manager"
IDENTITY = "agentplane-identity"  # Keycloak and its Postgres
DATABASE_OPERATOR = "cnpg-system"  # CloudNativePG operator
SPIRE_SERVER = "spire-server"
SPIRE_SYSTEM = "spire-system"  # SPIRE agents and the SPIFFE CSI driver
GATEWAY = "agentplane-gateway"  # agentgateway and the platform Gateway
TELEMETRY = "agentplane-telemetry"  # OpenTelemetry operator and the gateway collector
POLICY = "kyverno"

PLATFORM_NAMESPACES = (
    CERT_MANAGER,
    IDENTITY,
    DATABASE_OPERATOR,
    SPIRE_SERVER,
    SPIRE_SYSTEM,
    GATEWAY,
    TELEMETRY,
    POLICY,
)
# Names a team may never use as its namespace, whatever the stack config says: the cluster's
# own and the platform's. Operators add their cluster's namespaces in
# `agentplane:tenancy.reservedNamespaces` (defaults in config/environment.py).
RESERVED_NAMES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "agentplane", *PLATFORM_NAMESPACES}
)
RESERVED_PREFIXES = ("kube-", "agentplane-")

# Ports tenants may reach in platform namespaces (the services listen on these).
GATEWAY_PORTS = (80, 443, 8080, 8443)
TELEMETRY_PORTS = (4317, 4318)  # OTLP gRPC and HTTP
# The agent gateway's own telemetry (tenant named per record); only the gateway namespace may send here.
TELEMETRY_GATEWAY_PORTS = (4319, 4320)  # OTLP gRPC and HTTP
IDENTITY_PORTS = (8080, 8443)  # Keycloak token endpoint


def reserved_reason(name: str, configured: tuple[str, ...] = ()) -> str | None:
    """Why `name` may not be a team's namespace; `configured` are the stack's reserved names
    (a trailing '*' makes a prefix)."""
    if name in RESERVED_NAMES:
        return f"{name!r} is reserved for the cluster or the platform"
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"names starting with {prefix!r} are reserved for the cluster or the platform"
    for pattern in configured:
        if pattern.endswith("*") and name.startswith(pattern[:-1]):
            return f"names starting with {pattern[:-1]!r} are reserved in agentplane:tenancy.reservedNamespaces"
        if name == pattern:
            return f"{name!r} is a namespace the cluster already has (agentplane:tenancy.reservedNamespaces)"
    return None
