"""One team's part of the gateway: its routes, backends and policies."""

from __future__ import annotations

import pulumi

from agentplane.builders.gateway import platform as build
from agentplane.builders.gateway import team as build_team
from agentplane.config.platform import PlatformSpec, TeamSpec
from components.kube import register, renamed_from

# Type tokens are agentplane:<piece>:<class>; this one was agentplane:team:Gateway.
TEAM_COMPONENT = "agentplane:gateway:TeamGateway"


class TeamGateway(pulumi.ComponentResource):
    """One team's routes, backends and policies (in the gateway namespace, labelled with the team)."""

    def __init__(
        self,
        name: str,
        team: TeamSpec,
        spec: PlatformSpec,
        ident: build.Identity,
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions,
    ):
        super().__init__(TEAM_COMPONENT, name, {"team": team.name}, pulumi.ResourceOptions.merge(opts, renamed_from("agentplane:team:Gateway")))
        child = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        objects = build_team.team_objects(team, spec, ident)
        self.resources = [register(name, obj, child) for obj in objects]
        self.register_outputs({"routes": sorted(o["metadata"]["name"] for o in objects if o["kind"] == "HTTPRoute")})
