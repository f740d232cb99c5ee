"""Environment settings for cert-manager and the platform CA (key `agentplane:certificates`)."""

from __future__ import annotations

from agentplane.spec.base import StrictModel

# Every component that needs internal TLS asks this ClusterIssuer for certificates.
PLATFORM_CA_ISSUER = "platform-ca"


class CertificatesConfig(StrictModel):
    pass
