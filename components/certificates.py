"""Certificates: cert-manager and the platform CA ClusterIssuer every component uses for internal TLS."""

from __future__ import annotations

import pulumi

from agentplane.spec.platform import PlatformSpec
from agentplane.spec.sections.certificates import PLATFORM_CA_ISSUER


class Certificates(pulumi.ComponentResource):
    def __init__(self, name: str, spec: PlatformSpec, opts: pulumi.ResourceOptions):
        super().__init__("agentplane:index:Certificates", name, None, opts)
        self.issuer_name = PLATFORM_CA_ISSUER
        # What every user of the CA depends on explicitly (the ClusterIssuer resource).
        self.ca_issuer: pulumi.Resource | None = None
        self.register_outputs({})
