"""Workload identity: SPIRE, the SPIFFE CSI driver and a ClusterSPIFFEID per tier."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from agentplane import namespaces
from agentplane.builders import workload_identity as build
from agentplane.config.platform import PlatformSpec
from components.kube import helm_release, platform_namespace, register


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    spec: PlatformSpec


class WorkloadIdentity(pulumi.ComponentResource):
    """SPIRE keeps its own signing CA rather than chaining to the platform CA (see
    docs/components/workload-identity.md), so nothing here waits for Certificates."""

    crds: pulumi.Resource
    """The spire-crds Helm release."""
    spire: pulumi.Resource
    """The spire Helm release (server, agents, CSI driver, controller manager)."""
    cluster_spiffe_ids: dict[str, pulumi.Resource]
    """One ClusterSPIFFEID per tier, by name."""
    trust_domain: str
    """The SPIFFE trust domain."""

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        super().__init__("agentplane:index:WorkloadIdentity", name, None, opts)
        config = spec.env.spire
        # CRDs, the trust domain's signing keys and its registration datastore: losing them
        # invalidates every SVID, so protected environments keep them when the code changes.
        keep = {"protect": spec.protect, "retain_on_delete": spec.protect}
        child = pulumi.ResourceOptions(parent=self)

        server_namespace = platform_namespace(name, namespaces.SPIRE_SERVER, spec, child)
        # The SPIRE agent and the SPIFFE CSI driver run on every node: they mount host paths
        # (the agent's socket directory, the kubelet's pod volumes with bidirectional mount
        # propagation) and the CSI driver's container is privileged. `baseline` and
        # `restricted` forbid all of that, so this namespace alone is `privileged`; nothing
        # else runs in it.
        system_namespace = platform_namespace(name, namespaces.SPIRE_SYSTEM, spec, child, pod_security="privileged")

        # Pulumi names carry the component's prefix; the Helm releases keep upstream's names so
        # the chart's objects are the ones SPIRE's docs and runbooks name (`spire-server`, ...).
        self.crds = helm_release(
            f"{name}-spire-crds",
            config.crds_chart,
            namespaces.SPIRE_SERVER,
            build.spire_crds_values(spec),
            pulumi.ResourceOptions(parent=self, depends_on=[server_namespace], **keep),
            release_name="spire-crds",
        )
        self.spire = helm_release(
            f"{name}-spire",
            config.chart,
            namespaces.SPIRE_SERVER,
            build.spire_values(spec),
            pulumi.ResourceOptions(parent=self, depends_on=[self.crds, server_namespace, system_namespace], **keep),
            release_name="spire",
        )
        # After the CRDs (their kind) and the release (its controller and the validating
        # webhook that admits them). Helm's wait is enough here: the controller manager writes
        # its webhook's CA bundle before it serves readiness (spiffe/spire-controller-manager
        # cmd/main.go: webhookManager.Init runs before the manager starts; a failure exits).
        self.cluster_spiffe_ids = {
            obj["metadata"]["name"]: register(
                name, obj, pulumi.ResourceOptions(parent=self, depends_on=[self.crds, self.spire])
            )
            for obj in build.cluster_spiffe_ids(spec)
        }
        self.trust_domain = config.trust_domain
        self.register_outputs({"trustDomain": self.trust_domain, "className": build.CLASS_NAME})
