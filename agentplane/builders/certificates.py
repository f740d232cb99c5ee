"""cert-manager and the platform CA, as plain chart values and Kubernetes objects.

The chain: a self-signed bootstrap ClusterIssuer signs the platform root CA Certificate
(in the cert-manager namespace), whose Secret backs the `platform-ca` ClusterIssuer that
every component asks for internal TLS certificates.
"""

from __future__ import annotations

from agentplane import namespaces
from agentplane.spec.platform import LABEL_MANAGED_BY, MANAGED_BY, PlatformSpec
from agentplane.spec.sections.certificates import PLATFORM_CA_ISSUER, root_ca_common_name

Obj = dict

CERT_MANAGER_GROUP = "cert-manager.io"
CERT_MANAGER_API = f"{CERT_MANAGER_GROUP}/v1"
BOOTSTRAP_ISSUER = "agentplane-selfsigned"
ROOT_CA_CERTIFICATE = "platform-root-ca"
# The root CA's key pair and certificate; the one thing to back up (see docs/components/certificates.md).
ROOT_CA_SECRET = "platform-root-ca"


def _meta(name: str, namespace: str | None = None) -> dict:
    meta: dict = {"name": name, "labels": {LABEL_MANAGED_BY: MANAGED_BY}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def cert_manager_values(spec: PlatformSpec) -> dict:
    """The cert-manager chart values, with the chart's own key names."""
    return {
        # CRDs installed by the chart and kept when the release is uninstalled: deleting them
        # would garbage-collect every Certificate and Issuer in the cluster.
        "crds": {"enabled": True, "keep": True},
        # Where ClusterIssuers read their Secrets: the root CA Secret lives here.
        "clusterResourceNamespace": namespaces.CERT_MANAGER,
        # Leader-election leases in cert-manager's own namespace instead of kube-system, so the
        # chart needs no Role outside the namespace the platform gives it.
        "global": {"leaderElection": {"namespace": namespaces.CERT_MANAGER}},
    }


def bootstrap_issuer() -> Obj:
    """Signs exactly one certificate: the platform root CA."""
    return {
        "apiVersion": CERT_MANAGER_API,
        "kind": "ClusterIssuer",
        "metadata": _meta(BOOTSTRAP_ISSUER),
        "spec": {"selfSigned": {}},
    }


def root_ca_certificate(spec: PlatformSpec) -> Obj:
    root = spec.env.certificates.root_ca
    return {
        "apiVersion": CERT_MANAGER_API,
        "kind": "Certificate",
        "metadata": _meta(ROOT_CA_CERTIFICATE, namespaces.CERT_MANAGER),
        "spec": {
            "isCA": True,
            "commonName": root_ca_common_name(spec.env.certificates, spec.stack),
            "subject": {"organizations": [root.organization]},
            "secretName": ROOT_CA_SECRET,
            "secretTemplate": {"labels": {LABEL_MANAGED_BY: MANAGED_BY}},
            "duration": root.duration,
            "renewBefore": root.renew_before,
            # Renewal keeps the key: the renewed root verifies every certificate issued under the
            # old one, so nothing has to be re-distributed. Replacing the key is a deliberate act.
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
            "issuerRef": {"group": CERT_MANAGER_GROUP, "kind": "ClusterIssuer", "name": BOOTSTRAP_ISSUER},
        },
    }


def platform_ca_issuer() -> Obj:
    return {
        "apiVersion": CERT_MANAGER_API,
        "kind": "ClusterIssuer",
        "metadata": _meta(PLATFORM_CA_ISSUER),
        # A CA ClusterIssuer reads its Secret from the cluster resource namespace (cert-manager's).
        "spec": {"ca": {"secretName": ROOT_CA_SECRET}},
    }
