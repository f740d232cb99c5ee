"""Where Keycloak is reached: the URLs every piece that talks to it shares (the gateway's JWKS
backend, agents' token endpoint, the realm provider, the admin tunnel), managed or existing."""

from __future__ import annotations

from urllib.parse import urlsplit

from agentplane import namespaces
from agentplane.config.sections.certificates import PLATFORM_CA_ISSUER
from agentplane.config.sections.identity import KEYCLOAK_SERVICE, IdentityConfig

# keycloakx names its objects after fullnameOverride: StatefulSet `keycloak`, Services
# `keycloak-http` (80 http, 8443 https, 9000 management) and `keycloak-headless`.
KEYCLOAK_HTTPS_PORT = 8443
KEYCLOAK_HTTP_PORT = 80


def public_url(config: IdentityConfig) -> str:
    """Keycloak's base URL as clients (and token issuers) see it, without a trailing slash."""
    if config.existing is not None:
        return config.existing.url.rstrip("/")
    return (config.public_url or f"https://{config.hostname}").rstrip("/")


def issuer_url(config: IdentityConfig) -> str:
    """The `iss` of every token of the platform realm."""
    return f"{public_url(config)}/realms/{config.realm}"


def internal_url(config: IdentityConfig) -> str:
    """Where workloads in the cluster reach Keycloak (HTTPS with the platform CA when managed)."""
    if config.existing is not None:
        return public_url(config)
    return f"https://{KEYCLOAK_SERVICE}.{namespaces.IDENTITY}.svc:{KEYCLOAK_HTTPS_PORT}"


def token_url(config: IdentityConfig) -> str:
    return f"{internal_url(config)}/realms/{config.realm}/protocol/openid-connect/token"


def jwks_url(config: IdentityConfig) -> str:
    return f"{internal_url(config)}/realms/{config.realm}/protocol/openid-connect/certs"


def provider_endpoint(config: IdentityConfig) -> tuple[str, str | None]:
    """(url, base_path) for the Keycloak provider: where `pulumi up` reaches the admin API."""
    if config.existing is not None:
        parts = urlsplit(config.existing.url)
        path = parts.path.rstrip("/")
        return f"{parts.scheme}://{parts.netloc}", path or None
    return (config.provider_url or public_url(config)).rstrip("/"), None


def publicly_issued(config: IdentityConfig) -> bool:
    """Whether the public hostname (at the Ingress) presents a public CA's certificate."""
    return config.managed and config.ingress.enabled and config.tls.issuer != PLATFORM_CA_ISSUER


def served_by_platform_ca(config: IdentityConfig, url: str) -> bool:
    """Whether `url` reaches the managed Keycloak over TLS with a platform-CA certificate, so its
    client must be given the platform root (system roots would reject it)."""
    parts = urlsplit(url)
    if not config.managed or parts.scheme != "https":
        return False
    return not (parts.hostname == config.hostname and publicly_issued(config))
