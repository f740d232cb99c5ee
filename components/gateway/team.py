"""One team's part of the gateway: its routes, backends and policies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from agentplane.builders.gateway import platform as build
from agentplane.builders.gateway import team as build_team
from agentplane.config.platform import PlatformSpec, TeamSpec
from components.kube import register, renamed_from

# Type tokens are agentplane:<piece>:<class>; this one was agentplane:team:Gateway.
TEAM_COMPONENT = "agentplane:gateway:TeamGateway"


@dataclass(frozen=True)
class TeamGatewayArgs:
    team: TeamSpec
    spec: PlatformSpec
    identity: build.Identity
    """Who the gateway trusts (issuer, audience, SPIFFE), for the team's access policies."""
    depends_on: Sequence[pulumi.Resource]
    """What every object here waits for: the shared gateway objects and the team's namespace."""


class TeamGateway(pulumi.ComponentResource):
    """One team's routes, backends and policies (in the gateway namespace, labelled with the team)."""

    resources: list[pulumi.Resource]
    """The team's gateway objects."""

    def __init__(self, name: str, args: TeamGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        team, spec = args.team, args.spec
        super().__init__(
            TEAM_COMPONENT,
            name,
            {"team": team.name},
            pulumi.ResourceOptions.merge(opts, renamed_from("agentplane:team:Gateway")),
        )
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        objects = build_team.team_objects(team, spec, args.identity)
        self.resources = [register(name, obj, child) for obj in objects]
        self.register_outputs({"routes": sorted(o["metadata"]["name"] for o in objects if o["kind"] == "HTTPRoute")})
