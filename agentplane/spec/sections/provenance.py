"""Environment settings for image provenance and guardrails (key `agentplane:provenance`)."""

from __future__ import annotations

from agentplane.spec.base import StrictModel


class ProvenanceConfig(StrictModel):
    pass
