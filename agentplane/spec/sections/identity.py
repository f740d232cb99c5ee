"""Environment settings for Keycloak and the platform realm (key `agentplane:identity`)."""

from __future__ import annotations

from agentplane.spec.base import StrictModel


class IdentityConfig(StrictModel):
    hostname: str = "keycloak.localtest.me"
    realm: str = "agentplane"
