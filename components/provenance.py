"""Provenance and guardrails: Kyverno, image verification per tier, tier labels, tenant guardrails."""

from __future__ import annotations

import pulumi

from agentplane.spec.platform import PlatformSpec
from components.tenants import Tenants


class Provenance(pulumi.ComponentResource):
    def __init__(self, name: str, spec: PlatformSpec, tenants: Tenants, opts: pulumi.ResourceOptions):
        super().__init__("agentplane:index:Provenance", name, None, opts)
        self.register_outputs({})
