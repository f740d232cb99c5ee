"""Environment settings for the agent gateway (key `agentplane:gateway`) and team-file additions.

The gateway is agentgateway on Gateway API. Everything here has a default so a stack file
that says nothing about the gateway still validates and plans; what `pulumi up` additionally
needs (provider API keys) is reported by `missing_for_deploy`.
"""

from __future__ import annotations

import json
import re
import typing
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from agentplane.config.base import DnsLabel, DnsName, Name, Secret, StrictModel, group_path
from agentplane.config.sections.charts import ChartSource
from agentplane.config.sections.resilience import BudgetStore

if TYPE_CHECKING:  # imported lazily at run time: environment.py imports this module
    from agentplane.config.environment import EnvironmentConfig
    from agentplane.config.team import TeamFile

# `access` entries of this form name an agent (`agent:<team>/<agent>`), not a group.
AGENT_REFERENCE = re.compile(r"^agent:(?P<team>[a-z]([-a-z0-9]*[a-z0-9])?)/(?P<agent>[a-z]([-a-z0-9]*[a-z0-9])?)$")
# Other `access` entries name a group: `<group>` of the team itself, or `<team>/<group>`.
GROUP_REFERENCE = re.compile(r"^((?P<team>[a-z]([-a-z0-9]*[a-z0-9])?)/)?(?P<group>[a-z]([-a-z0-9]*[a-z0-9])?)$")


def _access_entry(value: str) -> str:
    if len(value) > 6 + 40 + 1 + 63 or not (AGENT_REFERENCE.match(value) or GROUP_REFERENCE.match(value)):
        shown = repr(value) if value.isascii() and value.isprintable() and len(value) <= 80 else "the value"
        raise ValueError(
            f"{shown} is not an access entry: a group of this team (payments-devs), another team's group "
            "(<team>/<group>) or an agent (agent:<team>/<agent>), all lowercase names"
        )
    return value


AccessEntry = Annotated[str, Field(strict=True), AfterValidator(_access_entry)]


def resolve_access(entry: str, team: str) -> str:
    """An `access` entry as the gateway compares it: a group's path in tokens
    (`/<team>/<group>`), or the agent reference unchanged."""
    if AGENT_REFERENCE.match(entry):
        return entry
    match = GROUP_REFERENCE.match(entry)
    if match is None:
        return entry  # refused by the grammar; never resolved into a spec
    return group_path(match["team"] or team, match["group"])


def agent_spiffe_id(trust_domain: str, namespace: str, agent: str) -> str:
    """An agent's SPIFFE ID: its ServiceAccount in its team namespace (the ClusterSPIFFEID template)."""
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{agent}"


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL carries credentials (user-info before '@'); the gateway fetches keys without any")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        # Not quoted: a query string may hold a token.
        raise ValueError("is not an http(s) URL with a host (no query or fragment)")
    return value


HttpUrl = Annotated[str, Field(strict=True), AfterValidator(_url)]

_DIGEST_PINNED = re.compile(r"^[a-z0-9.\-/:]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$")


def _pinned_image(value: str) -> str:
    if not _DIGEST_PINNED.match(value):
        raise ValueError(f"{value!r} must be pinned as <repository>:<tag>@sha256:<digest>")
    return value


PinnedImage = Annotated[str, Field(strict=True), AfterValidator(_pinned_image)]


def _model_providers() -> tuple[str, ...]:
    from agentplane.config.environment import ModelProvider

    return typing.get_args(ModelProvider)


class ProviderOptions(StrictModel):
    """Provider settings besides the API key (only some providers need them)."""

    # azureopenai: the resource endpoint, e.g. my-resource.openai.azure.com
    endpoint: DnsName | None = None
    """azureopenai (required): the resource endpoint, e.g. `my-resource.openai.azure.com`."""
    # bedrock, vertexai: the cloud region
    region: str | None = Field(default=None, min_length=1)
    """bedrock (required), vertexai: the cloud region."""
    # vertexai: the Google Cloud project
    project_id: str | None = Field(default=None, min_length=1)
    """vertexai (required): the Google Cloud project."""


# Which providers authenticate with an API key from `providerKeys`, and which need options.
# bedrock and vertexai use the gateway's ambient cloud identity (IRSA / GKE workload identity).
PROVIDERS_WITH_KEYS = ("openai", "anthropic", "gemini", "azureopenai")
REQUIRED_OPTIONS: dict[str, tuple[str, ...]] = {
    "azureopenai": ("endpoint",),
    "bedrock": ("region",),
    "vertexai": ("projectId",),
}


class BudgetService(StrictModel):
    """The rate-limit service that keeps daily token budgets (Envoy ratelimit + Redis).

    agentgateway's local rate limiter counts per second, minute or hour and per proxy
    replica; a daily budget shared by all replicas needs its global rate limit, which asks
    this service. Images are pinned by digest.
    """

    image: PinnedImage = (
        "docker.io/envoyproxy/ratelimit:1e50889b"
        "@sha256:5bb3741fd6709bab1d498eae1a5807faa2113b712dfb236fb76c04a00871ffc9"
    )
    """The rate-limit service image, pinned by digest (`<repo>:<tag>@sha256:<digest>`)."""
    redis_image: PinnedImage = (
        "docker.io/library/redis:7.4.5-alpine@sha256:bb186d083732f669da90be8b0f975a37812b15e913465bb14d845db72a4e3e08"
    )
    """The counters' Redis image, pinned by digest (`<repo>:<tag>@sha256:<digest>`)."""
    # Absent: 2 where `protect: true`, else 1 (resilience.py).
    replicas: int | None = Field(default=None, strict=True, ge=1, le=10)
    """Rate-limit service replicas (they share Redis); a protected stack refuses 1. Default: `2` where `protect: true`,
    else `1`."""
    # FailClosed: when the budget cannot be checked, inference is refused with a 500 (a budget
    # that fails open is no budget). FailOpen keeps models reachable, unmetered, during a
    # budget-service or store outage. docs/faults.md says what clients see either way.
    failure_mode: Literal["FailClosed", "FailOpen"] = "FailClosed"
    """When the budget cannot be checked: `FailClosed` refuses model calls (500 `rate limit failed`), `FailOpen` lets
    them through unmetered ([faults](faults.md#what-clients-see-when-the-budget-service-cannot-answer))."""
    store: BudgetStore = BudgetStore()
    """The Redis that holds the day's token counters."""


class PublicHttps(StrictModel):
    """How the HTTPS listener is published outside the cluster (and nothing else is).

    agentgateway's controller renders the proxy Service as `type: LoadBalancer` with every
    listener port (agentgateway/agentgateway@v1.4.1:controller/pkg/helm/agentgateway/templates/service.yaml),
    plain HTTP included. The platform turns that Service into ClusterIP (AgentgatewayParameters
    `service` overlay) and publishes only the HTTPS port with a Service of its own.
    """

    # LoadBalancer: a cloud load balancer. NodePort: `httpsNodePort` on every node (a local
    # cluster maps it to the host). ClusterIP: not published (bring your own ingress).
    type: Literal["LoadBalancer", "NodePort", "ClusterIP"] = "LoadBalancer"
    """How the HTTPS listener (and only it) is published outside the cluster: `LoadBalancer`, `NodePort` or `ClusterIP`
    (not published)."""
    # NodePort only: infra/kind-cluster.yaml maps host port 8443 to node port 30443.
    https_node_port: int | None = Field(default=None, strict=True, ge=30000, le=32767)
    """With `NodePort` only, and then required (30000-32767); dev uses 30443, which `infra/kind-cluster.yaml` maps to
    `localhost:8443`."""

    @model_validator(mode="after")
    def _node_port_with_node_port_type(self) -> PublicHttps:
        if (self.type == "NodePort") != (self.https_node_port is not None):
            raise ValueError(f"httpsNodePort is required with type NodePort and only then (type is {self.type})")
        return self


# Built-in detectors of agentgateway's regex prompt guard (CRD enum; llm/policy/pii/).
GUARD_BUILTINS = ("CaSin", "CreditCard", "Email", "PhoneNumber", "Ssn")


# Python `re` syntax that Rust's regex crate, which agentgateway parses patterns with, lacks
# (agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/llm/policy/mod.rs, RegexRule::Regex is
# a `regex::Regex`; look-around and backreferences: rust-lang/regex#618). A pattern the proxy
# cannot parse would drop the guard there, so such patterns are refused here.
_NOT_IN_RUST_REGEX = (
    (re.compile(r"\(\?<?[=!]"), "look-around"),
    (re.compile(r"\(\?>"), "atomic groups"),
    (re.compile(r"\(\?\("), "conditionals"),
    (re.compile(r"\(\?P="), "named backreferences"),
    (re.compile(r"\(\?#"), "comments"),
    (re.compile(r"\\[1-9]"), "backreferences"),
    (re.compile(r"\\Z"), "\\Z (use \\z)"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers"),
)


def _outside_classes(pattern: str) -> str:
    """The pattern with character classes and escaped literals blanked (backreferences and \\Z
    kept), so syntax checks see only what is an operator."""
    out, i, depth = [], 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2] if not depth and pattern[i + 1] in "123456789Z" else "__")
            i += 2
            continue
        if char == "[" and (depth == 0 or pattern[i + 1 : i + 2] == ":"):
            depth += 1
        elif char == "]" and depth:
            depth -= 1
            out.append("_")
            i += 1
            continue
        out.append("_" if depth else char)
        i += 1
    return "".join(out)


def _guard_pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"{value!r} is not a regular expression ({error})") from None
    operators = _outside_classes(value)
    for construct, name in _NOT_IN_RUST_REGEX:
        if construct.search(operators):
            raise ValueError(
                f"{value!r} uses {name}, which agentgateway's regular expressions (Rust regex syntax) do not support"
            )
    if re.fullmatch(value, "") is not None:
        raise ValueError(f"{value!r} matches the empty string, so it would block or mask everything")
    return value


GuardPattern = Annotated[str, Field(strict=True, min_length=1, max_length=1024), AfterValidator(_guard_pattern)]


class ModerationWebhook(StrictModel):
    """A moderation service agentgateway asks about each prompt/response (its guardrail webhook API)."""

    service: DnsLabel
    namespace: DnsLabel
    port: int = Field(strict=True, ge=1, le=65535)
    # FailClosed: when the webhook cannot answer, the request is refused.
    failure_mode: Literal["FailClosed", "FailOpen"] = "FailClosed"


class GuardSide(StrictModel):
    """What to look for in prompts (request) or completions (response)."""

    builtins: tuple[Literal["CaSin", "CreditCard", "Email", "PhoneNumber", "Ssn"], ...] = ()
    patterns: tuple[GuardPattern, ...] = ()
    # Reject refuses the request/response; Mask replaces the match and lets it through.
    action: Literal["Reject", "Mask"] = "Reject"
    webhook: ModerationWebhook | None = None


class GuardProfile(StrictModel):
    request: GuardSide = GuardSide()
    response: GuardSide = GuardSide()


class Guardrails(StrictModel):
    """Content-safety guardrails on every model route (agentgateway prompt guards).

    A tier's guards are `all`, its own entry in `tiers`, and everything the tier below it
    has: a higher tier never has weaker guards, unless the operator lists it in
    `weakerThanLowerTiers` (then it starts again from `all` and its own entry).
    """

    all: GuardProfile = GuardProfile()
    """Content-safety guards on every model route: `request` / `response`, each `{builtins: [Ssn, CreditCard, Email,
    PhoneNumber, CaSin], patterns: [<regex>], action: Reject|Mask (default Reject), webhook: {service, namespace, port,
    failureMode}}` ([gateway](components/gateway.md#content-safety-guardrails)). Default: none."""
    tiers: dict[str, GuardProfile] = {}
    """`<tier>: {request, response}`: guards added for a tier; every higher tier inherits them. Default: none."""
    weaker_than_lower_tiers: tuple[str, ...] = ()
    """Tiers that do not inherit the guards of the tiers below (the only way a higher tier is weaker)."""


class GatewayConfig(StrictModel):
    # The HTTPS listener's host name; its certificate comes from the platform CA.
    hostname: DnsName = "gateway.localtest.me"
    """Host name of the HTTPS listener and its certificate."""
    # A plain-HTTP listener for agents inside the cluster (tenant NetworkPolicies already
    # confine who can reach it); it is never published outside the cluster (see `publicHttps`).
    http_listener: bool = Field(default=True, strict=True)
    """The plain-HTTP listener on port 80 for agents in the cluster; never published outside it (the proxy's own Service
    is ClusterIP)."""
    public_https: PublicHttps = PublicHttps()
    """How the HTTPS listener is published."""
    guardrails: Guardrails = Guardrails()
    """Content-safety guards on model routes."""
    gateway_api_manifest: HttpUrl = (
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml"
    )
    """The Gateway API standard CRDs manifest (override for a mirror)."""
    crds_chart: ChartSource = ChartSource(
        repository="oci://cr.agentgateway.dev/charts", chart="agentgateway-crds", version="v1.4.1"
    )
    """The agentgateway CRDs chart: `{repository, chart, version}`, all three when set (a mirror)."""
    chart: ChartSource = ChartSource(
        repository="oci://cr.agentgateway.dev/charts", chart="agentgateway", version="v1.4.1"
    )
    """The agentgateway chart: `{repository, chart, version}`, all three when set (a mirror)."""
    # Absent: 2 where `protect: true`, else 1 (resilience.py).
    proxy_replicas: int | None = Field(default=None, strict=True, ge=1, le=20)
    """Proxy replicas; a protected stack refuses 1 ([faults](faults.md#availability-in-protected-environments)).
    Default: `2` where `protect: true`, else `1`."""
    # Provider API keys, `{openai: {secure: ...}}` in a stack file. They become a Secret in
    # the gateway namespace only; no team namespace ever holds one.
    provider_keys: dict[str, Secret] = {}
    """`<provider>: secret`: API key per provider, set with `pulumi config set --secret --path
    'agentplane:gateway.providerKeys.openai' <key>`; only for `openai`, `anthropic`, `gemini`, `azureopenai`. A provider
    used by `agentplane:models` without a key is a warning in `plan` and an error in `pulumi up`."""
    provider_options: dict[str, ProviderOptions] = {}
    """`<provider>: {endpoint, region, projectId}`: `endpoint` (azureopenai, required), `region` (bedrock, required;
    vertexai), `projectId` (vertexai, required). bedrock and vertexai use the gateway's cloud identity instead of a
    key."""
    # Where the gateway fetches the realm's signing keys; absent: <issuer>/protocol/openid-connect/certs.
    jwks_url: HttpUrl | None = None
    """Where the proxy reads the realm's signing keys (https: verified against public roots). Default:
    `<issuer>/protocol/openid-connect/certs`."""
    # SPIRE's OIDC discovery issuer; when set, JWT-SVIDs (sub = the agent's SPIFFE ID) are
    # accepted as well as Keycloak tokens. Its keys are read from <issuer>/keys.
    spiffe_issuer: HttpUrl | None = None
    """SPIRE OIDC discovery issuer; set, the gateway also accepts JWT-SVIDs (keys from `<issuer>/keys`)."""
    # Each agent serves HTTP on Service <agent>:<agentPort> in its team namespace.
    agent_port: int = Field(default=8080, strict=True, ge=1, le=65535)
    """Port of every agent's Service."""
    budget: BudgetService = BudgetService()
    """The rate-limit service that keeps daily token budgets."""
    # Share of new traces the gateway starts (0.0-1.0) when telemetry is installed.
    trace_sampling: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of new traces the gateway starts (0.0-1.0) when telemetry is installed."""

    @field_validator("provider_keys", "provider_options")
    @classmethod
    def _known_providers(cls, value: dict) -> dict:
        known = _model_providers()
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown provider(s) {', '.join(unknown)} (allowed: {', '.join(known)})")
        return value

    @model_validator(mode="after")
    def _keys_only_where_used(self) -> GatewayConfig:
        keyless = sorted(set(self.provider_keys) - set(PROVIDERS_WITH_KEYS))
        if keyless:
            raise ValueError(
                f"providerKeys: {', '.join(keyless)} authenticate with the gateway's cloud identity, not an API key "
                f"(providers with keys: {', '.join(PROVIDERS_WITH_KEYS)})"
            )
        return self


def providers_in_use(env: EnvironmentConfig) -> dict[str, list[str]]:
    """provider -> the approved models it serves."""
    used: dict[str, list[str]] = {}
    for model in env.models:
        used.setdefault(model.provider, []).append(model.name)
    return used


# The budget service (Envoy ratelimit) reads `requests_per_unit` as a uint32: a larger budget
# makes it reject its whole configuration, i.e. every team's budget, not just this one.
MAX_DAILY_TOKEN_BUDGET = 2**32 - 1


def _budget_problem(field: str, budget: int | None) -> list[tuple[str, str]]:
    if budget is None or budget <= MAX_DAILY_TOKEN_BUDGET:
        return []
    return [
        (field, f"{budget} tokens/day is more than the budget service can count (at most {MAX_DAILY_TOKEN_BUDGET})")
    ]


def _guardrail_problems(env: EnvironmentConfig) -> list[tuple[str, str]]:
    tiers = [t.name for t in env.tiers]
    guardrails = env.gateway.guardrails
    problems = [
        (f"gateway.guardrails.tiers.{name}", f"no tier {name!r} (tiers: {', '.join(tiers)})")
        for name in guardrails.tiers
        if name not in tiers
    ]
    for i, name in enumerate(guardrails.weaker_than_lower_tiers):
        if name not in tiers:
            problems.append(
                (f"gateway.guardrails.weakerThanLowerTiers[{i}]", f"no tier {name!r} (tiers: {', '.join(tiers)})")
            )
        elif name == tiers[0]:
            problems.append(
                (
                    f"gateway.guardrails.weakerThanLowerTiers[{i}]",
                    f"{name!r} is the lowest tier: there is nothing below it to be weaker than",
                )
            )
    # The refusing request patterns are also matched over the raw body in one CEL condition of
    # the model route's direct response, which the CRD caps at 16384 characters; a route may
    # carry every tier's patterns, so all of them together must fit.
    profiles = (guardrails.all, *guardrails.tiers.values())
    patterns = dict.fromkeys(p for g in profiles if g.request.action == "Reject" for p in g.request.patterns)
    size = sum(len("string(request.body).matches() || ") + len(json.dumps(p)) for p in patterns)
    if size > RAW_BODY_CONDITION_LIMIT:
        problems.append(
            (
                "gateway.guardrails",
                f"the refusing request patterns of all tiers together need a {size}-character CEL condition; "
                f"agentgateway allows {RAW_BODY_CONDITION_LIMIT} (shorten or merge patterns)",
            )
        )
    return problems


# agentgateway's CRD: directResponse.conditional[].condition maxLength
# (agentgateway.dev AgentgatewayPolicy v1.4.1).
RAW_BODY_CONDITION_LIMIT = 16384


def check_environment(env: EnvironmentConfig) -> list[tuple[str, str]]:
    """Provider options a model needs but the stack does not set (the backend would be invalid),
    tier budgets the budget service cannot hold, and guardrail tiers that do not exist."""
    problems: list[tuple[str, str]] = _guardrail_problems(env)
    for i, tier in enumerate(env.tiers):
        problems += _budget_problem(f"tiers[{i}].dailyTokenBudget", tier.daily_token_budget)
    for provider, models in sorted(providers_in_use(env).items()):
        options = env.gateway.provider_options.get(provider, ProviderOptions())
        for option in REQUIRED_OPTIONS.get(provider, ()):
            attribute = re.sub(r"(?<!^)(?=[A-Z])", "_", option).lower()
            if getattr(options, attribute) is None:
                problems.append(
                    (
                        f"gateway.providerOptions.{provider}.{option}",
                        f"required by models {', '.join(models)} (provider {provider})",
                    )
                )
    return problems


def missing_for_deploy(env: EnvironmentConfig) -> list[str]:
    """API keys `pulumi up` needs for the approved models but the stack does not configure."""
    missing = []
    for provider, models in sorted(providers_in_use(env).items()):
        if provider in PROVIDERS_WITH_KEYS and provider not in env.gateway.provider_keys:
            missing.append(
                f"providerKeys.{provider} is not set; models {', '.join(models)} need it "
                f"(pulumi config set --secret --path 'agentplane:gateway.providerKeys.{provider}' <key>)"
            )
    return missing


# --- team-file additions -------------------------------------------------------------------


_MCP_PATH = re.compile(r"^(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?$|^/$")


def _mcp_path(value: str) -> str:
    # The gateway sends it to the tool server as is: segments of unreserved URL characters
    # only, no '.'/'..' segments, no query, fragment, percent-escapes or expansion syntax.
    if len(value) > 256 or not _MCP_PATH.match(value) or any(seg in (".", "..") for seg in value.split("/")):
        shown = repr(value) if value.isascii() and value.isprintable() and len(value) <= 80 else "the value"
        raise ValueError(
            f"{shown} is not a URL path: '/' then segments of letters, digits and ._~- (no '..' segments, "
            "query or '%'), at most 256 characters"
        )
    return value


# MCP tool names (MCP specification 2025-11-25, "Tool names"): 1-128 characters of ASCII
# letters, digits, `_`, `-` and `.`.
MCP_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _tool_name(value: str) -> str:
    if not MCP_TOOL_NAME.match(value):
        raise ValueError(f"{value!r} is not an MCP tool name (1-128 of A-Z a-z 0-9 _ - .)")
    return value


ToolName = Annotated[str, Field(strict=True), AfterValidator(_tool_name)]


class ToolGrant(StrictModel):
    """Some of a server's tools, for some of the callers its `access` admits."""

    # Groups or agents (`agent:<team>/<agent>`), each one the server's access admits.
    callers: tuple[AccessEntry, ...] = Field(min_length=1)
    tools: tuple[ToolName, ...] = Field(min_length=1)


class McpServer(StrictModel):
    """An MCP tool server a team runs in its own namespace and exposes through the gateway."""

    name: Name
    # A Service in the team's namespace.
    service: Name
    port: int = Field(strict=True, ge=1, le=65535)
    path: Annotated[str, Field(strict=True), AfterValidator(_mcp_path)] = "/mcp"
    protocol: Literal["StreamableHTTP", "SSE"] = "StreamableHTTP"
    # Groups or agents (`agent:<team>/<agent>`) that may use the tools; absent: the team's own
    # agents, owners and members.
    access: tuple[AccessEntry, ...] | None = None
    # Per-tool authorization: when set, a caller sees and calls only the tools of the grants
    # naming it (agentgateway's MCP authorization); absent: every tool for everyone in `access`.
    tools: tuple[ToolGrant, ...] | None = Field(default=None, min_length=1)


def check_team(team: TeamFile, env: EnvironmentConfig, stack: str) -> list[tuple[str, str]]:
    """Cross-field checks of the team-file fields the gateway reads."""
    problems: list[tuple[str, str]] = _budget_problem("dailyTokenBudget", team.daily_token_budget)
    for i, agent in enumerate(team.agents):
        problems += _budget_problem(f"agents[{i}].dailyTokenBudget", agent.daily_token_budget)
    seen: dict[str, int] = {}
    for i, server in enumerate(team.mcp_servers):
        if server.name in seen:
            problems.append(
                (
                    f"mcpServers[{i}].name",
                    f"MCP server {server.name!r} is already defined at mcpServers[{seen[server.name]}]",
                )
            )
        seen.setdefault(server.name, i)
    # A grant cannot widen who reaches the server: it only narrows the tools. Entries compare
    # as the gateway sees them (group paths), so `devs` and `<team>/devs` are one group.
    for i, server in enumerate(team.mcp_servers):
        entries = (
            server.access
            if server.access is not None
            else (*team.owners, *team.members, *(f"agent:{team.name}/{a.name}" for a in team.agents))
        )
        admitted = {resolve_access(e, team.name) for e in entries}
        for j, grant in enumerate(server.tools or ()):
            for k, caller in enumerate(grant.callers):
                if resolve_access(caller, team.name) not in admitted:
                    problems.append(
                        (
                            f"mcpServers[{i}].tools[{j}].callers[{k}]",
                            f"{caller!r} may not reach MCP server {server.name!r} (its access: "
                            f"{', '.join(sorted(entries)) or 'none'})",
                        )
                    )
    # Whether `access` entries name existing teams, groups and agents is checked across all
    # team files (config.checks.reference_issues).
    return problems
