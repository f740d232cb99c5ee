"""cert-manager and the platform CA, as plain chart values and Kubernetes objects.

The chain: Pulumi creates the platform root CA (pulumi-tls: a key and a self-signed CA
certificate, the key encrypted in the stack state) and hands it to cert-manager as the Secret
behind the `platform-ca` ClusterIssuer that every component asks for internal TLS
certificates. Because Pulumi made the root, `pulumi up` knows the certificate the Keycloak
provider and the gateway's JWKS backend must trust, on the very first run.
"""

from __future__ import annotations

from typing import Any

from agentplane import namespaces
from agentplane.config.platform import PlatformSpec
from agentplane.config.sections.certificates import PLATFORM_CA_ISSUER, root_ca_common_name, whole_hours
from agentplane.config.sections.resilience import cert_manager_webhook_replicas
from agentplane.manifest import Obj, labels, metadata

CERT_MANAGER_GROUP = "cert-manager.io"
CERT_MANAGER_API = f"{CERT_MANAGER_GROUP}/v1"
# The root CA's key pair and certificate (also in the stack state, encrypted).
ROOT_CA_SECRET = "platform-root-ca"
# The root certificate alone, as a ConfigMap in the namespaces whose clients verify platform TLS.
CA_BUNDLE = "agentplane-ca-bundle"
CA_BUNDLE_KEY = "ca.crt"


# The release the component installs (components/certificates.py) and the labels the chart's
# webhook Deployment selects its pods by
# (cert-manager/cert-manager@v1.21.0:deploy/charts/cert-manager/templates/webhook-deployment.yaml).
RELEASE_NAME = "cert-manager"
WEBHOOK_POD_SELECTOR = {
    "app.kubernetes.io/name": "webhook",
    "app.kubernetes.io/instance": RELEASE_NAME,
    "app.kubernetes.io/component": "webhook",
}


def cert_manager_values(spec: PlatformSpec) -> dict:
    """The cert-manager chart values, with the chart's own key names."""
    replicas = cert_manager_webhook_replicas(spec.env)
    return {
        # CRDs installed by the chart and kept when the release is uninstalled: deleting them
        # would garbage-collect every Certificate and Issuer in the cluster.
        "crds": {"enabled": True, "keep": True},
        # Where ClusterIssuers read their Secrets: the root CA Secret lives here.
        "clusterResourceNamespace": ca_namespace(spec),
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
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "labelSelector": {"matchLabels": dict(WEBHOOK_POD_SELECTOR)},
                                "topologyKey": "kubernetes.io/hostname",
                            },
                        }
                    ]
                }
            },
        },
    }


def root_ca_subject(spec: PlatformSpec) -> dict:
    """The root's subject, as pulumi-tls's SelfSignedCert takes it."""
    root = spec.env.certificates.root_ca
    return {"common_name": root_ca_common_name(spec.env.certificates, spec.stack), "organization": root.organization}


def root_ca_validity(spec: PlatformSpec) -> tuple[int, int]:
    """(validity, early renewal) in hours. Renewal re-signs the same key (a separate resource),
    so every certificate issued under the old root still verifies: nothing is re-distributed
    except the new root certificate itself, which Pulumi hands on."""
    root = spec.env.certificates.root_ca
    return whole_hours(root.duration), whole_hours(root.renew_before)


# A CA certificate: signs certificates and CRLs, nothing else.
ROOT_CA_USES = ("cert_signing", "crl_signing", "digital_signature")


def ca_namespace(spec: PlatformSpec) -> str:
    """Where ClusterIssuers read their Secrets: cert-manager's cluster resource namespace."""
    adopted = spec.env.adopt.cert_manager
    return adopted.cluster_resource_namespace if adopted is not None else namespaces.CERT_MANAGER


def root_ca_secret(spec: PlatformSpec, certificate_pem: Any, private_key_pem: Any) -> Obj:
    """The Secret a cert-manager CA issuer signs with (tls.crt + tls.key; ca.crt for consumers).
    `private_key_pem` is a Pulumi secret at run time; the offline plan redacts it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(ROOT_CA_SECRET, ca_namespace(spec)),
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": certificate_pem, "tls.key": private_key_pem, "ca.crt": certificate_pem},
    }


def ca_bundle(namespace: str, certificate_pem: Any) -> Obj:
    """The platform root as a ConfigMap `ca.crt`: the key agentgateway's caCertificateRefs read
    (agentgateway/agentgateway@v1.4.1:controller/pkg/agentgateway/remotehttp/ca_bundle.go)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        # In a tenant namespace the team reads it but may not replace it (the tenant guard).
        "metadata": metadata(CA_BUNDLE, namespace, labels(platform_owned=True)),
        "data": {CA_BUNDLE_KEY: certificate_pem},
    }


def acme_issuer(spec: PlatformSpec) -> Obj | None:
    """The public ACME ClusterIssuer of `certificates.acme`, solving HTTP-01 through the ingress class."""
    acme = spec.env.certificates.acme
    if acme is None:
        return None
    return {
        "apiVersion": CERT_MANAGER_API,
        "kind": "ClusterIssuer",
        "metadata": metadata(acme.name),
        "spec": {
            "acme": {
                "server": acme.server,
                "email": acme.email,
                # The ACME account key; cert-manager creates it in the cluster resource namespace.
                "privateKeySecretRef": {"name": f"{acme.name}-account-key"},
                "solvers": [{"http01": {"ingress": {"ingressClassName": acme.ingress_class_name}}}],
            }
        },
    }


def platform_ca_issuer() -> Obj:
    return {
        "apiVersion": CERT_MANAGER_API,
        "kind": "ClusterIssuer",
        "metadata": metadata(PLATFORM_CA_ISSUER),
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
        "metadata": metadata("cert-manager-webhook", namespaces.CERT_MANAGER),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(WEBHOOK_POD_SELECTOR)}},
    }
