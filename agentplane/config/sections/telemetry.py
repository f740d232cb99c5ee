"""Environment settings for OpenTelemetry (key `agentplane:telemetry`) and the team-file `telemetry` field.

Where telemetry goes is decided here, once: a team's own backend (its team file) or the
environment's default backend with a tenant header. Credentials for either never appear in
a team file: a team file names header *values* by key, and the values are secret stack
config under `agentplane:telemetry.tenantHeaders.<team>.<key>`.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from agentplane.config.addresses import ANY_NAMESPACE, url_problem
from agentplane.config.base import Quantity, Secret, StrictModel, TeamName
from agentplane.config.sections.charts import ChartSource
from agentplane.quantity import parse_quantity

if TYPE_CHECKING:  # team.py imports this module; import only for annotations
    from agentplane.config.environment import EnvironmentConfig
    from agentplane.config.team import TeamFile

# Operator 0.158.0 and the collector release it was built and tested with.
OPERATOR_CHART = ChartSource(
    repository="https://open-telemetry.github.io/opentelemetry-helm-charts",
    chart="opentelemetry-operator",
    version="0.122.0",
)
COLLECTOR_VERSION = "0.158.0"
# contrib: the routing connector, k8s_attributes, groupbyattrs and resource processors are
# contrib components (the chart's default `-k8s` distribution is a subset that may drift).
COLLECTOR_REPOSITORY = "ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-contrib"
# The multi-arch index of contrib 0.158.0. Corroborated by independent public sources: a
# project that pulled this GHCR tag and recorded the resolved digest, and several unrelated
# projects pinning the same release's Docker Hub copy (otel/opentelemetry-collector-contrib)
# to it; the release pipeline pushes one index to both registries (0.157.0 shows the same
# digest on both). The tag stays for readability: the operator chart renders
# `repository:tag`, and the operator reads the version label from the part before `@sha256`.
COLLECTOR_DIGEST = "sha256:c5918f78992ee73b0d6f0e599423ac5ec52dd5d9726733114d6eca53d5a32ed5"

MIN_QUEUE_BYTES = 2**20

Protocol = Literal["grpc", "http"]
SamplerType = Literal[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]
RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")

# Header names are keys of the collector's configuration: letters, digits and '-' only (a
# subset of RFC 9110's token, without '$' and the other characters expansion syntax uses).
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")
_SECRET_KEY = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]([a-z0-9._:/-]*[a-z0-9])?$")
# A tag, optionally pinned to a digest: `0.158.0` or `0.158.0@sha256:<64 hex>`.
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$")


def _endpoint(private_ok: bool):
    def check(value: str) -> str:
        # The collector expands `${file:...}`/`${env:...}` anywhere in a config string
        # (open-telemetry/opentelemetry-collector@confmap/v1.64.0:confmap/expand.go findURI): the
        # endpoint grammar (config/addresses.py) admits no '$', braces, '%', user-info or query.
        problem = url_problem(value, own_namespace=ANY_NAMESPACE, private_ok=private_ok)
        if problem:
            raise ValueError(f"the OTLP endpoint {problem}")
        return value

    return check


def _header_name(value: str) -> str:
    if not _HEADER_NAME.match(value):
        shown = repr(value) if value.isascii() and value.isprintable() and len(value) <= 80 else "the value"
        raise ValueError(f"{shown} is not an HTTP header name (letters, digits and '-', at most 128)")
    return value


def _secret_key(value: str) -> str:
    if not _SECRET_KEY.match(value):
        raise ValueError(
            "the value is not a secret key name (lowercase letters, digits and '-', at most 63). "
            "A header value in a team file names a key under agentplane:telemetry.tenantHeaders.<team>; "
            "the value itself is set with `pulumi config set --secret` and never written in the team file"
        )
    return value


# The operator's backend may be private (an in-cluster Tempo); a team's may not.
OtlpEndpoint = Annotated[str, Field(strict=True), AfterValidator(_endpoint(private_ok=True))]
TeamOtlpEndpoint = Annotated[str, Field(strict=True), AfterValidator(_endpoint(private_ok=False))]
HeaderName = Annotated[str, Field(strict=True), AfterValidator(_header_name)]
SecretKey = Annotated[str, Field(strict=True), AfterValidator(_secret_key)]


def _check_endpoint_for(protocol: str, endpoint: str) -> None:
    # The gRPC client rejects an endpoint without a port at startup; say so at validation time.
    if protocol == "grpc" and urllib.parse.urlsplit(endpoint).port is None:
        raise ValueError(f"{endpoint!r} needs an explicit port for protocol grpc (for example :4317 or :443)")


def _check_headers(endpoint: str | None, headers: dict) -> None:
    seen: set[str] = set()
    for name in headers:
        if name.lower() in seen:
            raise ValueError(f"{name!r} appears more than once (header names are case-insensitive)")
        seen.add(name.lower())
    if headers and endpoint is not None and urllib.parse.urlsplit(endpoint).scheme != "https":
        raise ValueError("headers carry credentials and would be sent in clear text; use an https:// endpoint")


class ContainerImage(StrictModel):
    repository: Annotated[str, Field(strict=True, pattern=_IMAGE_REPOSITORY.pattern)]
    """The image repository."""
    tag: Annotated[str, Field(strict=True, pattern=_IMAGE_TAG.pattern)]
    """The image tag, pinned by digest (`<tag>@sha256:<digest>`); keep the operator's version."""


class ResourceAmounts(StrictModel):
    cpu: Quantity
    """CPU (a quantity)."""
    memory: Quantity
    """Memory (a quantity)."""


class CollectorResources(StrictModel):
    requests: ResourceAmounts = ResourceAmounts(cpu="200m", memory="256Mi")
    """Requests per replica."""
    limits: ResourceAmounts = ResourceAmounts(cpu="1", memory="1Gi")
    """Limits per replica; `memory_limiter` works from the memory limit."""


_STORAGE_CLASS = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class QueueSettings(StrictModel):
    """Persistent sending queues: what each backend destination may hold while it is down.

    Every OTLP destination (each team's, and the platform's) has its own queue on the
    collector pod's volume, bounded by `perDestination` bytes; `volumeSize` must hold all of
    them (checked when the plan is built, because the number of destinations follows the teams).
    """

    volume_size: Quantity = "16Gi"
    """Each replica's queue volume; must hold 1.5 × `perDestination` per destination, plus one more for compaction
    (checked when planning). A StatefulSet's volume size cannot be changed in place."""
    per_destination: Quantity = "256Mi"
    """Persistent sending queue per backend destination and replica (at least `1Mi`); see [maximum
    loss](components/telemetry.md#when-a-backend-is-down-queues-retries-and-the-maximum-loss)."""
    # The StorageClass of each collector pod's queue volume; null: the cluster's default class.
    storage_class: Annotated[str, Field(strict=True, pattern=_STORAGE_CLASS.pattern)] | None = None
    """StorageClass of the queue volumes. Default: the cluster's default."""

    @model_validator(mode="after")
    def _queue_fits_the_volume(self) -> QueueSettings:
        if parse_quantity(self.per_destination) < MIN_QUEUE_BYTES:
            raise ValueError(f"perDestination: {self.per_destination} is too small; a queue needs at least 1Mi")
        if parse_quantity(self.per_destination) > parse_quantity(self.volume_size):
            raise ValueError(f"perDestination ({self.per_destination}) is larger than volumeSize ({self.volume_size})")
        return self

    @property
    def per_destination_bytes(self) -> int:
        return int(parse_quantity(self.per_destination))

    @property
    def volume_bytes(self) -> int:
        return int(parse_quantity(self.volume_size))


class CollectorSettings(StrictModel):
    """The gateway collector StatefulSet every tenant namespace sends OTLP to."""

    replicas: int = Field(default=2, strict=True, ge=1, le=20)
    """Gateway collector replicas (1–20); a protected stack refuses 1."""
    resources: CollectorResources = CollectorResources()
    """Per replica: `{requests: {cpu, memory}, limits: {cpu, memory}}`; `memory_limiter` works from the memory limit.
    Default: requests `200m`/`256Mi`, limits `1`/`1Gi`."""
    queue: QueueSettings = QueueSettings()
    """The persistent sending queues."""


class _OtlpDestination(StrictModel):
    """Checks shared by every OTLP destination (subclasses declare protocol, endpoint, headers in
    that order): gRPC needs an explicit port, and credentials travel only over TLS."""

    @field_validator("endpoint", check_fields=False)
    @classmethod
    def _port_for_grpc(cls, endpoint: str, info: ValidationInfo) -> str:
        _check_endpoint_for(info.data.get("protocol", "http"), endpoint)
        return endpoint

    @field_validator("headers", check_fields=False)
    @classmethod
    def _tls_for_headers(cls, headers: dict, info: ValidationInfo) -> dict:
        _check_headers(info.data.get("endpoint"), headers)
        return headers


class Backend(_OtlpDestination):
    """The environment's default OTLP backend, shared by teams that name none (e.g. Tempo/Mimir/Loki)."""

    protocol: Protocol = "http"
    """OTLP over `http` or `grpc`."""
    endpoint: OtlpEndpoint
    """The backend's OTLP endpoint."""
    # Sent with each team's data, value = team name; Grafana's multi-tenant backends read X-Scope-OrgID.
    # null: one backend tenant for everyone, told apart only by the `agentplane.tenant` attribute.
    tenant_header: HeaderName | None = "X-Scope-OrgID"
    """Sent with each team's data, value = the team name (Grafana's multi-tenant backends read `X-Scope-OrgID`); null:
    one backend tenant for everyone."""
    # Credentials for the platform backend, e.g. {Authorization: {secure: ...}}.
    headers: dict[HeaderName, Secret] = {}
    """Credentials for the backend: `{name: secret}`."""

    @model_validator(mode="after")
    def _tenant_header_is_platform_owned(self) -> Backend:
        if self.tenant_header is not None and self.tenant_header.lower() in {h.lower() for h in self.headers}:
            raise ValueError(f"headers: {self.tenant_header!r} is the tenant header; the platform sets it per team")
        return self


class Sampler(StrictModel):
    """What the injected SDKs sample (the operator's Instrumentation `spec.sampler`)."""

    type: SamplerType = "parentbased_traceidratio"
    """The SDK sampler: `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off` or
    `parentbased_traceidratio`."""
    # Fraction of new traces kept, for the *traceidratio samplers.
    ratio: float | None = Field(default=1.0, strict=True, ge=0.0, le=1.0)
    """Share of new traces kept, for the `*traceidratio` samplers."""

    @model_validator(mode="after")
    def _ratio_only_for_ratio_samplers(self) -> Sampler:
        if self.type in RATIO_SAMPLERS and self.ratio is None:
            raise ValueError(f"ratio: sampler {self.type} needs a ratio between 0 and 1")
        return self

    @property
    def argument(self) -> str | None:
        return None if self.type not in RATIO_SAMPLERS or self.ratio is None else repr(float(self.ratio))


class TelemetryConfig(StrictModel):
    chart: ChartSource = OPERATOR_CHART
    """The OpenTelemetry operator chart: `{repository, chart, version}`, all three when set (a mirror)."""
    collector_image: ContainerImage = ContainerImage(
        repository=COLLECTOR_REPOSITORY, tag=f"{COLLECTOR_VERSION}@{COLLECTOR_DIGEST}"
    )
    """The collector image, pinned by digest."""
    collector: CollectorSettings = CollectorSettings()
    """The gateway collector every tenant namespace sends OTLP to."""
    # Absent: teams without their own endpoint, and the platform pipeline, go to the collector's
    # `debug` exporter (counts in the collector log, no payloads): nothing leaves the cluster.
    default_backend: Backend | None = None
    """`{endpoint, protocol: http|grpc (http), tenantHeader (X-Scope-OrgID, null for none), headers: {name: secret}}`.
    Default: none (the collector's `debug` exporter: nothing leaves the cluster)."""
    sampler: Sampler = Sampler()
    """What the injected SDKs sample."""
    # team -> key -> secret header value; what a team file's `telemetry.headers` values name.
    # Set with: pulumi config set --secret --path 'agentplane:telemetry.tenantHeaders.<team>.<key>' <value>
    tenant_headers: dict[TeamName, dict[SecretKey, Secret]] = {}
    """`<team>: {<key>: secret}`: the values team files' `telemetry.headers` name."""

    def missing_for_deploy(self) -> list[str]:
        """Secret header values the offline plan cannot decrypt; `pulumi up` must have them."""
        missing = []
        if self.default_backend is not None:
            missing += [
                f"defaultBackend.headers.{name} is encrypted; the offline plan uses a redacted placeholder"
                for name, secret in sorted(self.default_backend.headers.items())
                if not secret.available
            ]
        for team, values in sorted(self.tenant_headers.items()):
            missing += [
                f"tenantHeaders.{team}.{key} is encrypted; the offline plan uses a redacted placeholder"
                for key, secret in sorted(values.items())
                if not secret.available
            ]
        return missing


class TeamTelemetryConfig(_OtlpDestination):
    """A team's own OTLP backend; absent, the team's data goes to the environment's default backend.

    telemetry:
      endpoint: https://otlp.payments.example.com
      protocol: http                      # grpc | http
      headers:
        Authorization: otlp-token         # a key under agentplane:telemetry.tenantHeaders.payments
    """

    protocol: Protocol = "http"
    endpoint: TeamOtlpEndpoint
    headers: dict[HeaderName, SecretKey] = {}


def missing_for_deploy(env: EnvironmentConfig) -> list[str]:
    """Secret header values `pulumi up` must be able to decrypt (TelemetryConfig.missing_for_deploy)."""
    return env.telemetry.missing_for_deploy()


def check_team(team: TeamFile, env: EnvironmentConfig, stack: str) -> list[tuple[str, str]]:
    """Every header a team file names must exist among that team's own secret header values."""
    if team.telemetry is None:
        return []
    problems = []
    # In-cluster endpoints only in the team's own namespace (the namespace is the team's name).
    if endpoint_problem := url_problem(team.telemetry.endpoint, own_namespace=team.name):
        problems.append(("telemetry.endpoint", f"the OTLP endpoint {endpoint_problem}"))
    if stack not in team.environments:
        return problems
    available = env.telemetry.tenant_headers.get(team.name, {})
    for header, key in team.telemetry.headers.items():
        if key not in available:
            known = ", ".join(sorted(available)) or "none"
            problems.append(
                (
                    f"telemetry.headers.{header}",
                    f"no secret {key!r} for team {team.name!r} in agentplane:telemetry.tenantHeaders of {stack} "
                    f"(its keys: {known}); set it with `pulumi config set --secret --path "
                    f"'agentplane:telemetry.tenantHeaders.{team.name}.{key}' <value>`",
                )
            )
    return problems


# Each queue file may grow past its payload (bbolt pages, freelist) before compaction: it is
# capped at this multiple of `perDestination`, and the volume must hold every file at its cap
# and one compaction copy.
QUEUE_FILE_HEADROOM = 1.5


def queue_destinations(env: EnvironmentConfig, own_backends: list[bool]) -> int:
    """OTLP destinations with a persistent queue: each team with its own backend; with a default
    backend, also each other team and the platform pipeline (without one they go to `debug`)."""
    own = sum(own_backends)
    if env.telemetry.default_backend is None:
        return own
    return own + (len(own_backends) - own) + 1


def queue_volume_needed(env: EnvironmentConfig, destinations: int) -> int:
    # One more file at its cap: compaction writes a copy of a queue file next to it before it
    # replaces the original (opentelemetry-collector-contrib@v0.158.0:
    # extension/storage/filestorage/client.go Compact, os.CreateTemp in the compaction directory).
    return (destinations + 1) * int(env.telemetry.collector.queue.per_destination_bytes * QUEUE_FILE_HEADROOM)


def check_platform(env: EnvironmentConfig, teams: list[TeamFile]) -> list[tuple[str, str]]:
    """The queue volume must hold every destination's queue file at its cap."""
    queue = env.telemetry.collector.queue
    destinations = queue_destinations(env, [team.telemetry is not None for team in teams])
    needed = queue_volume_needed(env, destinations)
    if needed <= queue.volume_bytes:
        return []
    return [
        (
            "telemetry.collector.queue",
            f"{destinations} telemetry destinations, plus one compaction copy, x perDestination "
            f"{queue.per_destination} (x{QUEUE_FILE_HEADROOM} queue-file headroom) need {-(-needed // 2**20)}Mi, "
            f"more than volumeSize {queue.volume_size}; raise volumeSize or lower perDestination",
        )
    ]


__all__ = [
    "Backend",
    "CollectorSettings",
    "QueueSettings",
    "ContainerImage",
    "OPERATOR_CHART",
    "Sampler",
    "TeamTelemetryConfig",
    "TelemetryConfig",
    "check_team",
]
