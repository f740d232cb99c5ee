"""Cluster pieces the platform adopts instead of installing (key `agentplane:adopt`).

Since pulumi-kubernetes 4.29 a create never takes over an object that already exists, so on a
cluster that already runs the Gateway API CRDs (GKE, Cilium, Istio) or cert-manager the first
`pulumi up` would fail with "already exists". Naming them here makes the program skip them and
use what the cluster has; the operator vouches for the versions (see docs/operations.md).
"""

from __future__ import annotations

from pydantic import Field

from agentplane.config.base import DnsLabel, StrictModel


class AdoptedCertManager(StrictModel):
    """A cert-manager the cluster already runs (v1.21 or compatible: the platform's objects use cert-manager.io/v1)."""

    # Where its ClusterIssuers read their Secrets (its --cluster-resource-namespace, by default
    # the namespace it runs in): the platform root CA's Secret goes there.
    cluster_resource_namespace: DnsLabel = "cert-manager"
    """Where the cluster's cert-manager ClusterIssuers read Secrets (its `--cluster-resource-namespace`): the root CA
    Secret goes there."""


class AdoptConfig(StrictModel):
    # The cluster's own Gateway API standard CRDs (v1.6.1 or newer) instead of the pinned manifest.
    gateway_api_crds: bool = Field(default=False, strict=True)
    """The cluster already runs the Gateway API standard CRDs (v1.6.1 or newer): the program does not install them."""
    cert_manager: AdoptedCertManager | None = None
    """The cluster already runs cert-manager: the program does not install it, and puts the root CA Secret in
    `{clusterResourceNamespace}` (default `cert-manager`), where its ClusterIssuers read Secrets."""

    def messages(self) -> list[str]:
        """What `pulumi up` says it skips, and what the operator then guarantees."""
        out = []
        if self.gateway_api_crds:
            out.append(
                "adopt.gatewayApiCrds: the Gateway API CRDs are not installed by this program; the cluster's own "
                "(standard channel, v1.6.1 or newer) must serve gateway.networking.k8s.io/v1"
            )
        if self.cert_manager is not None:
            out.append(
                "adopt.certManager: cert-manager is not installed by this program; the cluster's own must serve "
                f"cert-manager.io/v1 and read ClusterIssuer Secrets from {self.cert_manager.cluster_resource_namespace}"
            )
        return out
