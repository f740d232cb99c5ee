"""Provenance and guardrails: Kyverno, image verification per tier, tier labels, tenant guardrails."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from agentplane import namespaces
from agentplane.builders import provenance as build
from agentplane.config.platform import PlatformSpec
from components.kube import helm_release, platform_namespace, register


@dataclass(frozen=True)
class ProvenanceArgs:
    spec: PlatformSpec


class Provenance(pulumi.ComponentResource):
    """Kyverno (pinned chart) and the platform's `policies.kyverno.io/v1` policies.

    The policies are rendered from the spec (the ServiceAccount -> tier map comes from the
    team files), so they do not wait for the tenant objects.
    """

    kyverno: pulumi.Resource
    """The Kyverno Helm release (it carries the policies.kyverno.io CRDs)."""
    policies: dict[str, pulumi.Resource]
    """Every platform policy, by `<kind>/<name>`."""

    def __init__(self, name: str, args: ProvenanceArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        super().__init__("agentplane:index:Provenance", name, None, opts)

        # Kyverno's pods meet `restricted` (non-root, read-only root, all capabilities dropped,
        # RuntimeDefault seccomp), hooks included.
        namespace = platform_namespace(name, namespaces.POLICY, spec, pulumi.ResourceOptions(parent=self))

        # The release carries the policies.kyverno.io CRDs: deleting it would delete every
        # policy, so it is protected (and kept on delete) where the environment says protect.
        self.kyverno = helm_release(
            f"{name}-kyverno",
            spec.env.provenance.chart,
            namespaces.POLICY,
            build.kyverno_values(spec),
            pulumi.ResourceOptions(
                parent=self, depends_on=[namespace], protect=spec.protect, retain_on_delete=spec.protect
            ),
            # Upstream names (kyverno-admission-controller, ...), as in Kyverno's docs and runbooks.
            release_name="kyverno",
        )

        self.policies = {}
        for obj in build.policy_objects(spec):
            resource = register(name, obj, pulumi.ResourceOptions(parent=self, depends_on=[self.kyverno]))
            self.policies[f"{obj['kind']}/{obj['metadata']['name']}"] = resource

        self.register_outputs({"namespace": namespaces.POLICY, "policies": sorted(self.policies)})
