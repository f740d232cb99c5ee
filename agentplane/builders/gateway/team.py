"""One team's gateway objects: routes, backends and the policies that guard them.

All of them live in the gateway namespace (tenants cannot edit them there) and carry the
team's label. Each HTTPRoute has exactly one AgentgatewayPolicy of the same name holding
every traffic field for it, so no two policies compete for a field.

Paths, per team T:
  /llm/T/<model>/...        an approved model (OpenAI chat-completions format); the body may name no other
  /llm/T/...                anything else under /llm/T: 403 naming the caller's approved models
  /agents/T/<agent>/...     an agent, for the callers its `access` allows
  /mcp/T/<server>           an MCP server the team registered
  /egress/T/<host>/...      an external host on the team's egress list (TLS to <host>:443)
"""

from __future__ import annotations

import re

from agentplane.builders.gateway import guardrails as guardrails
from agentplane.builders.gateway import token_budgets as budget
from agentplane.builders.gateway.platform import (
    AGW_API,
    CALLER,
    CALLER_HEADER,
    CALLER_KIND,
    CALLER_KIND_HEADER,
    DENIAL_HEADER,
    EGRESS_DYNAMIC_BACKEND,
    EGRESS_TOKEN_HEADER,
    GATEWAY_API,
    PRINCIPAL,
    Identity,
    allowed_callers,
    backend_ref,
    cel_list,
    cel_map,
    cel_string,
    jwt_authentication,
    meta,
    model_backend_name,
    parent_refs,
    route_target,
    slug,
    static_backend,
)
from agentplane.config.platform import AgentSpec, PlatformSpec, TeamSpec
from agentplane.config.sections.gateway import McpServer
from agentplane.manifest import Obj

EGRESS_PORT = 443


def llm_prefix(team: TeamSpec) -> str:
    return f"/llm/{team.name}"


def model_prefix(team: TeamSpec, model: str) -> str:
    return f"{llm_prefix(team)}/{model}"


def agent_prefix(team: TeamSpec, agent: str) -> str:
    return f"/agents/{team.name}/{agent}"


def mcp_prefix(team: TeamSpec, server: str) -> str:
    return f"/mcp/{team.name}/{server}"


def egress_prefix(team: TeamSpec) -> str:
    return f"/egress/{team.name}"


# --- building blocks -----------------------------------------------------------------------


def _route(name: str, team: TeamSpec, rules: list[dict]) -> Obj:
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": meta(name, team),
        "spec": {"parentRefs": parent_refs(), "rules": rules},
    }


def _rule(name: str, prefix: str, backend: str | None = None, *, strip_prefix: bool = True) -> dict:
    rule: dict = {"name": name, "matches": [{"path": {"type": "PathPrefix", "value": prefix}}]}
    if backend is not None:
        rule["backendRefs"] = [backend_ref(backend)]
        if strip_prefix:
            rule["filters"] = [
                {
                    "type": "URLRewrite",
                    "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
                }
            ]
    return rule


def _policy(name: str, team: TeamSpec, traffic: dict) -> Obj:
    return {
        "apiVersion": AGW_API,
        "kind": "AgentgatewayPolicy",
        "metadata": meta(name, team),
        "spec": {"targetRefs": route_target(name), "traffic": traffic},
    }


def _authorize(expression: str) -> dict:
    return {"action": "Allow", "policy": {"matchExpressions": [expression]}}


def _denial(status: int, kind: str, message_cel: str) -> dict:
    """A direct response: JSON error body (OpenAI error shape, so SDKs surface the message)."""
    return {
        "status": status,
        "headers": [
            {"name": "content-type", "value": cel_string("application/json")},
            {"name": DENIAL_HEADER, "value": cel_string(kind)},
        ],
        "bodyExpression": f'{{"error": {{"type": {cel_string(kind)}, "code": {status}, "message": {message_cel}}}}}',
    }


def _per_caller(messages: dict[str, str]) -> str:
    """CEL picking the caller's message (every allowed caller has one)."""
    return f"{cel_map(messages)}[{PRINCIPAL}]"


def _forward_identity_not_token() -> dict:
    """Callees learn who called; they never receive a token they could replay at the gateway
    (in either header a client may put one). `set` replaces whatever the client sent, and a
    failed expression removes the header."""
    return {
        "request": {
            "set": [{"name": CALLER_HEADER, "value": CALLER}, {"name": CALLER_KIND_HEADER, "value": CALLER_KIND}],
            "remove": ["authorization", EGRESS_TOKEN_HEADER],
        }
    }


# --- models --------------------------------------------------------------------------------


def team_models(team: TeamSpec) -> list[str]:
    """Models at least one agent of the team may use (team models ∩ each agent's tier)."""
    return [m for m in team.models if any(m in a.models for a in team.agents)]


def _approved_messages(team: TeamSpec, ident: Identity, subject: str) -> dict[str, str]:
    messages = {}
    for agent in team.agents:
        approved = ", ".join(agent.models) or "none"
        text = (
            f"{subject} is not approved for agent {team.name}/{agent.name} (tier {agent.tier.name}); approved "
            f"models: {approved}"
        )
        for caller in ident.agent(team.name, agent.name):
            messages[caller] = text
    return messages


def model_route(team: TeamSpec, model: str) -> Obj:
    name = f"{team.name}-{model_backend_name(model)}"
    # Backends are platform-owned, in this namespace: no cross-namespace reference is needed.
    return _route(name, team, [_rule("model", model_prefix(team, model), model_backend_name(model))])


def fail_closed(condition: str) -> str:
    """A refusal condition that also holds when it cannot be evaluated. agentgateway skips a
    conditional policy whose condition fails to evaluate (Executor::eval_bool is false on error:
    agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/cel/types.rs; RequestPolicy::select,
    crates/agentgateway/src/store/policy.rs); celx `coalesce` takes the first argument that
    evaluates (crates/celx/src/general.rs), so an error here means refusal."""
    return f"coalesce({condition}, true)"


# The request body, parsed (agentgateway buffers it for any route expression that reads it:
# agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/cel/mod.rs, maybe_buffer_request_body).
# CEL sees the bytes as received: never decoded, and absent beyond the buffer limit
# (crates/agentgateway/src/cel/types.rs, BufferedBody), while the LLM path decodes
# Content-Encoding before parsing (crates/agentgateway/src/llm/mod.rs, read_body_and_default_model).
BODY = "json(request.body)"

# A body CEL cannot parse (gzip or any other Content-Encoding, not JSON, over the limit) would
# make the two checks below fail to evaluate, i.e. pass, while the LLM path still reads it: a
# gzipped `include_usage: false` would reach the provider uncounted. Such bodies are refused.
BODY_UNREADABLE = fail_closed(f"size({BODY}) < 0")
BODY_UNREADABLE_MESSAGE = (
    "the request body must be uncompressed JSON (no Content-Encoding) of at most 2 MiB: "
    "the gateway checks the model and the usage options in it before the model is called"
)


def body_names_other_model(model: str) -> str:
    """CEL: the body's `model` is present and is not the route's model. Once BODY_UNREADABLE
    has passed, the body is JSON and an error means it names no model (or one of another
    type, which agentgateway overwrites): the provider call then uses the route's model, which
    the backend fixes (set_provider_request_model)."""
    return f"{BODY}.model != {cel_string(model)}"


# `stream_options: {include_usage: false}` would make the provider report no usage, and
# agentgateway counts a response without usage as 0 tokens
# (agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/llm/mod.rs forces include_usage only
# when stream_options is absent or null). Once the body is known to be JSON, an error here means
# stream_options is absent or null (usage is then forced) or malformed (the LLM path refuses the
# body: StreamOptions.include_usage is a required bool, crates/llm/src/types/completions.rs).
OPTS_OUT_OF_USAGE = f"{BODY}.stream_options.include_usage == false"


def body_matches_any(patterns: tuple[str, ...]) -> str:
    """CEL: the raw body (as received; BODY_UNREADABLE has passed) matches one of the patterns."""
    return " || ".join(f"string(request.body).matches({cel_string(p)})" for p in patterns)


def _raw_body_guard(team: TeamSpec, model: str, spec: PlatformSpec) -> list[dict]:
    """The operator's refusing prompt patterns, over the whole body: tool results and tool-call
    arguments too, which agentgateway's guard does not read. Same refusal as the guard's, plus
    the denial header, so the access log's `agentplane.denial` names it."""
    patterns = guardrails.raw_body_patterns(team, model, spec.env)
    if not patterns:
        return []
    text = guardrails.message("request", team, model)
    return [
        {
            "condition": body_matches_any(patterns),
            "policy": _denial(guardrails.BLOCKED_STATUS, guardrails.BLOCKED_TYPE, cel_string(text)),
        }
    ]


def model_policy(team: TeamSpec, model: str, spec: PlatformSpec, ident: Identity) -> Obj:
    allowed = [a for a in team.agents if model in a.models]
    served = f"{model_prefix(team, model)} serves {model} only"
    traffic = {
        "jwtAuthentication": jwt_authentication(ident),
        "authorization": _authorize(allowed_callers(ident, (), agents=ident.agents(team))),
        "rateLimit": {"global": budget.rate_limit(team, spec, ident)},
        # agentgateway replaces `authorization` with the provider key; a platform token in the
        # egress header would otherwise go to the provider.
        "transformation": {
            "request": {"remove": [EGRESS_TOKEN_HEADER]},
            "response": {"set": budget.response_headers(team)},
        },
        "directResponse": {
            "conditional": [
                {
                    "condition": fail_closed(f"!({PRINCIPAL} in {cel_list(ident.agents(team, allowed))})"),
                    "policy": _denial(
                        403, "model_not_approved", _per_caller(_approved_messages(team, ident, f"model {model}"))
                    ),
                },
                {
                    "condition": BODY_UNREADABLE,
                    "policy": _denial(400, "body_unreadable", cel_string(BODY_UNREADABLE_MESSAGE)),
                },
                *_raw_body_guard(team, model, spec),
                {
                    "condition": body_names_other_model(model),
                    "policy": _denial(
                        403,
                        "model_not_approved",
                        _per_caller(_approved_messages(team, ident, f"the model named in the request body ({served})")),
                    ),
                },
                {
                    "condition": OPTS_OUT_OF_USAGE,
                    "policy": _denial(
                        400,
                        "usage_required",
                        cel_string(
                            "stream_options.include_usage may not be false: the gateway counts every request's "
                            f"tokens against the daily budget of team {team.name}; omit stream_options or set "
                            "include_usage: true"
                        ),
                    ),
                },
            ]
        },
    }
    policy = _policy(f"{team.name}-{model_backend_name(model)}", team, traffic)
    guard = guardrails.prompt_guard(team, model, spec.env)
    if guard is not None:
        # Platform-owned: built from the stack file only, on the route every caller of the model takes.
        policy["spec"]["backend"] = {"ai": {"promptGuard": guard}}
    return policy


def models_fallback(team: TeamSpec, ident: Identity) -> list[Obj]:
    """Any other path under /llm/<team>: a model the team may not use, named alternatives."""
    name = f"{team.name}-models"
    traffic = {
        "jwtAuthentication": jwt_authentication(ident),
        "authorization": _authorize(allowed_callers(ident, (), agents=ident.agents(team))),
        "directResponse": _denial(
            403, "model_not_approved", _per_caller(_approved_messages(team, ident, "this model"))
        ),
    }
    return [_route(name, team, [_rule("not-approved", llm_prefix(team))]), _policy(name, team, traffic)]


# --- agents and MCP servers ----------------------------------------------------------------


def agent_objects(team: TeamSpec, agent: AgentSpec, spec: PlatformSpec, ident: Identity) -> list[Obj]:
    name = f"{team.name}-agent-{agent.name}"
    host = f"{agent.name}.{team.namespace}.svc.cluster.local"
    traffic = {
        "jwtAuthentication": jwt_authentication(ident),
        # `access` opens the agent; absent, it is the team's owners (resolved in the spec).
        "authorization": _authorize(allowed_callers(ident, agent.access)),
        "transformation": _forward_identity_not_token(),
    }
    return [
        static_backend(name, host, spec.env.gateway.agent_port, tls=False, team=team),
        _route(name, team, [_rule("agent", agent_prefix(team, agent.name), name)]),
        _policy(name, team, traffic),
    ]


def mcp_access(team: TeamSpec, server: McpServer, ident: Identity) -> str:
    if server.access is not None:
        return allowed_callers(ident, server.access)
    return allowed_callers(ident, (*team.owners, *team.members), agents=ident.agents(team))


def mcp_tool_authorization(server: McpServer, ident: Identity) -> dict | None:
    """agentgateway's MCP authorization for a server with `tools` grants: `tools/list` shows a
    caller only its tools and `tools/call` of any other is refused
    (agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/mcp/rbac.rs, McpAuthorizationSet::validate;
    `mcp.tool.name` from MCPInfo in crates/agentgateway/src/mcp/mod.rs). Prompts and resources
    stay governed by the server's `access` alone: for them MCPInfo has no `tool`, which CEL then
    does not see at all (serde `skip_serializing_if`, honoured by crates/cel-fork/cel-derive)."""
    if server.tools is None:
        return None
    grants = [
        f"(({allowed_callers(ident, g.callers)}) && mcp.tool.name in {cel_list(dict.fromkeys(g.tools))})"
        for g in server.tools
    ]
    return {"action": "Allow", "policy": {"matchExpressions": [f"!has(mcp.tool) || {' || '.join(grants)}"]}}


def mcp_objects(team: TeamSpec, server: McpServer, ident: Identity) -> list[Obj]:
    name = f"{team.name}-mcp-{server.name}"
    backend = {
        "apiVersion": AGW_API,
        "kind": "AgentgatewayBackend",
        "metadata": meta(name, team),
        "spec": {
            "mcp": {
                "targets": [
                    {
                        "name": server.name,
                        "static": {
                            "host": f"{server.service}.{team.namespace}.svc.cluster.local",
                            "port": server.port,
                            "path": server.path,
                            "protocol": server.protocol,
                        },
                    }
                ]
            }
        },
    }
    tools = mcp_tool_authorization(server, ident)
    if tools is not None:
        backend["spec"]["policies"] = {"mcp": {"authorization": tools}}
    traffic = {
        "jwtAuthentication": jwt_authentication(ident),
        "authorization": _authorize(mcp_access(team, server, ident)),
        "transformation": _forward_identity_not_token(),
    }
    # The MCP backend speaks to the target's own path; the route path is only the entry point.
    route = _route(name, team, [_rule("mcp", mcp_prefix(team, server.name), name, strip_prefix=False)])
    return [backend, route, _policy(name, team, traffic)]


# --- egress --------------------------------------------------------------------------------


# The path the agent asked for, kept before anything rewrites it. agentgateway applies a route's
# request transformation before its URL rewrite and direct response, and `request.path` reads
# the URI as rewritten so far (agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/proxy/httpproxy.rs,
# apply_request_policies; crates/agentgateway/src/http/filters.rs, UrlRewrite::apply).
EGRESS_PATH_KEY = "egressPath"
EGRESS_PATH = f"metadata.{EGRESS_PATH_KEY}"


def _host_regex(pattern: str) -> str:
    if pattern.startswith("*."):
        return r"[a-z0-9-]+([.][a-z0-9-]+)*" + re.escape(pattern[1:]).replace(r"\.", "[.]")
    return re.escape(pattern).replace(r"\.", "[.]")


def egress_allowed(team: TeamSpec, path: str = "request.path") -> str:
    """CEL: the path names a host on the team's egress list (`/egress/<team>/<host>[/...]`)."""
    if not team.egress:
        return "false"
    hosts = "|".join(_host_regex(p) for p in team.egress)
    return f"{path}.matches({cel_string(f'^{re.escape(egress_prefix(team))}/({hosts})(/.*)?$')})"


def carries_platform_token(ident: Identity) -> str:
    """CEL: the request's `Authorization` (which egress forwards to the external host) holds a
    JWT issued by the platform, whatever its scheme word. Only the issuer is read, unvalidated:
    the point is to keep such a token in, not to trust it (celx `unvalidatedJwtPayload`,
    agentgateway/agentgateway@v1.4.1:crates/celx/src/general.rs). Anything else, or no header,
    fails to evaluate and counts as no platform token."""
    issuers = [ident.issuer, *([ident.spiffe_issuer] if ident.spiffe_issuer else [])]
    token = 'regexReplace(request.headers["authorization"], "^[A-Za-z]+ +", "")'
    return f"coalesce(unvalidatedJwtPayload({token}).iss in {cel_list(issuers)}, false)"


def _egress_denials(team: TeamSpec, ident: Identity, path: str) -> dict:
    with_egress = [a for a in team.agents if a.egress]
    tier_messages = {}
    for agent in team.agents:
        text = (
            f"egress denied: agent {team.name}/{agent.name} runs at tier {agent.tier.name}, which allows no "
            "external egress"
            if not agent.egress
            else f"egress denied for agent {team.name}/{agent.name}"
        )
        for caller in ident.agent(team.name, agent.name):
            tier_messages[caller] = text
    allowed = ", ".join(team.egress) or "none"
    not_listed = f"egress denied: this host is not on the egress list of team {team.name} (allowed: {allowed})"
    leak = (
        "egress denied: the Authorization header holds a token of the platform, which would be sent to the external "
        f"host; send it only in {EGRESS_TOKEN_HEADER} (the gateway removes it there)"
    )
    return {
        "conditional": [
            {
                "condition": fail_closed(f"!({PRINCIPAL} in {cel_list(ident.agents(team, with_egress))})"),
                "policy": _denial(403, "egress_denied", _per_caller(tier_messages)),
            },
            {"condition": carries_platform_token(ident), "policy": _denial(403, "egress_denied", cel_string(leak))},
            {
                "condition": fail_closed(f"!({egress_allowed(team, path)})"),
                "policy": _denial(403, "egress_denied", cel_string(not_listed)),
            },
        ]
    }


def _egress_traffic(team: TeamSpec, ident: Identity, path: str) -> dict:
    return {
        # The agent's own Authorization header is for the external service; ours is separate.
        "jwtAuthentication": jwt_authentication(ident, header=EGRESS_TOKEN_HEADER),
        "authorization": _authorize(allowed_callers(ident, (), agents=ident.agents(team))),
        "directResponse": _egress_denials(team, ident, path),
    }


def egress_backend_name(team: TeamSpec, host: str) -> str:
    return f"{team.name}-egress-{slug(host, 200)}"


def egress_objects(team: TeamSpec, ident: Identity) -> list[Obj]:
    exact = [p for p in team.egress if not p.startswith("*.")]
    wildcard = [p for p in team.egress if p.startswith("*.")]
    objects: list[Obj] = [
        static_backend(egress_backend_name(team, h), h, EGRESS_PORT, tls=True, team=team) for h in exact
    ]
    rules = [
        _rule(f"host-{i}", f"{egress_prefix(team)}/{h}", egress_backend_name(team, h)) for i, h in enumerate(exact)
    ]
    if not wildcard:
        # Everything else under /egress/<team>: no backend, the policy answers 403.
        rules.append(_rule("not-listed", egress_prefix(team)))
    name = f"{team.name}-egress"
    if rules:
        traffic = _egress_traffic(team, ident, EGRESS_PATH)
        # The URL rewrite of the host rules runs before the direct response and changes
        # `request.path`; the transformation runs before both and keeps the path as asked.
        traffic["transformation"] = {
            "request": {"metadata": {EGRESS_PATH_KEY: "request.path"}, "remove": [EGRESS_TOKEN_HEADER]}
        }
        objects += [_route(name, team, rules), _policy(name, team, traffic)]
    if wildcard:
        objects += wildcard_egress(team, ident)
    return objects


def wildcard_egress(team: TeamSpec, ident: Identity) -> list[Obj]:
    """Hosts under a wildcard cannot be static backends: the dynamic forward proxy goes to the
    host the path names. The path is kept in metadata first, because the transformation that
    moves the host into `:authority` runs before the direct-response checks."""
    name = f"{team.name}-egress-wildcard"
    prefix = egress_prefix(team)
    host = 'request.path.split("/")[3]'
    rest = f"request.pathAndQuery.substring({len(prefix) + 1} + size({host}))"
    traffic = _egress_traffic(team, ident, EGRESS_PATH)
    traffic["transformation"] = {
        "request": {
            "metadata": {EGRESS_PATH_KEY: "request.path"},
            "set": [
                {"name": ":authority", "value": f'{host} + ":{EGRESS_PORT}"'},
                # The rest starts with '/', '?' (a query right after the host) or is empty.
                {"name": ":path", "value": f'{rest}.startsWith("/") ? {rest} : "/" + {rest}'},
            ],
            "remove": [EGRESS_TOKEN_HEADER],
        }
    }
    return [
        _route(name, team, [_rule("wildcard", prefix, EGRESS_DYNAMIC_BACKEND, strip_prefix=False)]),
        _policy(name, team, traffic),
    ]


# --- everything for one team ---------------------------------------------------------------


def team_objects(team: TeamSpec, spec: PlatformSpec, ident: Identity) -> list[Obj]:
    objects: list[Obj] = []
    for model in team_models(team):
        objects += [model_route(team, model), model_policy(team, model, spec, ident)]
    objects += models_fallback(team, ident)
    for agent in team.agents:
        objects += agent_objects(team, agent, spec, ident)
    for server in team.mcp_servers:
        objects += mcp_objects(team, server, ident)
    objects += egress_objects(team, ident)
    return objects
