"""The token-budget service: Envoy's ratelimit and its Redis store, in the gateway namespace."""

from __future__ import annotations

import pulumi

from agentplane.builders.gateway import token_budgets as build
from agentplane.config.platform import PlatformSpec
from components.kube import register


class TokenBudgets(pulumi.ComponentResource):
    """Deployments, Services, NetworkPolicies and the per-team budget ConfigMap.

    `depends_on` carries the gateway namespace; `self.service` is what gateway policies call.
    """

    def __init__(self, name: str, spec: PlatformSpec, depends_on: list[pulumi.Resource], opts: pulumi.ResourceOptions):
        super().__init__("agentplane:gateway:TokenBudgets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        self.resources = {(obj["kind"], obj["metadata"]["name"]): register(name, obj, child) for obj in build.service_objects(spec)}
        self.service = self.resources[("Service", build.SERVICE)]
        self.config = self.resources[("ConfigMap", build.CONFIG_MAP)]
        self.register_outputs({"service": build.SERVICE, "domains": sorted(build.domain(t) for t in spec.teams)})
