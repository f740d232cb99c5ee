"""Keycloak's Postgres: the CloudNativePG operator's values, the `Cluster`, its credentials and
backups (pure functions of the spec; components/identity/postgres.py registers them).

The `-rw` Service is Keycloak's database host and the basic-auth Secret is both the cluster's
initdb credentials and Keycloak's database login: keycloak.py reads these names.
"""

from __future__ import annotations

from typing import Any

from agentplane.builders.identity import basic_auth_secret, meta
from agentplane.builders.releases import POSTGRES_READY_TIMEOUT
from agentplane.config.platform import PlatformSpec
from agentplane.config.sections.resilience import DatabaseBackup
from agentplane.manifest import Obj

CNPG_OPERATOR = "cnpg-controller-manager"
DB_CLUSTER = "keycloak-db"
DB_SERVICE = f"{DB_CLUSTER}-rw"  # CloudNativePG's read-write Service: always the primary
DB_PORT = 5432
DB_NAME = "keycloak"
DB_OWNER = "keycloak"
DB_CREDENTIALS_SECRET = "keycloak-db-credentials"
BACKUP_CREDENTIALS_SECRET = "keycloak-db-backup-credentials"
SCHEDULED_BACKUP = "keycloak-db-daily"


def postgres_instances(spec: PlatformSpec) -> int:
    """A primary alone where nothing is protected; a primary and two standbys where data matters."""
    configured = spec.env.identity.database.instances
    return configured if configured is not None else (3 if spec.protect else 1)


def cnpg_values(spec: PlatformSpec) -> dict:
    # CRDs come from the chart (its templates); the operator watches every namespace so the
    # Cluster can live next to Keycloak. Upstream's own name for the operator, which the
    # `kubectl cnpg` plugin looks for.
    return {"fullnameOverride": CNPG_OPERATOR, "crds": {"create": True}, "config": {"clusterWide": True}}


def database_credentials(password: Any) -> Obj:
    # CloudNativePG's initdb reads the owner's credentials from a basic-auth Secret; Keycloak
    # reads the same password, so there is exactly one copy of it.
    return basic_auth_secret(DB_CREDENTIALS_SECRET, DB_OWNER, password)


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
    cluster_meta = meta(DB_CLUSTER)
    # Pulumi waits for the Cluster's Ready condition (CloudNativePG's ConditionClusterReady,
    # "Ready"): Postgres is bootstrapped and serving before Keycloak's release, and its Helm
    # wait, starts. pulumi-kubernetes reads these annotations (provider/pkg/metadata).
    cluster_meta["annotations"] = {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": str(POSTGRES_READY_TIMEOUT),
    }
    return {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": cluster_meta, "spec": cluster_spec}


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
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(BACKUP_CREDENTIALS_SECRET),
        "type": "Opaque",
        "stringData": data,
    }


def scheduled_backup(spec: PlatformSpec) -> Obj | None:
    backup = spec.env.identity.database.backup
    if backup is None or not backup.enabled:
        return None
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "ScheduledBackup",
        "metadata": meta(SCHEDULED_BACKUP),
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
