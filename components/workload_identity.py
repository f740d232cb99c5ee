"""Workload identity: SPIRE, the SPIFFE CSI driver and a ClusterSPIFFEID per tier."""

from __future__ import annotations

import pulumi

from agentplane.spec.platform import PlatformSpec
from components.certificates import Certificates
from components.tenants import Tenants


class WorkloadIdentity(pulumi.ComponentResource):
    def __init__(self, name: str, spec: PlatformSpec, certificates: Certificates, tenants: Tenants, opts: pulumi.ResourceOptions):
        super().__init__("agentplane:index:WorkloadIdentity", name, None, opts)
        self.register_outputs({})
