"""Certificates: cert-manager and the platform CA ClusterIssuer every component uses for internal TLS."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes_cert_manager as cert_manager

from agentplane import namespaces
from agentplane.builders import certificates as build
from agentplane.spec.platform import PlatformSpec
from agentplane.spec.sections.certificates import PLATFORM_CA_ISSUER
from agentplane.spec.sections.charts import ChartSource
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
    return cert_manager.ReleaseArgs(
        name=build.RELEASE_NAME,
        namespace=namespaces.CERT_MANAGER,
        chart=chart,
        version=source.version,
        # An empty repo keeps the component from filling in its default (charts.jetstack.io) for OCI charts.
        repository_opts=cert_manager.RepositoryOptsArgs(repo=repository or ""),
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        max_history=10,
    )


class Certificates(pulumi.ComponentResource):
    def __init__(self, name: str, spec: PlatformSpec, opts: pulumi.ResourceOptions):
        super().__init__("agentplane:index:Certificates", name, None, opts)
        self.issuer_name = PLATFORM_CA_ISSUER
        # The CA and the CRDs are what every TLS certificate in the platform hangs on.
        keep = {"protect": spec.protect, "retain_on_delete": spec.protect}

        # cert-manager's pods meet the `restricted` Pod Security level (the chart sets
        # non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp).
        namespace = platform_namespace(name, namespaces.CERT_MANAGER, spec, pulumi.ResourceOptions(parent=self))

        values = build.cert_manager_values(spec)
        typed = {arg: values[key] for key, arg in _TYPED_ARGUMENTS.items() if key in values}
        untyped = {key: value for key, value in values.items() if key not in _TYPED_ARGUMENTS}
        self.cert_manager = cert_manager.CertManager(
            f"{name}-cert-manager",
            **typed,
            helm_options=_helm_options(spec.env.certificates.chart, untyped),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace], **keep),
        )

        register(
            name, build.webhook_disruption_budget(), pulumi.ResourceOptions(parent=self, depends_on=[self.cert_manager])
        )
        bootstrap = register(
            name, build.bootstrap_issuer(), pulumi.ResourceOptions(parent=self, depends_on=[self.cert_manager])
        )
        root_ca = register(
            name,
            build.root_ca_certificate(spec),
            pulumi.ResourceOptions(parent=self, depends_on=[self.cert_manager, namespace, bootstrap], **keep),
        )
        # What every user of the CA depends on explicitly (the ClusterIssuer resource).
        self.ca_issuer: pulumi.Resource = register(
            name,
            build.platform_ca_issuer(),
            pulumi.ResourceOptions(parent=self, depends_on=[self.cert_manager, root_ca], **keep),
        )
        self.register_outputs({"issuer": self.issuer_name, "rootCaSecret": f"{namespaces.CERT_MANAGER}/{build.ROOT_CA_SECRET}"})
