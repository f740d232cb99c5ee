"""Keycloak itself, as Helm values and Kubernetes objects (pure functions of the spec).

Names here are the contract with the other pieces: the database host and login come from
postgres.py, the cert-manager Certificate's Secret is Keycloak's TLS key pair, and the URLs
clients use are in urls.py. Credentials are parameters (Pulumi secrets at run time), never
values built here.
"""

from __future__ import annotations

from typing import Any

import yaml

from agentplane import namespaces
from agentplane.builders.identity import basic_auth_secret, meta
from agentplane.builders.identity.postgres import DB_CREDENTIALS_SECRET, DB_NAME, DB_OWNER, DB_PORT, DB_SERVICE
from agentplane.builders.identity.urls import KEYCLOAK_HTTP_PORT, KEYCLOAK_HTTPS_PORT, public_url, publicly_issued
from agentplane.builders.releases import PUBLIC_CERTIFICATE_READY_TIMEOUT
from agentplane.config.platform import PlatformSpec
from agentplane.config.sections.certificates import PLATFORM_CA_ISSUER
from agentplane.config.sections.identity import (
    KEYCLOAK_FULLNAME,
    KEYCLOAK_VERSION,
    IdentityConfig,
    keycloak_service_hosts,
)
from agentplane.manifest import Obj, restricted_container, restricted_pod

# keycloakx's selector labels are app.kubernetes.io/name (the chart name, no nameOverride is set)
# and app.kubernetes.io/instance (the release name): codecentric/helm-charts
# charts/keycloakx/templates/_helpers.tpl `keycloak.selectorLabels`. The name alone tells
# Keycloak's pods from Postgres' in the identity namespace.
KEYCLOAK_POD_LABELS = {"app.kubernetes.io/name": "keycloakx"}

ADMIN_SECRET = "keycloak-admin"
ADMIN_USERNAME = "admin"
TLS_CERTIFICATE = "keycloak"
TLS_SECRET = "keycloak-tls"
PUBLIC_TLS_CERTIFICATE = "keycloak-public"
PUBLIC_TLS_SECRET = "keycloak-public-tls"
TLS_MOUNT = "/opt/keycloak/conf/tls"
# What the Ingress publishes: OIDC endpoints, static resources, server metadata (RFC 8414).
PUBLIC_PATHS = ("/realms/", "/resources/", "/.well-known/")

# Paths of keycloakx values that hold Kubernetes types (the chart renders them with toYaml as
# they are): keys below them are Kubernetes SecurityContext fields, not chart options.
KEYCLOAKX_FREE_FORM = ("securityContext", "podSecurityContext", "dbchecker.securityContext")
CHART_FREE_FORM = {"keycloakx": KEYCLOAKX_FREE_FORM}


def admin_credentials(password: Any) -> Obj:
    return basic_auth_secret(ADMIN_SECRET, ADMIN_USERNAME, password)


def certificate_dns_names(config: IdentityConfig) -> list[str]:
    return list(dict.fromkeys([config.hostname, *keycloak_service_hosts()]))


def keycloak_certificate(spec: PlatformSpec) -> Obj:
    """What Keycloak itself serves, to every name it is reached by: always from the platform CA,
    which `pulumi up` and the gateway trust (the root is a Pulumi resource)."""
    config = spec.env.identity
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": meta(TLS_CERTIFICATE),
        "spec": {
            "secretName": TLS_SECRET,
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": PLATFORM_CA_ISSUER},
            "dnsNames": certificate_dns_names(config),
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }


def public_certificate(spec: PlatformSpec) -> Obj | None:
    """The Ingress's certificate for the public hostname when `tls.issuer` is a public (ACME)
    issuer; None when the platform CA signs it too (the Ingress then serves Keycloak's own)."""
    config = spec.env.identity
    if not publicly_issued(config):
        return None
    certificate_meta = meta(PUBLIC_TLS_CERTIFICATE)
    # Pulumi waits for the Certificate's Ready condition (cert-manager.io/v1 CertificateConditionReady,
    # "Ready") before Keycloak's release, and so before the realm: until the ACME order completes
    # the Ingress serves its controller's placeholder certificate, which a provider reaching
    # Keycloak at this hostname (system roots) rejects. A failed order then fails here, by name.
    certificate_meta["annotations"] = {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": str(PUBLIC_CERTIFICATE_READY_TIMEOUT),
    }
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": certificate_meta,
        "spec": {
            "secretName": PUBLIC_TLS_SECRET,
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": config.tls.issuer},
            # A public CA signs public names only.
            "dnsNames": [config.hostname],
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }


def _secret_env(name: str, secret: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def keycloak_env(config: IdentityConfig) -> list[dict]:
    env = [
        # Keycloak 26 creates this (temporary) admin in the master realm on first start.
        _secret_env("KC_BOOTSTRAP_ADMIN_USERNAME", ADMIN_SECRET, "username"),
        _secret_env("KC_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_SECRET, "password"),
        # A fixed frontend URL: every token's `iss` is the public URL, whichever way a request came in.
        {"name": "KC_HOSTNAME", "value": public_url(config)},
        # In-cluster clients (agents, the gateway) use the Service URL for tokens and keys.
        {"name": "KC_HOSTNAME_BACKCHANNEL_DYNAMIC", "value": "true"},
        {"name": "KC_HTTPS_CERTIFICATE_FILE", "value": f"{TLS_MOUNT}/tls.crt"},
        {"name": "KC_HTTPS_CERTIFICATE_KEY_FILE", "value": f"{TLS_MOUNT}/tls.key"},
        # Cluster discovery through the database (Keycloak 26's default stack): no DNS or RBAC setup.
        {"name": "KC_CACHE", "value": "ispn"},
        {"name": "KC_CACHE_STACK", "value": "jdbc-ping"},
    ]
    if config.ingress.enabled:
        env.append({"name": "KC_PROXY_HEADERS", "value": "xforwarded"})
    return env


def _restricted_container(run_as: int) -> dict:
    # Pod Security `restricted` (the identity namespace enforces it). The pod context below sets
    # neither the user nor runAsNonRoot, so each container does; the root filesystem stays writable.
    return restricted_container(
        read_only_root_filesystem=False, run_as_non_root=True, run_as_user=run_as, seccomp_profile=True
    )


def _template_list(items: list[dict]) -> str:
    # keycloakx renders these values through `tpl` as YAML text (see its README, "Usage of the tpl Function").
    return yaml.safe_dump(items, sort_keys=False, default_flow_style=False)


def keycloak_values(spec: PlatformSpec) -> dict:
    config = spec.env.identity
    size = config.keycloak
    service: dict = {"type": config.service.type, "httpsPort": KEYCLOAK_HTTPS_PORT, "httpPort": KEYCLOAK_HTTP_PORT}
    if config.service.type != "ClusterIP":
        if config.service.http_node_port is not None:
            service["httpNodePort"] = config.service.http_node_port
        if config.service.https_node_port is not None:
            service["httpsNodePort"] = config.service.https_node_port
    values: dict = {
        "fullnameOverride": KEYCLOAK_FULLNAME,
        "replicas": size.replicas,
        # By digest when the stack pins one (agentplane:images.keycloak); else the chart's own
        # image (its appVersion, KEYCLOAK_VERSION), which a protected environment refuses.
        **(
            {"image": {"tag": KEYCLOAK_VERSION, "digest": spec.env.images.keycloak}} if spec.env.images.keycloak else {}
        ),
        "command": ["/opt/keycloak/bin/kc.sh", "start"],
        # Served at the root: https://<host>/realms/<realm>/... (the chart's default is /auth).
        "http": {"relativePath": "/", "internalScheme": "HTTPS"},
        "database": {
            "vendor": "postgres",
            "hostname": f"{DB_SERVICE}.{namespaces.IDENTITY}.svc",
            "port": DB_PORT,
            "database": DB_NAME,
            "username": DB_OWNER,
            "existingSecret": DB_CREDENTIALS_SECRET,
            "existingSecretKey": "password",
        },
        # Waits for Postgres to accept connections before Keycloak starts.
        "dbchecker": {"enabled": True, "securityContext": _restricted_container(1000)},
        # Proxy headers are set in extraEnv (only behind an Ingress). The chart emits
        # KC_HTTP_ENABLED from proxy.http.enabled (true by default, whatever proxy.enabled says),
        # so the plain-HTTP listener is switched here and nowhere else.
        "proxy": {"enabled": False, "http": {"enabled": config.http_enabled}},
        "cache": {"stack": "custom"},
        "extraEnv": _template_list(keycloak_env(config)),
        "extraVolumes": _template_list([{"name": "tls", "secret": {"secretName": TLS_SECRET}}]),
        "extraVolumeMounts": _template_list([{"name": "tls", "mountPath": TLS_MOUNT, "readOnly": True}]),
        "podSecurityContext": restricted_pod(run_as_non_root=False, fs_group=1000),
        "securityContext": _restricted_container(1000),
        "resources": {"requests": {"cpu": size.cpu, "memory": size.memory}, "limits": {"memory": size.memory}},
        "service": service,
    }
    if config.ingress.enabled:
        ingress: dict = {
            "enabled": True,
            "servicePort": "https",
            "annotations": dict(config.ingress.annotations),
            # Only the paths clients need (Keycloak's "exposed path recommendations",
            # keycloak.org/server/reverseproxy): never /admin/, so the admin API and console
            # are not public; `pulumi up` reaches them privately (identity.providerUrl).
            "rules": [{"host": config.hostname, "paths": [{"path": p, "pathType": "Prefix"} for p in PUBLIC_PATHS]}],
            "tls": [
                {"hosts": [config.hostname], "secretName": PUBLIC_TLS_SECRET if publicly_issued(config) else TLS_SECRET}
            ],
        }
        if config.ingress.class_name:
            ingress["ingressClassName"] = config.ingress.class_name
        values["ingress"] = ingress
    return values
