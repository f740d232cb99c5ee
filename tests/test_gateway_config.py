"""Gateway configuration: the `agentplane:gateway` keys, team-file MCP servers and access entries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from agentplane.config.environment import EnvironmentConfig
from agentplane.config.load import load_from_files
from agentplane.config.sections import gateway as section
from agentplane.errors import ConfigError
from tests.support.plans import ROOT

TEAM = {
    "name": "acme",
    "owners": ["acme-admins"],
    "members": ["acme-devs"],
    "environments": {"dev": {"tier": "standard"}},
    "agents": [{"name": "helper", "promote": {"dev": "standard"}}, {"name": "scout"}],
    "mcpServers": [{"name": "search", "service": "search-mcp", "port": 8000, "path": "/mcp"}],
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    return tmp_path


def write_team(workspace: Path, **changes) -> None:
    doc = yaml.safe_load(yaml.safe_dump(TEAM))
    doc.update(changes)
    (workspace / "stacks" / "teams" / "acme.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")


def set_gateway(workspace: Path, stack: str, gateway: dict) -> None:
    path = workspace / "stacks" / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["agentplane:gateway"] = gateway
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")


def errors(workspace: Path, stack: str = "dev") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_from_files(stack, root=workspace)
    return [str(issue) for issue in info.value.issues]


def test_the_example_team_with_an_mcp_server_is_valid(workspace: Path) -> None:
    write_team(workspace)
    team = load_from_files("dev", root=workspace).team("acme")
    (server,) = team.mcp_servers
    assert (server.name, server.service, server.port, server.path, server.protocol, server.access) == (
        "search",
        "search-mcp",
        8000,
        "/mcp",
        "StreamableHTTP",
        None,
    )


@pytest.mark.parametrize(
    ("server", "field", "fragment"),
    [
        ({"name": "Search"}, "mcpServers[0].name", "is not a name"),
        ({"service": "search_mcp"}, "mcpServers[0].service", "is not a name"),
        ({"service": "9search"}, "mcpServers[0].service", "starting with a letter"),
        ({"port": 0}, "mcpServers[0].port", "greater than or equal to 1"),
        ({"port": 65536}, "mcpServers[0].port", "less than or equal to 65535"),
        ({"path": "mcp"}, "mcpServers[0].path", "is not a URL path: '/' then segments"),
        ({"path": "/mcp/../admin"}, "mcpServers[0].path", "no '..' segments"),
        ({"path": "/mcp?x=1"}, "mcpServers[0].path", "contains '?'"),
        ({"path": "/mcp/${env:TOKEN}"}, "mcpServers[0].path", "expansion syntax"),
        ({"protocol": "WebSocket"}, "mcpServers[0].protocol", "'StreamableHTTP' or 'SSE'"),
        ({"url": "http://x"}, "mcpServers[0].url", "unknown field"),
    ],
)
def test_a_bad_mcp_server_is_rejected_naming_the_field(
    workspace: Path, server: dict, field: str, fragment: str
) -> None:
    write_team(workspace, mcpServers=[{**TEAM["mcpServers"][0], **server}])
    found = [e for e in errors(workspace) if f"acme.yaml: {field}:" in e]
    assert found and fragment in found[0], errors(workspace)


def test_mcp_server_names_are_unique(workspace: Path) -> None:
    write_team(workspace, mcpServers=[TEAM["mcpServers"][0], {**TEAM["mcpServers"][0], "service": "other"}])
    assert any(
        "mcpServers[1].name: MCP server 'search' is already defined at mcpServers[0]" in e for e in errors(workspace)
    )


def test_agent_references_in_access_lists_are_checked(workspace: Path) -> None:
    write_team(
        workspace,
        agents=[{"name": "helper", "access": ["acme-devs", "agent:Bad"]}],
        mcpServers=[{**TEAM["mcpServers"][0], "access": ["agent:acme"]}],
    )
    found = errors(workspace)
    assert any("agents[0].access[1]: 'agent:Bad' is not an access entry" in e for e in found), found
    assert any("mcpServers[0].access[0]: 'agent:acme' is not an access entry" in e for e in found), found
    write_team(
        workspace,
        agents=[
            {"name": "helper", "access": ["acme-devs", "agent:acme/ghost"]},
            {"name": "scout", "access": ["agent:other-team/anyone", "agent:support/ticket-router"]},
        ],
    )
    found = errors(workspace)
    assert any(
        "agents[0].access[1]: 'agent:acme/ghost': team acme has no agent 'ghost' (agents: helper, scout)" in e
        for e in found
    ), found
    # Another team's agent must exist today: a team file created later would inherit the access.
    assert any("agents[1].access[0]: 'agent:other-team/anyone': there is no team 'other-team'" in e for e in found), (
        found
    )
    assert not any("agents[1].access[1]" in e for e in found)


@pytest.mark.parametrize(
    ("gateway", "fragment"),
    [
        ({"hostname": "Gateway.Example.com"}, "gateway.hostname: 'Gateway.Example.com' is not a DNS name"),
        ({"providerKeys": {"openia": {"secure": "x"}}}, "unknown provider(s) openia (allowed: openai, anthropic"),
        ({"providerKeys": {"bedrock": {"secure": "x"}}}, "bedrock authenticate with the gateway's cloud identity"),
        ({"providerKeys": {"openai": "sk-live"}}, "a secret must not be stored in plain text"),
        (
            {"budget": {"image": "docker.io/envoyproxy/ratelimit:latest"}},
            "must be pinned as <repository>:<tag>@sha256:<digest>",
        ),
        ({"budget": {"failureMode": "Open"}}, "'FailClosed' or 'FailOpen'"),
        ({"jwksUrl": "ftp://keys"}, "is not an http(s) URL"),
        ({"agentPort": 0}, "gateway.agentPort"),
        ({"listeners": 2}, "gateway.listeners: unknown field"),
    ],
)
def test_bad_gateway_settings_are_rejected(workspace: Path, gateway: dict, fragment: str) -> None:
    set_gateway(workspace, "dev", gateway)
    assert any(fragment in e for e in errors(workspace)), errors(workspace)


def test_every_gateway_key_has_a_default() -> None:
    # A stack that says nothing about the gateway still validates (the shipped staging stack
    # only sets the hostname).
    env = EnvironmentConfig.model_validate(
        {
            "tiers": [
                {
                    "name": "t",
                    "quota": {"cpu": "1", "memory": "1Gi", "pods": "1"},
                    "egress": False,
                    "provenance": "audit",
                    "dailyTokenBudget": 1,
                }
            ]
        }
    )
    assert env.gateway.chart.version == env.gateway.crds_chart.version == "v1.4.1"
    assert env.gateway.chart.repository == "oci://cr.agentgateway.dev/charts"
    assert env.gateway.gateway_api_manifest.endswith("/v1.6.1/standard-install.yaml")


def _env(**gateway) -> EnvironmentConfig:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    raw = {k.removeprefix("agentplane:"): v for k, v in doc.items()}
    raw["gateway"] = gateway
    return EnvironmentConfig.model_validate(raw, context={"source": "file"})


def test_missing_provider_keys_are_named_with_the_models_that_need_them() -> None:
    missing = section.missing_for_deploy(_env())
    assert len(missing) == 2
    assert missing[0].startswith("providerKeys.anthropic is not set; models claude-sonnet-4-5 need it")
    assert missing[1].startswith("providerKeys.openai is not set; models gpt-4o-mini, gpt-4o need it")
    # An encrypted key is configured: the offline plan cannot read it, `pulumi up` can.
    assert (
        section.missing_for_deploy(
            _env(providerKeys={"openai": {"secure": "v1:abc"}, "anthropic": {"secure": "v1:def"}})
        )
        == []
    )


def test_provider_options_a_model_needs_are_required() -> None:
    env = _env()
    env = env.model_copy(
        update={"models": (*env.models, type(env.models[0])(name="gpt-4o-eu", provider="azureopenai"))}
    )
    assert section.check_environment(env) == [
        ("gateway.providerOptions.azureopenai.endpoint", "required by models gpt-4o-eu (provider azureopenai)")
    ]
    with_endpoint = env.model_copy(
        update={"gateway": _env(providerOptions={"azureopenai": {"endpoint": "acme.openai.azure.com"}}).gateway}
    )
    assert section.check_environment(with_endpoint) == []


def test_a_model_whose_provider_lacks_a_required_option_fails_validation(workspace: Path) -> None:
    path = workspace / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["agentplane:models"].append({"name": "gpt-4o-eu", "provider": "azureopenai"})
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert any(
        "agentplane:gateway.providerOptions.azureopenai.endpoint: required by models gpt-4o-eu (provider azureopenai)"
        in e
        for e in errors(workspace)
    ), errors(workspace)


def test_budgets_must_fit_the_budget_service(workspace: Path) -> None:
    # Envoy ratelimit reads requests_per_unit as a uint32; one larger budget would make it reject
    # the whole configuration, and with FailClosed stop every team's inference.
    too_big = 2**32
    write_team(
        workspace, dailyTokenBudget=too_big, agents=[{"name": "helper", "dailyTokenBudget": too_big}, {"name": "scout"}]
    )
    found = errors(workspace)
    assert any(
        f"acme.yaml: dailyTokenBudget: {too_big} tokens/day is more than the budget service can count" in e
        for e in found
    ), found
    assert any(f"acme.yaml: agents[0].dailyTokenBudget: {too_big} tokens/day" in e for e in found), found
    # Below the service's limit a budget is still capped by the team's tier.
    write_team(workspace, dailyTokenBudget=too_big - 1)
    assert any(
        f"acme.yaml: dailyTokenBudget: {too_big - 1} exceeds the standard tier's dailyTokenBudget" in e
        for e in errors(workspace)
    )

    path = workspace / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["agentplane:tiers"][0]["dailyTokenBudget"] = too_big
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert any(
        "agentplane:tiers[0].dailyTokenBudget: 4294967296 tokens/day is more than" in e for e in errors(workspace)
    ), errors(workspace)
