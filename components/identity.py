"""Identity: Keycloak (with its Postgres) and the platform realm, a group per team, a client per agent."""

from __future__ import annotations

import pulumi

from agentplane.spec.platform import PlatformSpec
from components.certificates import Certificates
from components.tenants import Tenants


class Identity(pulumi.ComponentResource):
    def __init__(self, name: str, spec: PlatformSpec, certificates: Certificates, tenants: Tenants, opts: pulumi.ResourceOptions):
        super().__init__("agentplane:index:Identity", name, None, opts)
        self.issuer_url = f"https://{spec.env.identity.hostname}/realms/{spec.env.identity.realm}"
        self.register_outputs({"issuerUrl": self.issuer_url})
