"""Content-safety guardrails: agentgateway prompt guards on every model route.

The operator sets them per environment (the stack file) and per tier
(`agentplane:gateway.guardrails`); team files have no field that reaches them. A tier's guards
are `all`, its own entry, and every guard of the tier below it, so a higher tier is never
weaker unless the operator lists it in `weakerThanLowerTiers`.

A model route serves every agent of its team that may use the model; agentgateway cannot
pick guards by caller, so the route carries the guards of every tier among those agents
(never fewer than any one of them has).
"""

from __future__ import annotations

import json

from agentplane.config.environment import EnvironmentConfig
from agentplane.config.platform import TeamSpec
from agentplane.config.sections.gateway import GuardProfile, GuardSide

# The body agentgateway returns for a blocked prompt or completion is this text verbatim
# (agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/llm/policy/mod.rs, RequestRejection::as_response):
# JSON in the OpenAI error shape, so SDKs show the message.
BLOCKED_STATUS = 403
BLOCKED_TYPE = "content_blocked"


def tier_guards(env: EnvironmentConfig) -> dict[str, dict[str, tuple[GuardSide, ...]]]:
    """tier -> {"request": guards, "response": guards}, lowest tier first, inheriting upwards."""
    config = env.gateway.guardrails
    out: dict[str, dict[str, tuple[GuardSide, ...]]] = {}
    below: dict[str, tuple[GuardSide, ...]] = {"request": (), "response": ()}
    for tier in env.tiers:
        own = config.tiers.get(tier.name, GuardProfile())
        inherited = {"request": (), "response": ()} if tier.name in config.weaker_than_lower_tiers else below
        guards = {
            side: _distinct((getattr(config.all, side), *inherited[side], getattr(own, side)))
            for side in ("request", "response")
        }
        out[tier.name] = guards
        below = guards
    return out


def _distinct(sides: tuple[GuardSide, ...]) -> tuple[GuardSide, ...]:
    """Drop empty and repeated guards, keeping the first occurrence's place."""
    seen: list[GuardSide] = []
    for side in sides:
        if (side.builtins or side.patterns or side.webhook) and side not in seen:
            seen.append(side)
    return tuple(seen)


def route_guards(team: TeamSpec, model: str, env: EnvironmentConfig) -> dict[str, tuple[GuardSide, ...]]:
    """The guards of every tier among the team's agents that may use `model`."""
    by_tier = tier_guards(env)
    tiers = dict.fromkeys(a.tier.name for a in team.agents if model in a.models)
    return {side: _distinct(tuple(g for t in tiers for g in by_tier[t][side])) for side in ("request", "response")}


def _message(side: str, team: TeamSpec, model: str) -> str:
    what = "the prompt" if side == "request" else "the model's answer"
    text = (
        f"blocked by the platform's content-safety guardrails: {what} contains content this environment does not allow "
        f"through the gateway (personal data, secrets or flagged content) on model {model} for team {team.name}"
    )
    return json.dumps({"error": {"type": BLOCKED_TYPE, "code": BLOCKED_STATUS, "message": text}})


def _entries(side: str, guard: GuardSide, rejection: dict) -> list[dict]:
    out = []
    if guard.builtins or guard.patterns:
        regex: dict = {"action": guard.action}
        if guard.builtins:
            regex["builtins"] = list(guard.builtins)
        if guard.patterns:
            regex["matches"] = list(guard.patterns)
        out.append({"regex": regex, "response": rejection})
    if guard.webhook is not None:
        hook = guard.webhook
        backend = {"group": "", "kind": "Service", "name": hook.service, "namespace": hook.namespace, "port": hook.port}
        out.append({"webhook": {"backendRef": backend, "failureMode": hook.failure_mode}, "response": rejection})
    return out


def raw_body_patterns(team: TeamSpec, model: str, env: EnvironmentConfig) -> tuple[str, ...]:
    """The refusing request `patterns` of a model route, for the gateway's own check of the raw
    body. agentgateway's regex guard skips `role: tool` messages and never reads tool-call
    arguments (agentgateway/agentgateway@v1.4.1:crates/llm/src/types/completions.rs,
    Request::visit_text_mut), yet both go to the model: a secret an agent's tool returned
    would pass. Builtin detectors have no CEL equivalent; only webhooks see those messages."""
    guards = route_guards(team, model, env)["request"]
    return tuple(dict.fromkeys(p for g in guards if g.action == "Reject" for p in g.patterns))


def message(side: str, team: TeamSpec, model: str) -> str:
    """The refusal text of a blocked prompt (side `request`) or answer (`response`)."""
    return json.loads(_message(side, team, model))["error"]["message"]


def prompt_guard(team: TeamSpec, model: str, env: EnvironmentConfig) -> dict | None:
    """`backend.ai.promptGuard` for a team's model route, or None when no guard applies."""
    guards = route_guards(team, model, env)
    out: dict = {}
    for side in ("request", "response"):
        rejection = {"statusCode": BLOCKED_STATUS, "message": _message(side, team, model)}
        entries = [e for g in guards[side] for e in _entries(side, g, rejection)]
        if entries:
            out[side] = entries
    if not out:
        return None
    if "response" in out:
        # Off by default: streamed answers would pass unchecked (PromptGuardStreamingMode).
        out["streaming"] = "Enabled"
    return out
