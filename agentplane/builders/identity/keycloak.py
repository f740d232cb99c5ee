"""Keycloak and its Postgres, as plain Kubernetes objects and Helm values (pure functions of the spec).

Names here are the contract between the pieces: the CloudNativePG cluster's `-rw` Service is
Keycloak's database host, the basic-auth Secret is both the cluster's initdb credentials and
Keycloak's database login, the cert-manager Certificate's Secret is Keycloak's TLS key pair.
Credentials are parameters (Pulumi secrets at run time), never values built here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml

from agentplane import namespaces
from agentplane.config.platform import PlatformSpec
from agentplane.builders.releases import POSTGRES_READY_TIMEOUT, PUBLIC_CERTIFICATE_READY_TIMEOUT
from agentplane.config.sections.certificates import PLATFORM_CA_ISSUER
from agentplane.config.sections.identity import KEYCLOAK_FULLNAME, KEYCLOAK_SERVICE, KEYCLOAK_VERSION, IdentityConfig, keycloak_service_hosts
from agentplane.config.sections.resilience import DatabaseBackup
from agentplane.manifest import LABEL_PART_OF, Obj, labels, metadata, restricted_container, restricted_pod

# keycloakx names its objects after fullnameOverride: StatefulSet `keycloak`, Services
# `keycloak-http` (80 http, 8443 https, 9000 management) and `keycloak-headless`.
KEYCLOAK_HTTPS_PORT = 8443
KEYCLOAK_HTTP_PORT = 80
# keycloakx's selector labels are app.kubernetes.io/name (the chart name, no nameOverride is set)
# and app.kubernetes.io/instance (the release name): codecentric/helm-charts
# charts/keycloakx/templates/_helpers.tpl `keycloak.selectorLabels`. The name alone tells
# Keycloak's pods from Postgres' in the identity namespace.
KEYCLOAK_POD_LABELS = {"app.kubernetes.io/name": "keycloakx"}

CNPG_OPERATOR = "cnpg-controller-manager"
DB_CLUSTER = "keycloak-db"
DB_SERVICE = f"{DB_CLUSTER}-rw"  # CloudNativePG's read-write Service: always the primary
DB_PORT = 5432
DB_NAME = "keycloak"
DB_OWNER = "keycloak"
DB_CREDENTIALS_SECRET = "keycloak-db-credentials"
BACKUP_CREDENTIALS_SECRET = "keycloak-db-backup-credentials"
SCHEDULED_BACKUP = "keycloak-db-daily"

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

def _meta(name: str) -> dict:
    return metadata(name, namespaces.IDENTITY, labels(extra={LABEL_PART_OF: "agentplane-identity"}))


# --- URLs ----------------------------------------------------------------------------------


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


def postgres_instances(spec: PlatformSpec) -> int:
    """A primary alone where nothing is protected; a primary and two standbys where data matters."""
    configured = spec.env.identity.database.instances
    return configured if configured is not None else (3 if spec.protect else 1)


# --- Postgres ------------------------------------------------------------------------------


def cnpg_values(spec: PlatformSpec) -> dict:
    # CRDs come from the chart (its templates); the operator watches every namespace so the
    # Cluster can live next to Keycloak. Upstream's own name for the operator, which the
    # `kubectl cnpg` plugin looks for.
    return {"fullnameOverride": CNPG_OPERATOR, "crds": {"create": True}, "config": {"clusterWide": True}}


def basic_auth_secret(name: str, username: str, password: Any) -> Obj:
    """A kubernetes.io/basic-auth Secret; `password` is a Pulumi secret at run time."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name),
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": username, "password": password},
    }


def database_credentials(password: Any) -> Obj:
    # CloudNativePG's initdb reads the owner's credentials from a basic-auth Secret; Keycloak
    # reads the same password, so there is exactly one copy of it.
    return basic_auth_secret(DB_CREDENTIALS_SECRET, DB_OWNER, password)


def admin_credentials(password: Any) -> Obj:
    return basic_auth_secret(ADMIN_SECRET, ADMIN_USERNAME, password)


def postgres_cluster(spec: PlatformSpec) -> Obj:
    db = spec.env.identity.database
    storage: dict = {"size": db.storage_size}
    if db.storage_class:
        storage["storageClass"] = db.storage_class
    cluster_spec: dict = {
        "instances": postgres_instances(spec),
        "storage": storage,
        "bootstrap": {"initdb": {"database": DB_NAME, "owner": DB_OWNER, "secret": {"name": DB_CREDENTIALS_SECRET}}},
        # No superuser password: the operator administers through its own local connection.
        "enableSuperuserAccess": False,
        "resources": {"requests": {"cpu": db.cpu, "memory": db.memory}, "limits": {"memory": db.memory}},
    }
    if db.image_name:
        cluster_spec["imageName"] = db.image_name
    if db.backup is not None and db.backup.enabled:
        cluster_spec["backup"] = cluster_backup(db.backup)
    meta = _meta(DB_CLUSTER)
    # Pulumi waits for the Cluster's Ready condition (CloudNativePG's ConditionClusterReady,
    # "Ready"): Postgres is bootstrapped and serving before Keycloak's release, and its Helm
    # wait, starts. pulumi-kubernetes reads these annotations (provider/pkg/metadata).
    meta["annotations"] = {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": str(POSTGRES_READY_TIMEOUT),
    }
    return {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": meta, "spec": cluster_spec}


# --- Postgres backups ----------------------------------------------------------------------
#
# CloudNativePG 1.30's in-tree Barman Cloud support (`spec.backup.barmanObjectStore`): still
# served by the pinned operator and its pinned CRD, whereas the Barman Cloud plugin needs a
# second operator and CRD (barmancloud.cnpg.io ObjectStore) the platform does not install yet.
# The operator's 1.30 notes say the in-tree support goes in 1.31.0
# (cloudnative-pg/cloudnative-pg@v1.30.0:docs/src/release_notes/v1.30.md): moving to the plugin
# is the condition for upgrading the operator past 1.30 (docs/faults.md).

# Keys of the backup credentials Secret (what s3Credentials refers to).
BACKUP_KEYS = {"accessKeyId": "ACCESS_KEY_ID", "secretAccessKey": "ACCESS_SECRET_KEY", "region": "REGION"}


def cluster_backup(backup: DatabaseBackup) -> dict:
    """`Cluster.spec.backup`: base backups and continuous WAL archiving to the bucket."""
    credentials: dict = {}
    if backup.s3.inherit_from_iam_role:
        credentials["inheritFromIAMRole"] = True
    else:
        credentials["accessKeyId"] = {"name": BACKUP_CREDENTIALS_SECRET, "key": BACKUP_KEYS["accessKeyId"]}
        credentials["secretAccessKey"] = {"name": BACKUP_CREDENTIALS_SECRET, "key": BACKUP_KEYS["secretAccessKey"]}
    if backup.s3.region is not None and not backup.s3.inherit_from_iam_role:
        credentials["region"] = {"name": BACKUP_CREDENTIALS_SECRET, "key": BACKUP_KEYS["region"]}
    store: dict = {
        "destinationPath": backup.destination_path,
        "s3Credentials": credentials,
        "wal": {"compression": "gzip"},
        "data": {"compression": "gzip"},
    }
    if backup.endpoint_url is not None:
        store["endpointURL"] = backup.endpoint_url
    return {"barmanObjectStore": store, "retentionPolicy": backup.retention}


def backup_credentials(backup: DatabaseBackup, access_key_id: Any, secret_access_key: Any) -> Obj | None:
    """The Secret s3Credentials reads; the keys are Pulumi secrets at run time. None when the
    pods use their cloud identity instead."""
    if not backup.uses_keys:
        return None
    data = {BACKUP_KEYS["accessKeyId"]: access_key_id, BACKUP_KEYS["secretAccessKey"]: secret_access_key}
    if backup.s3.region is not None:
        data[BACKUP_KEYS["region"]] = backup.s3.region
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(BACKUP_CREDENTIALS_SECRET), "type": "Opaque", "stringData": data}


def scheduled_backup(spec: PlatformSpec) -> Obj | None:
    backup = spec.env.identity.database.backup
    if backup is None or not backup.enabled:
        return None
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "ScheduledBackup",
        "metadata": _meta(SCHEDULED_BACKUP),
        "spec": {
            "schedule": backup.schedule,
            "cluster": {"name": DB_CLUSTER},
            "method": "barmanObjectStore",
            # A first base backup right away: point-in-time recovery needs one to start from.
            "immediate": True,
            # Backup objects belong to the ScheduledBackup; the data in the bucket stays.
            "backupOwnerReference": "self",
        },
    }


# --- Keycloak ------------------------------------------------------------------------------


def certificate_dns_names(config: IdentityConfig) -> list[str]:
    return list(dict.fromkeys([config.hostname, *keycloak_service_hosts()]))


def keycloak_certificate(spec: PlatformSpec) -> Obj:
    """What Keycloak itself serves, to every name it is reached by: always from the platform CA,
    which `pulumi up` and the gateway trust (the root is a Pulumi resource)."""
    config = spec.env.identity
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": _meta(TLS_CERTIFICATE),
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
    meta = _meta(PUBLIC_TLS_CERTIFICATE)
    # Pulumi waits for the Certificate's Ready condition (cert-manager.io/v1 CertificateConditionReady,
    # "Ready") before Keycloak's release, and so before the realm: until the ACME order completes
    # the Ingress serves its controller's placeholder certificate, which a provider reaching
    # Keycloak at this hostname (system roots) rejects. A failed order then fails here, by name.
    meta["annotations"] = {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": str(PUBLIC_CERTIFICATE_READY_TIMEOUT),
    }
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": meta,
        "spec": {
            "secretName": PUBLIC_TLS_SECRET,
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": config.tls.issuer},
            # A public CA signs public names only.
            "dnsNames": [config.hostname],
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }


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
    return restricted_container(read_only_root_filesystem=False, run_as_non_root=True, run_as_user=run_as, seccomp_profile=True)


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
        **({"image": {"tag": KEYCLOAK_VERSION, "digest": spec.env.images.keycloak}} if spec.env.images.keycloak else {}),
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
            "tls": [{"hosts": [config.hostname], "secretName": PUBLIC_TLS_SECRET if publicly_issued(config) else TLS_SECRET}],
        }
        if config.ingress.class_name:
            ingress["ingressClassName"] = config.ingress.class_name
        values["ingress"] = ingress
    return values
