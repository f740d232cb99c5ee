"""Environment settings for Keycloak and the platform realm (key `agentplane:identity`).

Two modes: by default the platform installs Keycloak (codecentric `keycloakx` chart) backed
by a CloudNativePG Postgres cluster; with `existing:` it manages only the realm in a Keycloak
that runs elsewhere. Either way the realm, a group per team and a client per agent are code.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from agentplane import namespaces
from agentplane.config.base import DnsName, Quantity, Secret, StrictModel
from agentplane.config.sections.certificates import PLATFORM_CA_ISSUER, pinned_chart
from agentplane.config.sections.charts import ChartSource
from agentplane.config.sections.resilience import DatabaseBackup

if TYPE_CHECKING:
    from agentplane.config.environment import EnvironmentConfig
    from agentplane.config.team import TeamFile

# keycloakx names its objects after fullnameOverride; its Service is `<fullname>-http` in the
# identity namespace (agentplane/builders/identity/urls.py and keycloak.py use the same names).
KEYCLOAK_FULLNAME = "keycloak"
KEYCLOAK_SERVICE = f"{KEYCLOAK_FULLNAME}-http"


def keycloak_service_hosts() -> tuple[str, ...]:
    """Every in-cluster name of Keycloak's Service (all of them are on its certificate)."""
    service = f"{KEYCLOAK_SERVICE}.{namespaces.IDENTITY}"
    return (KEYCLOAK_SERVICE, service, f"{service}.svc", f"{service}.svc.cluster.local")


KEYCLOAKX_CHART = ChartSource(
    repository="https://codecentric.github.io/helm-charts", chart="keycloakx", version="7.1.11"
)
CLOUDNATIVE_PG_CHART = ChartSource(
    repository="https://cloudnative-pg.github.io/charts", chart="cloudnative-pg", version="0.29.0"
)
KEYCLOAK_IMAGE = "quay.io/keycloak/keycloak"  # keycloakx 7.1.11's image.repository
KEYCLOAK_VERSION = "26.5.6"  # the image keycloakx 7.1.11 ships (its appVersion)

# NodePorts the kind cluster in infra/kind-cluster.yaml maps to the host: 30080 is Keycloak's
# plain-HTTP port there (host port 8080); 30443 is taken by the gateway's HTTPS listener.
KIND_HTTP_NODE_PORT = 30080

# Keycloak's own limits on a realm name are loose; the platform keeps it URL- and file-safe.
_REALM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def _any_realm(value: str) -> str:
    if not _REALM.match(value):
        raise ValueError(
            f"{value!r} is not a realm name: 1-63 letters, digits, '-' and '_', starting with a letter or digit"
        )
    return value


def _platform_realm(value: str) -> str:
    if value == "master":
        raise ValueError("'master' is Keycloak's administration realm; choose a realm of the platform's own")
    return _any_realm(value)


RealmName = Annotated[str, Field(strict=True), AfterValidator(_platform_realm)]
AdminRealmName = Annotated[str, Field(strict=True), AfterValidator(_any_realm)]


def _audience(value: str) -> str:
    if not value or any(c.isspace() for c in value) or len(value) > 255:
        raise ValueError(f"{value!r} is not an audience: 1-255 characters without whitespace")
    return value


Audience = Annotated[str, Field(strict=True), AfterValidator(_audience)]


def _instances(value: int) -> int:
    if value < 1:
        raise ValueError(
            f"{value} is not a number of instances: at least 1 (1 for a single Postgres, 3 for high availability)"
        )
    return value


Instances = Annotated[int, Field(strict=True), AfterValidator(_instances)]


def _node_port(value: int) -> int:
    if not 30000 <= value <= 32767:
        raise ValueError(f"{value} is outside Kubernetes' default NodePort range 30000-32767")
    return value


NodePort = Annotated[int, Field(strict=True), AfterValidator(_node_port)]


def check_url(value: str, *, insecure: bool, field: str) -> tuple[str, str, str]:
    """(scheme, host[:port], path) of an http(s) base URL; https unless `insecure` allows http."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{field} {value!r} is not a base URL such as https://keycloak.example.com")
    if parts.username is not None or parts.password is not None:
        # Not echoed: the URL would end up in the plan, token issuers and this very message.
        raise ValueError(
            f"{field} carries credentials (user:password@host); give the URL without them and the login "
            "as secret config (existing.adminUsername/adminPassword or existing.clientSecret)"
        )
    if parts.scheme == "http" and not insecure:
        raise ValueError(
            f"{field} {value!r} uses plain http: credentials would cross the network unencrypted; "
            "use https://, or set `insecure: true` for a local development cluster"
        )
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise ValueError(f"{field} {value!r} has an invalid port") from None
    return parts.scheme, parts.netloc, parts.path.rstrip("/")


class IdentityCharts(StrictModel):
    """Chart sources; only `repository` may change (an air-gapped mirror), versions are pinned."""

    keycloakx: pinned_chart(KEYCLOAKX_CHART) = KEYCLOAKX_CHART  # type: ignore[valid-type]
    """The keycloakx chart; only `repository` may change (a mirror)."""
    cloudnative_pg: pinned_chart(CLOUDNATIVE_PG_CHART) = CLOUDNATIVE_PG_CHART  # type: ignore[valid-type]
    """The CloudNativePG chart; only `repository` may change (a mirror)."""


class DatabaseConfig(StrictModel):
    """The CloudNativePG Postgres cluster Keycloak keeps its data in."""

    # Absent: 1 where `protect: false`, 3 (a primary and two standbys) where `protect: true`.
    instances: Instances | None = None
    """Postgres instances (a primary and standbys); at least 1. Default: `1`, or `3` where `protect: true`."""
    storage_size: Quantity = "5Gi"
    """Volume size of each instance (a quantity)."""
    storage_class: Annotated[str, Field(strict=True, min_length=1)] | None = None
    """StorageClass of the volumes. Default: the cluster's default."""
    # Absent: the PostgreSQL image the pinned operator (CloudNativePG 1.30.0) defaults to.
    image_name: Annotated[str, Field(strict=True, min_length=1)] | None = None
    """PostgreSQL image (pin it to control major upgrades); by digest where `protect: true`. Default: the operator's
    default."""
    cpu: Quantity = "250m"
    """CPU per Postgres instance."""
    memory: Quantity = "512Mi"
    """Memory per Postgres instance."""
    # Scheduled backups to an object store; required where `protect: true` (resilience.py).
    backup: DatabaseBackup | None = None
    """`{enabled, destinationPath: s3://…, endpointUrl, retention: 30d, schedule: '0 0 3 * * *', s3: {accessKeyId
    (secret), secretAccessKey (secret), region, inheritFromIamRole}}`; `{enabled: false}` states there are none
    ([faults](faults.md#keycloak-database-backups)). Default: none; required where `protect: true`."""


class ServiceConfig(StrictModel):
    """How Keycloak's Service is exposed. Node ports apply to NodePort and LoadBalancer only."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "NodePort"
    """`ClusterIP`, `NodePort` or `LoadBalancer`."""
    http_node_port: NodePort | None = KIND_HTTP_NODE_PORT
    """Node port of the HTTP listener (NodePort/LoadBalancer only; 30000-32767; `null` for none). Needs
    `httpEnabled`."""
    https_node_port: NodePort | None = None
    """Node port of the HTTPS listener."""

    @model_validator(mode="after")
    def _distinct(self) -> ServiceConfig:
        if self.http_node_port is not None and self.http_node_port == self.https_node_port:
            raise ValueError(f"httpNodePort and httpsNodePort are both {self.http_node_port}; use two ports")
        return self


class IngressConfig(StrictModel):
    """An Ingress for the public hostname (TLS with the Keycloak certificate, to the HTTPS port)."""

    enabled: bool = Field(default=False, strict=True)
    """An Ingress for `hostname` (paths `/realms/`, `/resources/`, `/.well-known/` only) with TLS from `keycloak-tls`
    (or `keycloak-public-tls` with an ACME issuer), to the Service's HTTPS port (tell your controller the backend speaks
    HTTPS, e.g. `nginx.ingress.kubernetes.io/backend-protocol: HTTPS`). Keycloak then trusts `X-Forwarded-*` headers."""
    class_name: Annotated[str, Field(strict=True, min_length=1)] | None = None
    """The Ingress's IngressClass."""
    annotations: dict[str, str] = {}
    """Annotations of the Ingress."""


class TlsConfig(StrictModel):
    # The ClusterIssuer that signs Keycloak's certificate: the platform CA by default (then
    # `pulumi up` and the gateway trust the root the program created), or the ACME issuer of
    # `certificates.acme` for a hostname browsers must trust. Nothing else: see
    # certificates.check_environment.
    issuer: Annotated[str, Field(strict=True, min_length=1)] = PLATFORM_CA_ISSUER
    """The ClusterIssuer that certifies the public hostname: `platform-ca`, or the name of `certificates.acme` (then the
    Ingress serves a public certificate for `hostname`; Keycloak itself keeps its `platform-ca` one). Any other name is
    an error: the program would not create it."""


class KeycloakSize(StrictModel):
    replicas: Instances = 1
    """Keycloak pods. The chart's default anti-affinity puts replicas on different nodes."""
    cpu: Quantity = "500m"
    """CPU per Keycloak pod."""
    memory: Quantity = "1Gi"
    """Memory per Keycloak pod (request and limit)."""


class ExistingKeycloak(StrictModel):
    """A Keycloak the platform does not install: only the realm in it is managed.

    Log in either as an admin user (`adminUsername` + `adminPassword`, password grant with
    `clientId`, default admin-cli) or as a service-account client (`clientId` + `clientSecret`).
    """

    url: Annotated[str, Field(strict=True, min_length=1)]
    """The existing Keycloak's base URL (with `/auth` for old installations); `https://`, or `http://` only with
    `insecure: true`."""
    # The realm the admin credentials belong to (not the platform realm, see `identity.realm`).
    realm: AdminRealmName = "master"
    """The realm the login uses (not the platform realm)."""
    client_id: Annotated[str, Field(strict=True, min_length=1)] = "admin-cli"
    """The client the login uses."""
    admin_username: Annotated[str, Field(strict=True, min_length=1)] | None = None
    """With `adminPassword`: one of the two logins."""
    admin_password: Secret | None = None
    """A secret; with `adminUsername`: one of the two logins."""
    client_secret: Secret | None = None
    """A secret: the other login."""
    # Allows an http:// URL (a local test Keycloak). Never for a shared environment.
    insecure: bool = Field(default=False, strict=True)
    """Allows an `http://` URL (a local test Keycloak); never for a shared environment."""

    @model_validator(mode="after")
    def _consistent(self) -> ExistingKeycloak:
        check_url(self.url, insecure=self.insecure, field="url")
        if self.insecure and self.url.startswith("https://"):
            raise ValueError("insecure: true only allows an http:// url; remove it for an https:// url")
        if self.admin_password is not None and self.client_secret is not None:
            raise ValueError("set adminPassword (with adminUsername) or clientSecret (with clientId), not both")
        if self.client_secret is not None and self.admin_username is not None:
            raise ValueError("adminUsername goes with adminPassword; a clientSecret logs in as the client itself")
        return self

    @property
    def uses_client_credentials(self) -> bool:
        return self.client_secret is not None

    def missing_for_deploy(self) -> list[str]:
        if self.admin_password is None and self.client_secret is None:
            return [
                "existing.adminPassword (with adminUsername) or existing.clientSecret (with clientId) is not set: "
                "the Keycloak provider cannot log in to manage the realm "
                "(pulumi config set --secret --path 'agentplane:identity.existing.adminPassword' ...)"
            ]
        if self.admin_password is not None and self.admin_username is None:
            return ["existing.adminUsername is not set: adminPassword needs the user it belongs to"]
        return []


class IdentityConfig(StrictModel):
    # The public DNS name of Keycloak: its hostname setting, certificate and Ingress host.
    hostname: DnsName = "keycloak.localtest.me"
    """Keycloak's public DNS name: its `hostname` setting, certificate and Ingress host. A DNS name (lowercase, no
    scheme, port or path)."""
    # Where clients reach Keycloak, when that is not https://<hostname> (a port, or plain http on
    # a local cluster). Token issuers (`iss`) carry this URL. Its host must be `hostname`.
    public_url: Annotated[str, Field(strict=True, min_length=1)] | None = None
    """Where clients reach Keycloak when that is another port or plain http (a local cluster). It is every token's
    issuer base: `iss` = `<publicUrl>/realms/<realm>`. Its host must be `hostname`; no path. Default:
    `https://<hostname>`."""
    # Where `pulumi up` (the Keycloak provider) reaches Keycloak; absent: the public URL.
    provider_url: Annotated[str, Field(strict=True, min_length=1)] | None = None
    """Where `pulumi up` (the Keycloak provider) reaches the admin API. The Ingress does not publish `/admin/`, so
    shared stacks set Keycloak's in-cluster Service, `https://keycloak-http.agentplane-identity.svc:8443`, which CI
    reaches through `python -m agentplane.admin_tunnel`
    ([operations](operations.md#the-realms-admin-api-is-not-public)). An `https` URL must use a name on Keycloak's
    certificate (`hostname` or the Service's names) and, for the tunnel, an explicit port of 1024 or above. Default:
    `publicUrl`."""
    realm: RealmName = "agentplane"
    """The platform realm (not `master`)."""
    # The `aud` every agent token carries, so the gateway accepts it.
    gateway_audience: Audience = "agentplane-gateway"
    """The audience every agent token carries, so the gateway accepts it."""
    # Keycloak's plain-HTTP listener (the kind cluster maps it); HTTPS on 8443 is always on.
    http_enabled: bool = Field(default=True, strict=True)
    """Keycloak's plain-HTTP listener (port 8080, Service port 80). HTTPS on 8443 is always on. Turn it off wherever
    traffic leaves a laptop."""
    tls: TlsConfig = TlsConfig()
    """Keycloak's public certificate."""
    service: ServiceConfig = ServiceConfig()
    """Keycloak's Service."""
    ingress: IngressConfig = IngressConfig()
    """Keycloak's Ingress."""
    keycloak: KeycloakSize = KeycloakSize()
    """Keycloak's pods."""
    database: DatabaseConfig = DatabaseConfig()
    """Keycloak's Postgres (CloudNativePG)."""
    charts: IdentityCharts = IdentityCharts()
    """Chart mirrors; chart names and versions are pinned."""
    existing: ExistingKeycloak | None = None
    """An existing Keycloak the program configures instead of installing one: `{url, realm (master), clientId
    (admin-cli), adminUsername + adminPassword (secret) or clientSecret (secret), insecure}`. Default: none."""

    @model_validator(mode="after")
    def _consistent(self) -> IdentityConfig:
        problems: list[str] = []
        for field, url in (("publicUrl", self.public_url), ("providerUrl", self.provider_url)):
            if url is None:
                continue
            try:
                # Plain http is for local clusters only, where it never leaves the machine.
                _, netloc, path = check_url(url, insecure=True, field=field)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if path:
                problems.append(
                    f"{field} {url!r} has a path; Keycloak is served at the root (give scheme, host and port only)"
                )
            host = urlsplit(url).hostname
            if (
                field == "providerUrl"
                and self.existing is None
                and urlsplit(url).scheme == "https"
                and host not in (self.hostname, *keycloak_service_hosts())
            ):
                # Keycloak's certificate names only these; any other host fails TLS at `pulumi up`.
                problems.append(
                    f"providerUrl {url!r} must reach Keycloak by a name on its certificate: {self.hostname!r} "
                    f"or its Service, such as {keycloak_service_hosts()[2]!r}"
                )
            if field == "publicUrl" and host != self.hostname:
                problems.append(
                    f"publicUrl {url!r} must use the hostname {self.hostname!r} "
                    "(Keycloak's hostname, certificate and token issuer all use it)"
                )
        if not self.http_enabled and self.service.type != "ClusterIP" and self.service.http_node_port is not None:
            problems.append(
                f"service.httpNodePort {self.service.http_node_port} exposes the plain-HTTP listener, "
                "but httpEnabled is false: set httpNodePort: null or httpEnabled: true"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def managed(self) -> bool:
        """Whether the platform installs Keycloak and Postgres (false with `existing:`)."""
        return self.existing is None

    def missing_for_deploy(self) -> list[str]:
        if self.existing is not None:
            return self.existing.missing_for_deploy()
        return self.database.backup.missing_for_deploy() if self.database.backup is not None else []


def missing_for_deploy(env: EnvironmentConfig) -> list[str]:
    """What the identity settings lack for `pulumi up` (IdentityConfig.missing_for_deploy)."""
    return env.identity.missing_for_deploy()


def check_team(team: TeamFile, env: EnvironmentConfig, stack: str) -> list[tuple[str, str]]:
    """Each team-file group becomes a Keycloak sub-group of the team: names must be unique in it."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for role in ("owners", "members"):
        for i, group in enumerate(getattr(team, role)):
            if group in seen:
                where = "listed twice" if seen[group] == role else f"already in {seen[group]}"
                problems.append(
                    (f"{role}[{i}]", f"group {group!r} is {where}; a group is either an owner or a member, once")
                )
            else:
                seen[group] = role
            if "/" in group:
                # Keycloak reads '/' in a group name as a path separator.
                problems.append((f"{role}[{i}]", f"group {group!r} contains '/', which Keycloak reads as a group path"))
    return problems
