"""What keeps the platform's promises through restarts, full memory and node drains.

Three things live here, apart from the sections they belong to so each stays readable:

- how many replicas each piece on a request's path runs (absent: 2 where `protect: true`,
  1 elsewhere) and the rule that a protected environment never runs one of them alone;
- the budget store's settings (`gateway.budget.store`): counters on a volume, never evicted;
- Keycloak's database backups (`identity.database.backup`): required where `protect: true`,
  unless the stack states `enabled: false`.

docs/faults.md is the fault matrix these settings serve.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, model_validator

from agentplane.config.base import Quantity, Secret, StrictModel
from agentplane.quantity import parse_quantity

if TYPE_CHECKING:  # environment.py imports the sections that import this module
    from agentplane.config.environment import EnvironmentConfig

PROTECTED_MIN_REPLICAS = 2


def default_replicas(env: EnvironmentConfig, configured: int | None) -> int:
    return configured if configured is not None else (PROTECTED_MIN_REPLICAS if env.protect else 1)


def proxy_replicas(env: EnvironmentConfig) -> int:
    return default_replicas(env, env.gateway.proxy_replicas)


def budget_service_replicas(env: EnvironmentConfig) -> int:
    return default_replicas(env, env.gateway.budget.replicas)


def cert_manager_webhook_replicas(env: EnvironmentConfig) -> int:
    return default_replicas(env, env.certificates.webhook_replicas)


def kyverno_admission_replicas(env: EnvironmentConfig) -> int:
    # Three where protected: Kyverno's own recommendation for its admission controller.
    configured = env.provenance.replicas
    return configured if configured is not None else (3 if env.protect else 1)


def request_path_replicas(env: EnvironmentConfig) -> dict[str, int]:
    """Stack field (under `agentplane:`) -> the replicas it resolves to, for every piece a
    request or an admission passes through."""
    return {
        "gateway.proxyReplicas": proxy_replicas(env),
        "gateway.budget.replicas": budget_service_replicas(env),
        "certificates.webhookReplicas": cert_manager_webhook_replicas(env),
        "provenance.replicas": kyverno_admission_replicas(env),
        "telemetry.collector.replicas": env.telemetry.collector.replicas,
    }


# --- the budget store ------------------------------------------------------------------------


AOF_REWRITE_MIN_MIB = 64


class BudgetStore(StrictModel):
    """The Redis that holds the day's token counters (`gateway.budget.store`).

    Always on a PersistentVolume with an append-only file, and never evicting: when memory is
    full Redis refuses the write, the budget service reports an error and the gateway applies
    `gateway.budget.failureMode`; it never forgets a counter.
    """

    storage_size: Quantity = "1Gi"
    """The counters' Redis volume (an append-only file); at least 3 × `maxMemoryMib` + 64Mi
    ([faults](faults.md#token-budgets-durability-day-boundary-loss-window))."""
    storage_class: Annotated[str, Field(strict=True, min_length=1)] | None = None
    """StorageClass of that volume. Default: the cluster's default."""
    # Redis' `maxmemory`: a counter is ~100 bytes per team or agent per day; the pod's memory
    # limit is this plus headroom for the append-only file rewrite.
    max_memory_mib: int = Field(default=192, strict=True, ge=16, le=16384)
    """Redis' `maxmemory` in MiB, with `noeviction`: a full Redis refuses writes and never forgets a counter."""

    @model_validator(mode="after")
    def _volume_holds_the_append_only_files(self) -> BudgetStore:
        # Redis 7 keeps a base file (an RDB snapshot, at most the data set) and an incremental
        # file that grows until it is as large as the base and at least 64 MB; a rewrite then
        # writes a new base beside both (redis/redis@7.4.1:redis.conf auto-aof-rewrite-percentage
        # 100, auto-aof-rewrite-min-size 64mb, aof-use-rdb-preamble yes). A full volume makes
        # every counter write fail, which the gateway answers with its failure mode.
        needed = (3 * self.max_memory_mib + AOF_REWRITE_MIN_MIB) * 2**20
        if parse_quantity(self.storage_size) < needed:
            raise ValueError(
                f"storageSize {self.storage_size} cannot hold the append-only files of maxMemoryMib "
                f"{self.max_memory_mib}: it needs at least {needed // 2**20}Mi "
                f"(3 x maxMemoryMib + {AOF_REWRITE_MIN_MIB}Mi); raise storageSize or lower maxMemoryMib"
            )
        return self


# --- Keycloak database backups -----------------------------------------------------------------

# What barman-cloud accepts as a retention policy (CloudNativePG `retentionPolicy`).
_RETENTION = re.compile(r"^[1-9][0-9]*[dwm]$")
# CloudNativePG's ScheduledBackup schedule: six fields, seconds first (robfig/cron).
_SCHEDULE = re.compile(r"^\S+( \S+){5}$")
_DESTINATION = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?$")


def _retention(value: str) -> str:
    if not _RETENTION.match(value):
        raise ValueError(f"{value!r} is not a retention period: a number of days, weeks or months such as 30d, 4w, 3m")
    return value


def _schedule(value: str) -> str:
    if not _SCHEDULE.match(value):
        raise ValueError(
            f"{value!r} is not a six-field cron schedule (seconds first), e.g. '0 0 3 * * *' for 03:00 daily"
        )
    return value


def _destination(value: str) -> str:
    if not _DESTINATION.match(value):
        raise ValueError(f"{value!r} is not an S3 destination: s3://<bucket>[/<path>] (lowercase bucket name)")
    return value


def _https(value: str) -> str:
    if "@" in value:
        # Not echoed: the part before '@' is a login.
        raise ValueError(
            "the endpoint URL carries credentials (user:password@host); give them as "
            "s3.accessKeyId/secretAccessKey secrets"
        )
    if not value.startswith("https://") or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} must be an https:// URL without credentials")
    return value


class S3Credentials(StrictModel):
    """How the backups reach the bucket: keys (Pulumi secrets) or the pods' cloud identity."""

    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    region: Annotated[str, Field(strict=True, min_length=1)] | None = None
    # IRSA / workload identity on the Postgres pods instead of keys.
    inherit_from_iam_role: bool = Field(default=False, strict=True)

    @model_validator(mode="after")
    def _one_way(self) -> S3Credentials:
        keys = (self.access_key_id is not None, self.secret_access_key is not None)
        if self.inherit_from_iam_role and any(keys):
            raise ValueError("set accessKeyId and secretAccessKey, or inheritFromIamRole: true, not both")
        if keys[0] != keys[1]:
            raise ValueError("accessKeyId and secretAccessKey go together")
        return self


class DatabaseBackup(StrictModel):
    """CloudNativePG backups of Keycloak's Postgres to an object store (`identity.database.backup`).

    `enabled: false` is how a stack states that it keeps no backups (refused silence is not an
    answer in a protected environment).
    """

    enabled: bool = Field(strict=True)
    destination_path: Annotated[str, Field(strict=True), AfterValidator(_destination)] | None = None
    endpoint_url: Annotated[str, Field(strict=True), AfterValidator(_https)] | None = None
    s3: S3Credentials = S3Credentials()
    retention: Annotated[str, Field(strict=True), AfterValidator(_retention)] = "30d"
    schedule: Annotated[str, Field(strict=True), AfterValidator(_schedule)] = "0 0 3 * * *"

    @model_validator(mode="after")
    def _complete(self) -> DatabaseBackup:
        if self.enabled and self.destination_path is None:
            raise ValueError("destinationPath is required when backups are enabled (s3://<bucket>/<path>)")
        if not self.enabled and (self.destination_path is not None or self.endpoint_url is not None):
            raise ValueError("enabled: false states that there are no backups; remove destinationPath and endpointUrl")
        return self

    @property
    def uses_keys(self) -> bool:
        return self.enabled and not self.s3.inherit_from_iam_role

    def missing_for_deploy(self) -> list[str]:
        if self.uses_keys and self.s3.access_key_id is None:
            return [
                "database.backup.s3.accessKeyId and secretAccessKey are not set: backups cannot reach the bucket "
                "(pulumi config set --secret --path 'agentplane:identity.database.backup.s3.accessKeyId' ..., "
                "or inheritFromIamRole: true)"
            ]
        return []


# --- checks ------------------------------------------------------------------------------------


def check_environment(env: EnvironmentConfig) -> list[tuple[str, str]]:
    """A protected environment keeps two of every request-path piece and backs up Keycloak's data."""
    if not env.protect:
        return []
    problems: list[tuple[str, str]] = []
    for field, replicas in request_path_replicas(env).items():
        if replicas < PROTECTED_MIN_REPLICAS:
            problems.append(
                (
                    field,
                    f"{replicas} replica: protected environments (protect: true) run at least {PROTECTED_MIN_REPLICAS} "
                    "of every piece on a request's path, so a node drain or a restart never stops it",
                )
            )
    if env.identity.managed and env.identity.database.backup is None:
        problems.append(
            (
                "identity.database.backup",
                "protected environments (protect: true) back up Keycloak's database: set destinationPath, credentials "
                "and retention (see docs/faults.md, 'Keycloak database backups'), or `enabled: false` to state that "
                "there are none",
            )
        )
    return problems
