"""Telemetry: the OpenTelemetry operator, the gateway collector with per-tenant routing, instrumentation."""

from __future__ import annotations

import pulumi

from agentplane.spec.platform import PlatformSpec
from components.certificates import Certificates
from components.tenants import Tenants


class Telemetry(pulumi.ComponentResource):
    def __init__(self, name: str, spec: PlatformSpec, certificates: Certificates, tenants: Tenants, opts: pulumi.ResourceOptions):
        super().__init__("agentplane:index:Telemetry", name, None, opts)
        self.register_outputs({})
