"""Identity: Keycloak on CloudNativePG, and the platform realm, as plain objects and values.

One module per piece, as in components/identity: `urls` (where Keycloak is reached, shared by
every piece that talks to it), `postgres` (its database), `keycloak` (the server) and `realm`
(the realm as data). Objects of the identity namespace share their metadata and Secret shape here.
"""

from __future__ import annotations

from typing import Any

from agentplane import namespaces
from agentplane.manifest import LABEL_PART_OF, Obj, labels, metadata


def meta(name: str) -> dict:
    """Metadata of an object in the identity namespace (Keycloak's and its Postgres')."""
    return metadata(name, namespaces.IDENTITY, labels(extra={LABEL_PART_OF: "agentplane-identity"}))


def basic_auth_secret(name: str, username: str, password: Any) -> Obj:
    """A kubernetes.io/basic-auth Secret; `password` is a Pulumi secret at run time."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name),
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": username, "password": password},
    }
