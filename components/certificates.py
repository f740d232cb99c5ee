"""Certificates: cert-manager, the platform root CA (created by Pulumi) and the ClusterIssuers every component uses."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes_cert_manager as cert_manager
import pulumi_tls as tls

from agentplane import namespaces
from agentplane.builders import certificates as build
from agentplane.builders.releases import release_policy
from agentplane.config.platform import PlatformSpec
from agentplane.config.sections.certificates import PLATFORM_CA_ISSUER
from agentplane.config.sections.charts import ChartSource
from components.kube import chart_location, platform_namespace, register

# Chart values the CertManager component takes as typed arguments (chart key -> SDK argument).
# The component writes its typed arguments over `helmOptions.values` key by key, unset ones
# included, so a key with a typed argument must be passed that way or it would be dropped.
_TYPED_ARGUMENTS = {
    "clusterResourceNamespace": "cluster_resource_namespace",
    "global": "global_",
    "webhook": "webhook",
}


def _helm_options(source: ChartSource, values: dict) -> cert_manager.ReleaseArgs:
    chart, repository = chart_location(source)
    policy = release_policy(source.chart)
    return cert_manager.ReleaseArgs(
        name=build.RELEASE_NAME,
        namespace=namespaces.CERT_MANAGER,
        chart=chart,
        version=source.version,
        # An empty repo keeps the component from filling in its default (charts.jetstack.io) for OCI charts.
        repository_opts=cert_manager.RepositoryOptsArgs(repo=repository or ""),
        values=values,
        timeout=policy.timeout,
        atomic=policy.atomic,
        cleanup_on_fail=policy.atomic,
        max_history=10,
    )


@dataclass(frozen=True)
class CertificatesArgs:
    spec: PlatformSpec


class Certificates(pulumi.ComponentResource):
    """cert-manager (unless adopted), the platform root CA and the ClusterIssuers."""

    issuer_name: str
    """The platform CA's ClusterIssuer: what platform certificates are issued by."""
    cert_manager: cert_manager.CertManager | None
    """The cert-manager release; None when an installed cert-manager is adopted."""
    ready: list[pulumi.Resource]
    """What any Certificate waits for: cert-manager's namespace and release, when the program installs them."""
    root_ca_pem: pulumi.Output[str]
    """The platform root certificate (public): what clients of platform TLS trust."""
    ca_issuer: pulumi.Resource
    """The platform CA's ClusterIssuer resource, what every user of the CA depends on."""
    issuers: dict[str, pulumi.Resource]
    """Every ClusterIssuer by name (the platform CA, and ACME when configured)."""
    issuer_dependencies: dict[str, list[pulumi.Resource]]
    """Per ClusterIssuer name, what a Certificate from it waits for: `ready` and that ClusterIssuer."""

    def __init__(self, name: str, args: CertificatesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("agentplane:index:Certificates", name, None, opts)
        spec = args.spec
        self.issuer_name = PLATFORM_CA_ISSUER
        # The CA and the CRDs are what every TLS certificate in the platform hangs on.
        keep = {"protect": spec.protect, "retain_on_delete": spec.protect}
        child = pulumi.ResourceOptions(parent=self)

        self.cert_manager = None
        self.ready = []
        if spec.env.adopt.cert_manager is None:
            # cert-manager's pods meet the `restricted` Pod Security level (the chart sets
            # non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp).
            namespace = platform_namespace(name, namespaces.CERT_MANAGER, spec, child)
            values = build.cert_manager_values(spec)
            typed = {arg: values[key] for key, arg in _TYPED_ARGUMENTS.items() if key in values}
            untyped = {key: value for key, value in values.items() if key not in _TYPED_ARGUMENTS}
            self.cert_manager = cert_manager.CertManager(
                f"{name}-cert-manager",
                **typed,
                helm_options=_helm_options(spec.env.certificates.chart, untyped),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace], **keep),
            )
            self.ready = [namespace, self.cert_manager]
            # Keeps one webhook replica through node drains (the webhook admits every cert-manager write).
            register(
                name,
                build.webhook_disruption_budget(),
                pulumi.ResourceOptions(parent=self, depends_on=[self.cert_manager]),
            )
        else:
            for message in spec.env.adopt.messages():
                if message.startswith("adopt.certManager"):
                    pulumi.log.info(message)

        # The root: a key and a self-signed CA certificate made by Pulumi, so the program knows
        # what to trust before anything runs in the cluster. The key is a secret output of
        # pulumi-tls (encrypted in the state); renewal re-signs the same key.
        key = tls.PrivateKey(
            f"{name}-root-ca-key",
            algorithm="ECDSA",
            ecdsa_curve="P256",
            opts=pulumi.ResourceOptions(parent=self, **keep),
        )
        validity, early_renewal = build.root_ca_validity(spec)
        root = tls.SelfSignedCert(
            f"{name}-root-ca",
            private_key_pem=pulumi.Output.secret(key.private_key_pem),
            is_ca_certificate=True,
            allowed_uses=list(build.ROOT_CA_USES),
            validity_period_hours=validity,
            early_renewal_hours=early_renewal,
            set_subject_key_id=True,
            subject=tls.SelfSignedCertSubjectArgs(**build.root_ca_subject(spec)),
            # Never protected: within `early_renewal_hours` of expiry pulumi-tls plans a
            # replacement (hashicorp/terraform-provider-tls internal/provider/common_cert.go,
            # modifyPlanIfCertificateReadyForRenewal), and Pulumi refuses to replace a protected
            # resource (pulumi/pulumi pkg/resource/deploy/step_generator.go), so a protected root
            # could never renew and would expire. The key, which every issued certificate hangs
            # on, stays protected; a new certificate over it is harmless.
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.root_ca_pem = root.cert_pem
        secret = register(
            name,
            build.root_ca_secret(spec, root.cert_pem, pulumi.Output.secret(key.private_key_pem)),
            pulumi.ResourceOptions(parent=self, depends_on=list(self.ready), **keep),
        )
        # What every user of the CA depends on explicitly (the ClusterIssuer resource).
        self.ca_issuer = register(
            name,
            build.platform_ca_issuer(),
            pulumi.ResourceOptions(parent=self, depends_on=[*self.ready, secret], **keep),
        )
        self.issuers = {PLATFORM_CA_ISSUER: self.ca_issuer}
        acme = build.acme_issuer(spec)
        if acme is not None:
            self.issuers[acme["metadata"]["name"]] = register(
                name, acme, pulumi.ResourceOptions(parent=self, depends_on=list(self.ready))
            )
        self.issuer_dependencies = {issuer: [*self.ready, resource] for issuer, resource in self.issuers.items()}
        self.register_outputs(
            {
                "issuer": self.issuer_name,
                "rootCaSecret": f"{build.ca_namespace(spec)}/{build.ROOT_CA_SECRET}",
                "rootCaCertificate": root.cert_pem,
            }
        )
