"""Gateway: agentgateway on Gateway API; models, MCP tools and egress with budgets and access control."""

from __future__ import annotations

import pulumi

from agentplane.spec.platform import PlatformSpec
from components.certificates import Certificates
from components.identity import Identity
from components.telemetry import Telemetry
from components.tenants import Tenants


class Gateway(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        certificates: Certificates,
        identity: Identity,
        tenants: Tenants,
        telemetry: Telemetry,
        opts: pulumi.ResourceOptions,
    ):
        super().__init__("agentplane:index:Gateway", name, None, opts)
        self.register_outputs({})
