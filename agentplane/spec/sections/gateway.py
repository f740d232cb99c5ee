"""Environment settings for the agent gateway (key `agentplane:gateway`) and team-file additions."""

from __future__ import annotations

from agentplane.spec.base import DnsLabel, StrictModel


class GatewayConfig(StrictModel):
    pass


class McpServer(StrictModel):
    """An MCP tool server a team runs in its own namespace and exposes through the gateway."""

    name: DnsLabel
