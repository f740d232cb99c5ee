"""Environment settings for SPIRE workload identity (key `agentplane:spire`)."""

from __future__ import annotations

from agentplane.spec.base import StrictModel


class SpireConfig(StrictModel):
    trust_domain: str = "agentplane.local"
