"""Environment settings for workload identity, which SPIRE provides (key `agentplane:spire`).

The piece is named workload identity everywhere (this module, builders, components) but its
stack-config key stays `agentplane:spire` and EnvironmentConfig's field stays `spire`: every
existing stack file sets that key, and renaming it would make each of them invalid.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field

from agentplane.config.base import DnsLabel, StrictModel
from agentplane.config.sections.certificates import GoDuration, pinned_chart
from agentplane.config.sections.charts import ChartSource

if TYPE_CHECKING:
    from agentplane.config.environment import EnvironmentConfig

SPIRE_REPOSITORY = "https://spiffe.github.io/helm-charts-hardened/"
SPIRE_CRDS_CHART = ChartSource(repository=SPIRE_REPOSITORY, chart="spire-crds", version="0.6.0")
SPIRE_CHART = ChartSource(repository=SPIRE_REPOSITORY, chart="spire", version="0.30.0")  # SPIRE 1.15.3

# The SPIFFE spec: a trust domain name is lowercase letters, digits, '.', '-' and '_'.
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]{1,255}$")
# The chart's placeholder; its strict mode (on with the recommended settings) refuses to install with it.
_CHART_PLACEHOLDER_DOMAIN = "example.org"


def _trust_domain(value: str) -> str:
    if value.startswith("spiffe://"):
        raise ValueError(f"{value!r}: give the trust domain name only, without the spiffe:// scheme")
    if not _TRUST_DOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a SPIFFE trust domain: use 1-255 lowercase letters, digits, '.', '-' and '_' "
            "(for example prod.agentplane.example.com)"
        )
    if value == _CHART_PLACEHOLDER_DOMAIN:
        raise ValueError(f"{value!r} is the SPIRE chart's placeholder; choose the environment's own trust domain")
    return value


TrustDomain = Annotated[str, Field(strict=True), AfterValidator(_trust_domain)]

_CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


def _cluster_name(value: str) -> str:
    if not _CLUSTER_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a cluster name: use 1-63 lowercase letters, digits, '.', '-' and '_', "
            "starting and ending with a letter or digit"
        )
    return value


ClusterName = Annotated[str, Field(strict=True), AfterValidator(_cluster_name)]


class CaSubject(StrictModel):
    """Subject of SPIRE's own signing CA (informational; the chart's strict mode refuses its placeholders)."""

    # ISO 3166 "ZZ": unknown or unspecified country.
    country: Annotated[str, Field(strict=True, pattern=r"^[A-Z]{2}$")] = "ZZ"
    """Subject country of SPIRE's own signing CA (informational). Default: `ZZ` (ISO 3166 "unspecified")."""
    organization: Annotated[str, Field(strict=True, min_length=1, max_length=64)] = "agentplane"
    """Subject organization of SPIRE's signing CA."""
    # Absent: the trust domain.
    common_name: Annotated[str, Field(strict=True, min_length=1, max_length=64)] | None = None
    """Subject common name of SPIRE's signing CA. Default: the trust domain."""


class SvidTtl(StrictModel):
    """Upper bounds on the lifetime of the SVIDs a tier's agents get (Go durations)."""

    x509_svid_ttl: GoDuration | None = None
    """Per-tier override of `x509SvidTtl`; the tier must be one of `agentplane:tiers`. Default: `x509SvidTtl`."""
    jwt_svid_ttl: GoDuration | None = None
    """Per-tier override of `jwtSvidTtl`. Default: `jwtSvidTtl`."""


class WorkloadIdentityConfig(StrictModel):
    """SPIRE, which gives every agent its SPIFFE identity (`agentplane:spire`)."""

    # A trust domain names one trust root: give every environment its own (the example stacks
    # do), so environments never share a name and can federate by name later. Other pieces
    # (the gateway's SPIFFE callers) read this field as is.
    trust_domain: TrustDomain = "agentplane.local"
    """The SPIFFE trust domain: lowercase letters, digits, `.`, `-`, `_`; no `spiffe://`. A trust domain names one trust
    root, so give every environment its own (the example stacks use `dev.agentplane.local`,
    `staging.agentplane.example.com`, `prod.agentplane.example.com`): environments then never share a name and can later
    federate by name. Changing it re-issues every SVID."""
    # Name of this cluster in SPIRE's Kubernetes node attestation. Absent: the stack name.
    cluster_name: ClusterName | None = None
    """This cluster's name in SPIRE's Kubernetes node attestation. Default: the stack name."""
    # Defaults for every tier: SPIRE's own defaults for X.509-SVIDs, and short-lived JWT-SVIDs
    # because agents present them as bearer tokens.
    x509_svid_ttl: GoDuration = "1h"
    """Upper bound on an agent's X.509-SVID lifetime, every tier."""
    jwt_svid_ttl: GoDuration = "5m"
    """Upper bound on a JWT-SVID's lifetime (short: agents send them as bearer tokens)."""
    # Per-tier overrides, keyed by tier name (agentplane:tiers).
    tiers: dict[DnsLabel, SvidTtl] = {}
    ca_subject: CaSubject = CaSubject()
    crds_chart: pinned_chart(SPIRE_CRDS_CHART) = SPIRE_CRDS_CHART  # type: ignore[valid-type]
    chart: pinned_chart(SPIRE_CHART) = SPIRE_CHART  # type: ignore[valid-type]

    def resolved_cluster_name(self, stack: str) -> str:
        return self.cluster_name or stack.lower()

    def ttl_for(self, tier: str) -> tuple[str, str]:
        """(X.509-SVID TTL, JWT-SVID TTL) of a tier's agents."""
        override = self.tiers.get(tier, SvidTtl())
        return override.x509_svid_ttl or self.x509_svid_ttl, override.jwt_svid_ttl or self.jwt_svid_ttl


def check_environment(env: EnvironmentConfig) -> list[tuple[str, str]]:
    """The environment-level counterpart of a section's `check_team`: (field, message) pairs for
    cross-checks against the rest of the stack config. Per-tier settings must name existing tiers."""
    tier_names = [t.name for t in env.tiers]
    return [
        (f"spire.tiers.{name}", f"unknown tier {name!r} (tiers: {', '.join(tier_names)})")
        for name in env.spire.tiers
        if name not in tier_names
    ]
