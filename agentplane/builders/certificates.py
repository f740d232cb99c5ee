"""cert-manager and the platform CA, as plain chart values and Kubernetes objects.

The chain: a self-signed bootstrap ClusterIssuer signs the platform root CA Certificate
(in the cert-manager namespace), whose Secret backs the `platform-ca` ClusterIssuer that
every component asks for internal TLS certificates.
"""

from __future__ import annotations

from agentplane import namespaces
from agentplane.spec.platform import LABEL_MANAGED_BY, MANAGED_BY, PlatformSpec
from agentplane.spec.sections.certificates import PLATFORM_CA_ISSUER, root_ca_common_name
from agentplane.spec.sections.resilience import cert_manager_webhook_replicas

Obj = dict

CERT_MANAGER_GROUP = "cert-manager.io"
CERT_MANAGER_API = f"{CERT_MANAGER_GROUP}/v1"
BOOTSTRAP_ISSUER = "agentplane-selfsigned"
ROOT_CA_CERTIFICATE = "platform-root-ca"
# The root CA's key pair and certificate; the one thing to back up (see docs/components/certificates.md).
ROOT_CA_SECRET = "platform-root-ca"


# The release the component installs (components/certificates.py) and the labels the chart's
# webhook Deployment selects its pods by
# (cert-manager/cert-manager@v1.21.0:deploy/charts/cert-manager/templates/webhook-deployment.yaml).
RELEASE_NAME = "cert-manager"
WEBHOOK_POD_SELECTOR = {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/instance": RELEASE_NAME, "app.kubernetes.io/component": "webhook"}


def _meta(name: str, namespace: str | None = None) -> dict:
    meta: dict = {"name": name, "labels": {LABEL_MANAGED_BY: MANAGED_BY}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def cert_manager_values(spec: PlatformSpec) -> dict:
    """The cert-manager chart values, with the chart's own key names."""
    replicas = cert_manager_webhook_replicas(spec.env)
    return {
        # CRDs installed by the chart and kept when the release is uninstalled: deleting them
        # would garbage-collect every Certificate and Issuer in the cluster.
        "crds": {"enabled": True, "keep": True},
        # Where ClusterIssuers read their Secrets: the root CA Secret lives here.
        "clusterResourceNamespace": namespaces.CERT_MANAGER,
        # Leader-election leases in cert-manager's own namespace instead of kube-system, so the
        # chart needs no Role outside the namespace the platform gives it.
        "global": {"leaderElection": {"namespace": namespaces.CERT_MANAGER}},
        # The webhook admits every cert-manager write (its failurePolicy is Fail): replicas that
        # prefer different nodes; webhook_disruption_budget() keeps one of them through drains.
        "webhook": {
            "replicaCount": replicas,
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": dict(WEBHOOK_POD_SELECTOR)}, "topologyKey": "kubernetes.io/hostname"}}
                    ]
                }
            },
        },
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


def webhook_disruption_budget() -> Obj:
    """At most one webhook pod evicted at a time. A PDB of our own: the CertManager component's
    typed `webhook` argument has no podDisruptionBudget field and replaces the chart's `webhook`
    values wholesale (pulumi/pulumi-kubernetes-cert-manager@v0.2.0:provider/pkg/provider/chart.go)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta("cert-manager-webhook", namespaces.CERT_MANAGER),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(WEBHOOK_POD_SELECTOR)}},
    }
