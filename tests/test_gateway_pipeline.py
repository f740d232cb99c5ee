"""Every gateway route kind through the agentgateway pipeline model (tests/support/agentgateway.py):
allowed and refused, with and without a token, listed and unlisted hosts, forged headers; what the
client receives and what reaches the backend."""

from __future__ import annotations

import base64
import copy
import gzip
import itertools
import json
import shutil
import zlib
from pathlib import Path

import pytest
import yaml

from agentplane.builders.gateway import guardrails as guardrails
from agentplane.builders.gateway import platform as build
from agentplane.builders.gateway import team as build_team
from agentplane.builders.gateway import token_budgets as budget
from agentplane.config.environment import egress_covers
from agentplane.config.load import load_from_files
from agentplane.errors import ConfigError
from tests.support import agentgateway as agw
from tests.support.plans import ROOT, example_plan, resources_of

ISSUER = "http://keycloak.localtest.me:8080/realms/agentplane"
AUDIENCE = ["agentplane-gateway"]


def agent(team: str, name: str) -> dict:
    # The service-account user is in the team group; the realm's mapper emits full paths.
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "azp": f"{team}.{name}",
        "sub": "6c1d0e0a-agent",
        "preferred_username": f"service-account-{team}.{name}",
        "groups": [f"/{team}"],
    }


def person(username: str | None, *groups: str, azp: str = "agentplane-cli", sub: str = "3f2a9c7e-person") -> dict:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "azp": azp, "sub": sub, "groups": list(groups)}
    if username is not None:
        claims["preferred_username"] = username
    return claims


TOKENS = {
    "kb-answerer": agent("support", "kb-answerer"),
    "ticket-router": agent("support", "ticket-router"),
    "invoice-triage": agent("payments", "invoice-triage"),
    "refund-drafter": agent("payments", "refund-drafter"),
    "paper-summarizer": agent("research", "paper-summarizer"),
    # Groups by their full path, as the realm's groups mapper emits them (builders/identity/realm.py).
    "alice": person("alice", "/support/support-leads"),
    "bob": person("bob", "/support/support-engineers"),
    "payments-dev": person("dana", "/payments/payments-devs"),
    "nameless": person(None, "/payments/payments-devs", sub="0b8e-no-username"),
    # A person whose user name looks like an agent client.
    "lookalike": person("payments.invoice-triage", "/payments/payments-devs"),
    "other-realm": {**agent("support", "kb-answerer"), "iss": "https://evil.example.com/realms/agentplane"},
}


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def plan_objects(stack: str = "dev") -> list[dict]:
    objects = [r["inputs"] for r in resources_of(example_plan(stack), component="gateway") if "kind" in r["inputs"]]
    assert objects
    return objects


@pytest.fixture(scope="module")
def dev() -> agw.Gateway:
    return agw.Gateway(plan_objects(), TOKENS)


def chat(model: str | None = "gpt-4o-mini", text: str = "hello", **extra) -> bytes:
    body: dict = {"messages": [{"role": "user", "content": text}], **extra}
    if model is not None:
        body["model"] = model
    return json.dumps(body).encode()


# --- the model itself --------------------------------------------------------------------------


def test_the_model_rejects_fields_it_does_not_describe() -> None:
    objects = copy.deepcopy(plan_objects())
    policy = next(o for o in objects if o["kind"] == "AgentgatewayPolicy" and o["metadata"]["name"] == "support-egress")
    policy["spec"]["traffic"]["extAuth"] = {"backendRef": {"name": "x"}}
    with pytest.raises(agw.UnknownField, match="extAuth"):
        agw.Gateway(objects, TOKENS)


def test_the_model_refuses_an_expression_reading_a_variable_its_phase_lacks() -> None:
    with pytest.raises(agw.UnknownField, match="response"):
        agw.evaluates_true("response.code == 200", "direct response", request={}, jwt={}, metadata={}, source={})
    assert not agw.compiles("jwt.sub ==") and agw.compiles('jwt.sub == "x"')
    with pytest.raises(agw.UnknownField, match="mcp"):
        agw.evaluates_true('mcp.tool.name == "x"', "authorization", request={}, jwt={}, source={})


def test_the_url_rewrite_runs_before_the_direct_response_so_request_path_is_rewritten(dev: agw.Gateway) -> None:
    """The design this replaced tested `request.path` in the egress direct response: through
    agentgateway's order it refuses every listed host (a model with the order reversed passes it)."""
    objects = copy.deepcopy(plan_objects())
    policy = next(o for o in objects if o["kind"] == "AgentgatewayPolicy" and o["metadata"]["name"] == "support-egress")
    for entry in policy["spec"]["traffic"]["directResponse"]["conditional"]:
        entry["condition"] = entry["condition"].replace(build_team.EGRESS_PATH, "request.path")
    old = agw.Gateway(objects, TOKENS).send(
        agw.Request(
            "/egress/support/acme.my.salesforce.com/services/data", {"x-agentplane-authorization": "Bearer kb-answerer"}
        )
    )
    assert (old.status, old.denial) == (403, "egress_denied")
    fixed = dev.send(
        agw.Request(
            "/egress/support/acme.my.salesforce.com/services/data", {"x-agentplane-authorization": "Bearer kb-answerer"}
        )
    )
    assert fixed.status == 200


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_expression_reads_only_what_its_phase_has_and_is_valid_cel(stack: str) -> None:
    found = agw.expressions(plan_objects(stack))
    assert {phase for phase, _, _ in found} >= {
        "authorization",
        "request transformation",
        "direct response",
        "response transformation",
        "rate limit descriptor",
    }
    for phase, expression, where in found:
        assert agw.roots(expression) <= agw.PHASE_VARIABLES[phase], (where, phase, expression)
        assert agw.compiles(expression), (where, expression)


def test_every_refusal_about_the_caller_or_the_host_holds_when_it_cannot_be_evaluated() -> None:
    """agentgateway skips a conditional direct response whose condition fails to evaluate:
    a refusal that reads the token or the kept path must refuse rather than error."""
    conditions = [
        (expression, where)
        for phase, expression, where in agw.expressions(plan_objects())
        if phase == "direct response" and agw.roots(expression) & {"jwt", "metadata"} and not expression.startswith("{")
    ]
    assert len(conditions) >= 6, conditions  # model approval per model route, egress tier and host per team
    for expression, where in conditions:
        request = {"path": "/", "pathAndQuery": "/", "headers": {}, "body": b"{}", "method": "POST"}
        assert agw.evaluates_true(expression, "direct response", request=request, jwt={}, source={}, metadata={}), (
            where,
            expression,
        )


def test_the_body_checks_run_on_what_the_model_will_read() -> None:
    """The unreadable-body refusal precedes the checks that read the body, so those can treat an
    evaluation error as 'field absent'."""
    policies = [o for o in plan_objects() if o["kind"] == "AgentgatewayPolicy" and "-model-" in o["metadata"]["name"]]
    assert policies
    for policy in policies:
        conditions = [c["condition"] for c in policy["spec"]["traffic"]["directResponse"]["conditional"]]
        reading_body = [i for i, c in enumerate(conditions) if "request.body" in c]
        assert conditions[reading_body[0]] == build_team.BODY_UNREADABLE, policy["metadata"]["name"]
        # unreadable, the operator's refusing patterns over the raw body, other model, usage opt-out
        assert len(reading_body) == 4, conditions


ROUTES = [
    ("/llm/payments/gpt-4o-mini/v1/chat/completions", "authorization"),
    ("/llm/payments/unknown-model/v1/chat/completions", "authorization"),
    ("/agents/payments/invoice-triage/run", "authorization"),
    ("/mcp/support/crm-tools", "authorization"),
    ("/egress/support/acme.my.salesforce.com/x", "x-agentplane-authorization"),
]


@pytest.mark.parametrize(("path", "location"), ROUTES)
def test_every_route_kind_wants_a_platform_token_and_refuses_strangers(
    dev: agw.Gateway, path: str, location: str
) -> None:
    assert dev.send(agw.Request(path, {}, chat())).status == 401
    assert dev.send(agw.Request(path, {location: "Bearer not-a-token"}, chat())).status == 401
    assert dev.send(agw.Request(path, {location: "Bearer other-realm"}, chat())).status == 401
    # research's agent belongs to no team these routes serve.
    refused = dev.send(agw.Request(path, {location: "Bearer paper-summarizer"}, chat()))
    assert (refused.status, refused.forwarded) == (403, None)


# --- no platform token leaves towards a callee -------------------------------------------------


def jwt_shaped(claims: dict) -> str:
    """A token with the three base64url segments of a JWT (unsigned: only its shape matters here)."""

    def segment(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{segment({'alg': 'RS256'})}.{segment(claims)}.c2lnbmF0dXJl"


PLATFORM_JWT = jwt_shaped(agent("support", "kb-answerer"))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/llm/support/gpt-4o-mini/v1/chat/completions", chat()),
        ("/agents/support/ticket-router/handover", b""),
        ("/mcp/support/crm-tools", b""),
    ],
)
def test_a_platform_token_in_the_egress_header_is_not_passed_to_models_agents_or_tools(
    dev: agw.Gateway, path: str, body: bytes
) -> None:
    outcome = dev.send(
        agw.Request(path, {**bearer("kb-answerer"), build.EGRESS_TOKEN_HEADER: f"Bearer {PLATFORM_JWT}"}, body)
    )
    assert outcome.status == 200, outcome.step
    assert build.EGRESS_TOKEN_HEADER not in outcome.forwarded.headers and "authorization" not in {
        k for k, v in outcome.forwarded.headers.items() if PLATFORM_JWT in v
    }


@pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", "Token ", ""])
def test_egress_refuses_to_send_a_platform_token_to_the_external_host(dev: agw.Gateway, scheme: str) -> None:
    path = "/egress/support/acme.my.salesforce.com/services/data"
    leaked = dev.send(
        agw.Request(
            path, {"x-agentplane-authorization": "Bearer kb-answerer", "authorization": f"{scheme}{PLATFORM_JWT}"}
        )
    )
    assert (leaked.status, leaked.denial, leaked.forwarded) == (403, "egress_denied", None)
    assert "token of the platform" in leaked.error["message"]
    # The host's own tokens, JWTs of other issuers included, pass untouched.
    for own in ("Bearer sf-session-key", f"Bearer {jwt_shaped({'iss': 'https://login.salesforce.com', 'sub': 'x'})}"):
        outcome = dev.send(
            agw.Request(path, {"x-agentplane-authorization": "Bearer kb-answerer", "authorization": own})
        )
        assert (outcome.status, outcome.forwarded.headers["authorization"]) == (200, own)


# --- egress ----------------------------------------------------------------------------------


def test_a_listed_host_gets_the_agents_own_credentials_and_never_the_platform_token(dev: agw.Gateway) -> None:
    outcome = dev.send(
        agw.Request(
            "/egress/support/acme.my.salesforce.com/services/data?q=1",
            {"Authorization": "Bearer salesforce-oauth-token", "x-agentplane-authorization": "Bearer kb-answerer"},
        )
    )
    assert outcome.status == 200
    sent = outcome.forwarded
    assert (sent.authority, sent.path) == ("acme.my.salesforce.com:443", "/services/data?q=1")
    assert sent.headers == {"authorization": "Bearer salesforce-oauth-token"}


def test_egress_reads_the_platform_token_only_from_its_own_header(dev: agw.Gateway) -> None:
    path = "/egress/support/acme.my.salesforce.com/x"
    # The platform token in Authorization is not accepted there (and so never forwarded as such).
    assert dev.send(agw.Request(path, {"authorization": "Bearer kb-answerer"})).status == 401
    assert dev.send(agw.Request(path)).status == 401
    assert dev.send(agw.Request(path, {"x-agentplane-authorization": "Bearer other-realm"})).status == 401


@pytest.mark.parametrize(
    "path",
    [
        "/egress/support/evil.example.com/steal",
        "/egress/support/acme.my.salesforce.com.evil.io/x",
        "/egress/support",
        "/egress/support/acme.my.salesforce.comx/x",
    ],
)
def test_an_unlisted_host_is_refused_with_the_list(dev: agw.Gateway, path: str) -> None:
    outcome = dev.send(agw.Request(path, {"x-agentplane-authorization": "Bearer kb-answerer"}))
    assert (outcome.status, outcome.denial, outcome.forwarded) == (403, "egress_denied", None)
    assert (
        outcome.error["message"]
        == "egress denied: this host is not on the egress list of team support (allowed: acme.my.salesforce.com)"
    )


def test_an_agent_of_a_tier_without_egress_is_refused_even_for_a_listed_host(dev: agw.Gateway) -> None:
    outcome = dev.send(
        agw.Request("/egress/support/acme.my.salesforce.com/x", {"x-agentplane-authorization": "Bearer ticket-router"})
    )
    assert (outcome.status, outcome.denial) == (403, "egress_denied")
    assert "runs at tier restricted" in outcome.error["message"]
    # Another team's agent is not even authorized on support's egress route.
    assert (
        dev.send(
            agw.Request(
                "/egress/support/acme.my.salesforce.com/x", {"x-agentplane-authorization": "Bearer invoice-triage"}
            )
        ).step
        == "authorization"
    )


WILDCARD_TEAM = {
    "name": "acme",
    "owners": ["acme-admins"],
    "environments": {"dev": {"tier": "standard"}},
    "agents": [{"name": "helper", "promote": {"dev": "standard"}}],
    "egress": ["*.stripe.com", "api.github.com"],
}


@pytest.fixture(scope="module")
def wildcard(tmp_path_factory) -> agw.Gateway:
    root = tmp_path_factory.mktemp("wildcard")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    (root / "stacks" / "teams" / "acme.yaml").write_text(yaml.safe_dump(WILDCARD_TEAM), encoding="utf-8")
    spec = load_from_files("dev", root=root)
    ident = build.identity(spec, ISSUER)
    return agw.Gateway(
        [build.egress_dynamic_backend(), *build_team.team_objects(spec.team("acme"), spec, ident)],
        {"helper": agent("acme", "helper")},
    )


def test_a_wildcard_host_goes_to_the_named_subdomain_and_an_exact_one_to_its_backend(wildcard: agw.Gateway) -> None:
    token = {"x-agentplane-authorization": "Bearer helper", "authorization": "Bearer sk_live_x"}
    outcome = wildcard.send(agw.Request("/egress/acme/files.stripe.com/v1/files?limit=3", token))
    sent = outcome.forwarded
    assert (outcome.status, sent.backend, sent.authority, sent.path) == (
        200,
        build.EGRESS_DYNAMIC_BACKEND,
        "files.stripe.com:443",
        "/v1/files?limit=3",
    )
    assert sent.headers == {"authorization": "Bearer sk_live_x"}
    exact = wildcard.send(agw.Request("/egress/acme/api.github.com/repos", token))
    assert (exact.status, exact.forwarded.authority, exact.forwarded.path) == (200, "api.github.com:443", "/repos")


@pytest.mark.parametrize(
    "path",
    [
        "/egress/acme/stripe.com/x",
        "/egress/acme/evilstripe.com/x",
        "/egress/acme/files.stripe.com.evil.io/x",
        # A host pattern that admitted '/' would send this to evil.com.
        "/egress/acme/evil.com/.stripe.com/x",
        "/egress/acme/169.254.169.254/a.stripe.com",
        "/egress/acme/kubernetes.default.svc/api",
    ],
)
def test_a_wildcard_admits_only_subdomains(wildcard: agw.Gateway, path: str) -> None:
    outcome = wildcard.send(agw.Request(path, {"x-agentplane-authorization": "Bearer helper"}))
    assert (outcome.status, outcome.denial, outcome.forwarded) == (403, "egress_denied", None), path


@pytest.mark.parametrize(
    "path",
    [
        "/egress/acme/evil.com@files.stripe.com/x",
        "/egress/acme/files.stripe.com@evil.com/x",
        "/egress/acme//evil.com/x",
        "/egress/acme/evil.com%2f.stripe.com/x",
        "/egress/acme/evil.com%2F.stripe.com/x",
        "/egress/acme/%2e%2e/evil.com/x",
        "/egress/acme/../evil.com/x",
        "/egress/acme/FILES.STRIPE.COM/x",
        "/egress/acme/files.stripe.com:8443/x",
        "/egress/acme/files.stripe.com./x",
        "/egress/acme/api.github.com.evil.io/x",
        "/egress/acme/files.stripe.com/../../evil.com/x",
        "/egress/acme/api.github.com/../../evil.com/x",
    ],
)
def test_path_tricks_reach_a_listed_host_or_nothing(wildcard: agw.Gateway, path: str) -> None:
    """Whatever the path holds, the request leaves for a host the team listed, on 443, or not at
    all; a forged Host header changes nothing."""
    headers = {"x-agentplane-authorization": "Bearer helper", "host": "evil.com"}
    outcome = wildcard.send(agw.Request(path, headers))
    if outcome.forwarded is None:
        assert (outcome.status, outcome.denial) == (403, "egress_denied"), path
    else:
        assert outcome.forwarded.authority in ("files.stripe.com:443", "api.github.com:443"), (
            path,
            outcome.forwarded.authority,
        )


def test_a_stack_wildcard_covers_subdomains_only() -> None:
    assert egress_covers("*.stripe.com", "api.stripe.com") and egress_covers("*.stripe.com", "*.eu.stripe.com")
    assert not egress_covers("*.stripe.com", "evilstripe.com")
    assert not egress_covers("*.stripe.com", "stripe.com")


def test_a_team_cannot_list_a_lookalike_of_a_stack_wildcard(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    (tmp_path / "stacks" / "teams" / "acme.yaml").write_text(
        yaml.safe_dump({**WILDCARD_TEAM, "egress": ["evilstripe.com"]}), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        load_from_files("dev", root=tmp_path)
    assert any("evilstripe.com" in str(issue) for issue in info.value.issues)


# --- models ----------------------------------------------------------------------------------


def test_an_approved_model_is_forwarded_with_the_provider_key_and_the_callers_identity_only(dev: agw.Gateway) -> None:
    outcome = dev.send(
        agw.Request("/llm/payments/gpt-4o-mini/v1/chat/completions", bearer("invoice-triage"), chat()),
        agw.Upstream(tokens=10),
    )
    sent = outcome.forwarded
    assert (outcome.status, sent.backend, sent.path) == (200, "model-gpt-4o-mini", "/v1/chat/completions")
    assert sent.headers == {"authorization": "provider-key:provider-openai"}  # the caller's token is gone
    assert json.loads(sent.body)["model"] == "gpt-4o-mini"
    # No model in the body: the route's model is used.
    assert (
        json.loads(
            dev.send(
                agw.Request("/llm/payments/gpt-4o-mini/v1/chat/completions", bearer("invoice-triage"), chat(None))
            ).forwarded.body
        )["model"]
        == "gpt-4o-mini"
    )


@pytest.mark.parametrize("named", ["gpt-4o", "claude-sonnet-4-5", "gpt-5-secret-preview"])
def test_a_body_naming_another_model_is_refused_naming_the_approved_ones(dev: agw.Gateway, named: str) -> None:
    outcome = dev.send(
        agw.Request("/llm/payments/gpt-4o-mini/v1/chat/completions", bearer("refund-drafter"), chat(named))
    )
    assert (outcome.status, outcome.denial, outcome.forwarded) == (403, "model_not_approved", None)
    assert outcome.headers["content-type"] == "application/json"
    error = outcome.error
    assert (error["type"], error["code"]) == ("model_not_approved", 403)
    assert error["message"] == (
        "the model named in the request body (/llm/payments/gpt-4o-mini serves gpt-4o-mini only) is not approved for "
        "agent payments/refund-drafter (tier restricted); approved models: gpt-4o-mini"
    )


def test_a_model_route_refuses_callers_without_a_token_or_from_another_team(dev: agw.Gateway) -> None:
    path = "/llm/payments/gpt-4o-mini/v1/chat/completions"
    assert dev.send(agw.Request(path, {}, chat())).status == 401
    assert dev.send(agw.Request(path, bearer("paper-summarizer"), chat())).step == "authorization"
    # A person is not an agent, whatever the user name says.
    assert dev.send(agw.Request(path, bearer("lookalike"), chat())).step == "authorization"


# --- budgets ---------------------------------------------------------------------------------


def test_clients_cannot_opt_out_of_usage_reporting(dev: agw.Gateway) -> None:
    path = "/llm/payments/gpt-4o-mini/v1/chat/completions"
    refused = dev.send(
        agw.Request(path, bearer("invoice-triage"), chat(stream=True, stream_options={"include_usage": False}))
    )
    assert (refused.status, refused.denial, refused.forwarded) == (400, "usage_required", None)
    assert "daily budget of team payments" in refused.error["message"]
    streamed = dev.send(agw.Request(path, bearer("invoice-triage"), chat(stream=True)))
    assert json.loads(streamed.forwarded.body)["stream_options"] == {"include_usage": True}
    assert (
        dev.send(
            agw.Request(path, bearer("invoice-triage"), chat(stream=True, stream_options={"include_usage": True}))
        ).status
        == 200
    )


OPT_OUT = chat(stream=True, stream_options={"include_usage": False})


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        # The LLM path decodes Content-Encoding before parsing; CEL's request.body is the raw bytes.
        ({"content-encoding": "gzip"}, gzip.compress(OPT_OUT)),
        ({"content-encoding": "deflate"}, zlib.compress(OPT_OUT)),
        ({"content-encoding": "gzip"}, gzip.compress(chat("gpt-4o"))),
        ({"content-encoding": "gzip"}, gzip.compress(chat())),
        ({}, b"not json"),
        ({}, b""),
        # Beyond the buffer limit CEL has no body at all.
        ({}, chat(text="x" * agw.BUFFER_LIMIT)),
    ],
    ids=["gzip-opt-out", "deflate-opt-out", "gzip-other-model", "gzip-plain", "not-json", "empty", "over-limit"],
)
def test_a_body_the_gateway_cannot_check_is_refused_before_the_budget_and_the_model(
    budgeted: agw.Gateway, headers: dict, body: bytes
) -> None:
    path = "/llm/payments/gpt-4o-mini/v1/chat/completions"
    outcome = budgeted.send(
        agw.Request(path, {**bearer("refund-drafter"), **headers}, body), agw.Upstream(tokens=150_000)
    )
    assert (outcome.status, outcome.step, outcome.denial, outcome.forwarded) == (
        400,
        "direct response",
        "body_unreadable",
        None,
    )
    assert "uncompressed JSON" in outcome.error["message"]
    # Nothing was served uncounted: the agent's whole budget (200000) is still there, and used
    # up by the next request that passes it.
    assert (
        budgeted.send(agw.Request(path, bearer("refund-drafter"), chat()), agw.Upstream(tokens=200_001)).status == 200
    )
    assert budgeted.send(agw.Request(path, bearer("refund-drafter"), chat())).status == 429


def test_a_readable_body_still_reaches_the_model_with_usage_reported(budgeted: agw.Gateway) -> None:
    path = "/llm/payments/gpt-4o-mini/v1/chat/completions"
    parts = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}).encode()
    for body in (chat(None, stream=True), chat(stream=True, stream_options=None), parts):
        outcome = budgeted.send(agw.Request(path, bearer("refund-drafter"), body), agw.Upstream(tokens=10))
        assert outcome.status == 200, body
        sent = json.loads(outcome.forwarded.body)
        assert sent.get("stream_options", {"include_usage": True}) == {"include_usage": True}


@pytest.fixture
def budgeted() -> agw.Gateway:
    objects = plan_objects()
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap"]
    service = agw.RateLimitService(
        config_map["data"], (budget.LIMIT_HEADER, budget.REMAINING_HEADER, budget.RESET_HEADER)
    )
    return agw.Gateway(objects, TOKENS, budget=service)


def test_what_an_over_budget_client_receives(budgeted: agw.Gateway) -> None:
    path = "/llm/payments/gpt-4o-mini/v1/chat/completions"
    day = 20_000 * 86400
    assert (
        budgeted.send(agw.Request(path, bearer("refund-drafter"), chat()), agw.Upstream(tokens=200_001), now=day).status
        == 200
    )
    outcome = budgeted.send(agw.Request(path, bearer("refund-drafter"), chat()), agw.Upstream(tokens=10), now=day + 60)
    assert (outcome.status, outcome.body, outcome.forwarded) == (429, b"", None)
    assert outcome.headers == {
        budget.LIMIT_HEADER: "200000",
        budget.REMAINING_HEADER: "0",
        budget.RESET_HEADER: str(86400 - 60),
        build.DENIAL_HEADER: budget.exceeded_message(budgeted_team()),
        "x-should-retry": "false",
    }
    # A provider's own 429 is passed on as it is: no budget message, and its retry advice kept.
    provider = budgeted.send(
        agw.Request(path, bearer("invoice-triage"), chat()),
        agw.Upstream(status=429, headers={"x-should-retry": "true"}),
        now=day + 61,
    )
    assert (provider.headers.get(build.DENIAL_HEADER), provider.headers["x-should-retry"]) == (None, "true")


def budgeted_team():
    return load_from_files("dev", root=ROOT).team("payments")


def test_concurrent_requests_overshoot_by_at_most_what_is_in_flight(budgeted: agw.Gateway) -> None:
    """The pre-check adds 0 tokens, so requests already past it are all served; the overshoot is
    bounded by the tokens of the requests in flight when the budget runs out."""
    path = "/llm/payments/gpt-4o-mini/v1/chat/completions"
    day = 20_001 * 86400
    service = budgeted.budget
    descriptors = [[("team", "payments"), ("agent", "refund-drafter")]]
    domain = budget.domain(budgeted_team())
    assert (
        budgeted.send(agw.Request(path, bearer("refund-drafter"), chat()), agw.Upstream(tokens=199_000), now=day).status
        == 200
    )
    in_flight = 5
    # Five requests pass the check together (199000 < 200000), then each adds 1000 tokens.
    assert all(not service.check(domain, descriptors, 0, day + 1)[0] for _ in range(in_flight))
    for _ in range(in_flight):
        service.check(domain, descriptors, 1_000, day + 2)
    used = service.counters[(domain, tuple(descriptors[0]), day // 86400)]
    assert used - 200_000 == 4_000 <= in_flight * 1_000
    assert budgeted.send(agw.Request(path, bearer("refund-drafter"), chat()), now=day + 3).status == 429


# --- caller identity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "caller", "kind"),
    [
        ("kb-answerer", "support.kb-answerer", "agent"),
        ("bob", "bob", "person"),  # never the client he logged in with
        ("lookalike", "payments.invoice-triage", "person"),
    ],
)
def test_callees_learn_who_called_and_forged_headers_are_replaced(
    dev: agw.Gateway, token: str, caller: str, kind: str
) -> None:
    forged = {build.CALLER_HEADER: "support.ticket-router", build.CALLER_KIND_HEADER: "agent", **bearer(token)}
    path = "/agents/support/ticket-router/handover" if token != "lookalike" else "/agents/payments/invoice-triage/x"
    outcome = dev.send(agw.Request(path, forged))
    assert outcome.status == 200, outcome.step
    assert outcome.forwarded.headers == {build.CALLER_HEADER: caller, build.CALLER_KIND_HEADER: kind}


@pytest.mark.parametrize(
    ("claims", "caller"),
    [
        (agent("payments", "refund-drafter"), "payments.refund-drafter"),
        (person("alice", azp="agentplane-cli"), "alice"),
        (person("alice", azp="payments-portal"), "alice"),
        (person("alice", azp="my.portal.v2"), "alice"),  # a client id with dots is not an agent's
        (person(None, sub="0b8e-no-username"), "0b8e-no-username"),
        (
            {"sub": "spiffe://dev.agentplane.local/ns/payments/sa/refund-drafter"},
            "spiffe://dev.agentplane.local/ns/payments/sa/refund-drafter",
        ),
    ],
)
def test_the_caller_is_the_agent_or_the_person(claims: dict, caller: str) -> None:
    assert (
        agw.evaluate(build.CALLER, "request transformation", jwt=claims, request={}, metadata={}, source={}) == caller
    )


def test_a_person_is_never_authorized_as_an_agent_by_user_name(dev: agw.Gateway) -> None:
    # support/ticket-router admits agent:support/kb-answerer; a person named like it is not that agent.
    tokens = {**TOKENS, "kb-lookalike": person("support.kb-answerer", "nobody")}
    outcome = agw.Gateway(plan_objects(), tokens).send(
        agw.Request("/agents/support/ticket-router/x", bearer("kb-lookalike"))
    )
    assert outcome.step == "authorization"


# --- MCP -------------------------------------------------------------------------------------

CRM_TOOLS = ("search_accounts", "get_account", "update_case", "delete_account")


@pytest.mark.parametrize(
    ("token", "visible"),
    [
        ("alice", ("search_accounts", "get_account", "update_case")),
        ("kb-answerer", ("search_accounts", "get_account")),
        ("ticket-router", ()),  # admitted to the server, granted no tool
    ],
)
def test_mcp_callers_see_and_call_only_their_tools(dev: agw.Gateway, token: str, visible: tuple) -> None:
    path = "/mcp/support/crm-tools"
    listed = dev.send(agw.Request(path, bearer(token)), agw.Upstream(tools=CRM_TOOLS))
    assert (listed.status, listed.tools) == (200, visible)
    assert listed.forwarded.headers[build.CALLER_HEADER] and "authorization" not in listed.forwarded.headers
    for tool in CRM_TOOLS:
        call = dev.send(agw.Request(path, bearer(token)), tool_call=tool)
        assert (call.status == 200) == (tool in visible), (token, tool)
        assert (call.forwarded is None) == (tool not in visible)


def test_mcp_refuses_other_teams_and_missing_tokens(dev: agw.Gateway) -> None:
    assert (
        dev.send(agw.Request("/mcp/support/crm-tools", bearer("invoice-triage")), tool_call="get_account").step
        == "authorization"
    )
    assert dev.send(agw.Request("/mcp/support/crm-tools"), tool_call="get_account").status == 401


MCP_TEAM = {
    "name": "acme",
    "owners": ["acme-admins"],
    "members": ["acme-devs"],
    "environments": {"dev": {"tier": "standard"}},
    "agents": [{"name": "helper", "promote": {"dev": "standard"}}],
}


def _load_team(tmp_path: Path, servers: list[dict]) -> list[str]:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks", dirs_exist_ok=True)
    (tmp_path / "stacks" / "teams" / "acme.yaml").write_text(
        yaml.safe_dump({**MCP_TEAM, "mcpServers": servers}), encoding="utf-8"
    )
    try:
        load_from_files("dev", root=tmp_path)
    except ConfigError as error:
        return [str(issue) for issue in error.issues]
    return []


@pytest.mark.parametrize(
    ("server", "fragment"),
    [
        # A grant cannot let in someone the server's access does not admit (here: another team's agent).
        (
            {"access": ["acme-devs"], "tools": [{"callers": ["agent:support/kb-answerer"], "tools": ["x"]}]},
            "may not reach MCP server",
        ),
        ({"tools": [{"callers": ["support-leads"], "tools": ["x"]}]}, "may not reach MCP server"),
        # Another team's Service cannot be named (the server is always in the team's namespace).
        ({"service": "crm-mcp.support"}, "service"),
        # Quotes never reach the CEL: team files use ASCII letters, digits and . _ - : / * only.
        (
            {"tools": [{"callers": ["acme-devs"], "tools": ['x") || true || ("']}]},
            "mcpServers[0].tools[0].tools[0]: contains U+0022",
        ),
        ({"tools": [{"callers": ["acme-devs"], "tools": ["x:y"]}]}, "not an MCP tool name"),
        ({"tools": [{"callers": ["acme-devs"], "tools": ["a" * 129]}]}, "not an MCP tool name"),
        ({"tools": [{"callers": ["acme-devs"], "tools": []}]}, "tools"),
        ({"tools": []}, "tools"),
    ],
)
def test_mcp_tool_grants_are_checked(tmp_path: Path, server: dict, fragment: str) -> None:
    problems = _load_team(tmp_path, [{"name": "search", "service": "search-mcp", "port": 8000, **server}])
    assert any(fragment in p for p in problems), problems


def test_a_team_file_only_configures_its_own_servers(tmp_path: Path) -> None:
    # acme names its server like support's; support's route and backend are untouched.
    assert (
        _load_team(
            tmp_path,
            [
                {
                    "name": "crm-tools",
                    "service": "crm-mcp",
                    "port": 8000,
                    "tools": [{"callers": ["acme-devs"], "tools": ["delete_account"]}],
                }
            ],
        )
        == []
    )
    spec = load_from_files("dev", root=tmp_path)
    ident = build.identity(spec, ISSUER)
    objects = build_team.team_objects(spec.team("acme"), spec, ident)
    backends = [o for o in objects if o["kind"] == "AgentgatewayBackend" and "mcp" in o["spec"]]
    assert [b["metadata"]["name"] for b in backends] == ["acme-mcp-crm-tools"]
    assert backends[0]["spec"]["mcp"]["targets"][0]["static"]["host"] == "crm-mcp.acme.svc.cluster.local"
    assert {
        r["spec"]["rules"][0]["matches"][0]["path"]["value"]
        for r in objects
        if r["kind"] == "HTTPRoute" and "mcp" in r["metadata"]["name"]
    } == {"/mcp/acme/crm-tools"}


# --- content-safety guardrails ----------------------------------------------------------------


def test_every_model_route_of_every_team_carries_the_platform_guards() -> None:
    policies = [o for o in plan_objects() if o["kind"] == "AgentgatewayPolicy" and "-model-" in o["metadata"]["name"]]
    assert policies
    for policy in policies:
        guard = policy["spec"]["backend"]["ai"]["promptGuard"]
        builtins = {b for entry in guard["request"] for b in entry.get("regex", {}).get("builtins", [])}
        assert {"Ssn", "CreditCard"} <= builtins, policy["metadata"]["name"]
        assert guard["streaming"] == "Enabled"  # streamed answers are checked too


@pytest.mark.parametrize("secret", ["my SSN is 123-45-6789", "card 4111 1111 1111 1111", "key AKIAABCDEFGHIJKLMNOP"])
def test_a_prompt_with_personal_data_or_secrets_never_reaches_the_model(dev: agw.Gateway, secret: str) -> None:
    outcome = dev.send(
        agw.Request("/llm/support/gpt-4o-mini/v1/chat/completions", bearer("kb-answerer"), chat(text=secret))
    )
    # Operator patterns already refuse in the gateway's raw-body check; builtins in agentgateway's guard.
    assert (outcome.status, outcome.forwarded) == (403, None)
    assert outcome.step == ("direct response" if "AKIA" in secret else "request guard")
    error = outcome.error
    assert error["type"] == guardrails.BLOCKED_TYPE
    assert error["message"].startswith("blocked by the platform's content-safety guardrails: the prompt contains")
    assert "team support" in error["message"]


def _conversation(*messages: dict) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": "look up the account"}, *messages]}).encode()


TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_account", "arguments": "{}"}}],
}


@pytest.mark.parametrize(
    "body",
    [
        _conversation(TOOL_CALL, {"role": "tool", "tool_call_id": "c1", "content": "aws key AKIAABCDEFGHIJKLMNOP"}),
        _conversation({"role": "tool", "tool_call_id": "c1", "content": "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."}),
        _conversation(
            {
                **TOOL_CALL,
                "tool_calls": [
                    {
                        **TOOL_CALL["tool_calls"][0],
                        "function": {"name": "put", "arguments": '{"key": "AKIAABCDEFGHIJKLMNOP"}'},
                    }
                ],
            }
        ),
        _conversation({"role": "system", "content": [{"type": "text", "text": "key AKIAABCDEFGHIJKLMNOP"}]}),
    ],
    ids=["tool-result", "tool-result-private-key", "tool-call-arguments", "system-content-array"],
)
def test_a_secret_pattern_in_any_message_or_tool_call_never_reaches_the_model(dev: agw.Gateway, body: bytes) -> None:
    """agentgateway's regex guard skips tool results and tool-call arguments; the operator's
    refusing patterns are also checked over the whole body by the route's direct response."""
    outcome = dev.send(agw.Request("/llm/support/gpt-4o-mini/v1/chat/completions", bearer("kb-answerer"), body))
    assert (outcome.status, outcome.forwarded, outcome.denial) == (403, None, guardrails.BLOCKED_TYPE)
    assert outcome.error["type"] == guardrails.BLOCKED_TYPE and "team support" in outcome.error["message"]


def test_builtin_detectors_read_every_text_agentgateway_visits(dev: agw.Gateway) -> None:
    path = "/llm/support/gpt-4o-mini/v1/chat/completions"
    for body in (
        _conversation({"role": "system", "content": "ssn 123-45-6789"}),
        _conversation(
            {
                "role": "user",
                "content": [{"type": "text", "text": "card"}, {"type": "text", "text": "4111 1111 1111 1111"}],
            }
        ),
    ):
        outcome = dev.send(agw.Request(path, bearer("kb-answerer"), body))
        assert (outcome.status, outcome.step, outcome.forwarded) == (403, "request guard", None), body


def test_an_answer_with_a_secret_is_blocked_before_the_client_sees_it(dev: agw.Gateway) -> None:
    outcome = dev.send(
        agw.Request("/llm/support/gpt-4o-mini/v1/chat/completions", bearer("kb-answerer"), chat()),
        agw.Upstream(completion="use AKIAABCDEFGHIJKLMNOP"),
    )
    assert (outcome.status, outcome.step) == (403, "response guard")
    assert "the model's answer contains" in outcome.error["message"]
    clean = dev.send(
        agw.Request("/llm/support/gpt-4o-mini/v1/chat/completions", bearer("kb-answerer"), chat()),
        agw.Upstream(completion="all good"),
    )
    assert clean.status == 200


def _env(tmp_path: Path, guardrails_config: dict, stack: str = "dev"):
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks", dirs_exist_ok=True)
    path = tmp_path / "stacks" / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["agentplane:gateway"]["guardrails"] = guardrails_config
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return load_from_files(stack, root=tmp_path).env


def test_a_higher_tier_keeps_every_guard_of_the_tiers_below(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        {
            "tiers": {
                "restricted": {"request": {"builtins": ["Email"]}},
                "standard": {"request": {"patterns": ["sk-[A-Za-z0-9]{20,}"]}},
            }
        },
    )
    by_tier = guardrails.tier_guards(env)
    names = [t.name for t in env.tiers]
    assert names == ["restricted", "standard", "production"]
    for lower, higher in itertools.pairwise(names):
        assert set(by_tier[lower]["request"]) <= set(by_tier[higher]["request"]), (lower, higher)
    assert len(by_tier["production"]["request"]) == 2


def test_only_the_operator_can_make_a_tier_weaker_and_says_so_by_name(tmp_path: Path) -> None:
    env = _env(
        tmp_path, {"tiers": {"restricted": {"request": {"builtins": ["Email"]}}}, "weakerThanLowerTiers": ["standard"]}
    )
    by_tier = guardrails.tier_guards(env)
    assert by_tier["standard"]["request"] == () and len(by_tier["restricted"]["request"]) == 1
    with pytest.raises(ConfigError, match="no tier 'gold'"):
        _env(tmp_path / "b", {"tiers": {"gold": {}}})
    with pytest.raises(ConfigError, match="lowest tier"):
        _env(tmp_path / "c", {"weakerThanLowerTiers": ["restricted"]})
    with pytest.raises(ConfigError, match="empty string"):
        _env(tmp_path / "d", {"all": {"request": {"patterns": [".*"]}}})


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        ("password(?=:)", "look-around"),
        ("(?<!x)secret", "look-around"),
        ("(k)\\1", "backreferences"),
        ("AKIA[0-9A-Z]++", "possessive"),
        ("(?>ab)c", "atomic"),
    ],
)
def test_a_guard_pattern_agentgateway_could_not_parse_is_refused_by_name(
    tmp_path: Path, pattern: str, construct: str
) -> None:
    """Python accepts these; agentgateway's Rust regex does not, and would drop the guard."""
    with pytest.raises(ConfigError, match=construct) as raised:
        _env(tmp_path, {"all": {"request": {"patterns": ["AKIA[0-9A-Z]{16}", pattern]}}})
    assert "guardrails" in str(raised.value) and "Rust regex" in str(raised.value)


def test_the_raw_body_pattern_check_fits_the_crds_condition_limit_or_the_stack_is_refused(tmp_path: Path) -> None:
    patterns = [f"k{i:02d}" + "x" * 997 for i in range(16)]
    with pytest.raises(ConfigError, match="gateway.guardrails.*16384"):
        _env(tmp_path / "a", {"all": {"request": {"patterns": patterns}}})
    env = _env(tmp_path / "b", {"all": {"request": {"patterns": patterns[:15]}}})
    assert len(build_team.body_matches_any(env.gateway.guardrails.all.request.patterns)) <= 16384
    # Masking patterns are not part of the check, so they do not count.
    _env(tmp_path / "c", {"all": {"request": {"patterns": patterns, "action": "Mask"}}})


def test_portable_guard_patterns_are_accepted(tmp_path: Path) -> None:
    patterns = ["AKIA[0-9A-Z]{16}", "-----BEGIN [A-Z ]*PRIVATE KEY-----", "(?i)api[_-]?key[(?=]", "a\\++b"]
    env = _env(tmp_path, {"all": {"request": {"patterns": patterns}}})
    assert env.gateway.guardrails.all.request.patterns == tuple(patterns)


@pytest.mark.parametrize(
    "field",
    [
        {"guardrails": {"all": {}}},
        {"agents": [{"name": "helper", "guardrails": {}}]},
        {"promptGuard": {}},
    ],
)
def test_a_team_file_cannot_remove_or_weaken_the_guards(tmp_path: Path, field: dict) -> None:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    (tmp_path / "stacks" / "teams" / "acme.yaml").write_text(yaml.safe_dump({**MCP_TEAM, **field}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_from_files("dev", root=tmp_path)
    key = "guardrails" if "agents" in field else next(iter(field))
    assert any(key in str(issue) and "acme.yaml" in str(issue) for issue in info.value.issues), [
        str(i) for i in info.value.issues
    ]


# --- how the proxy is published --------------------------------------------------------------


def test_the_proxy_service_is_in_cluster_and_only_https_is_published() -> None:
    for stack in ("dev", "staging", "prod"):
        objects = plan_objects(stack)
        (parameters,) = [o for o in objects if o["kind"] == "AgentgatewayParameters"]
        assert parameters["spec"]["service"] == {"spec": {"type": "ClusterIP"}}, stack
        (public,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == build.PUBLIC_SERVICE]
        assert public["spec"]["selector"] == {"gateway.networking.k8s.io/gateway-name": build.GATEWAY_NAME}
        (port,) = public["spec"]["ports"]
        assert (port["port"], port["targetPort"]) == (443, 443), stack
        assert public["spec"]["type"] == ("NodePort" if stack == "dev" else "LoadBalancer")


def test_the_dev_node_port_is_the_one_kind_maps_to_the_host() -> None:
    kind = yaml.safe_load((ROOT / "infra" / "kind-cluster.yaml").read_text())
    mapped = {m["containerPort"]: m["hostPort"] for node in kind["nodes"] for m in node.get("extraPortMappings", [])}
    (public,) = [
        o for o in plan_objects("dev") if o["kind"] == "Service" and o["metadata"]["name"] == build.PUBLIC_SERVICE
    ]
    (port,) = public["spec"]["ports"]
    assert mapped[port["nodePort"]] == 8443


def test_a_moderation_webhook_and_tier_guards_render_valid_policies(tmp_path: Path) -> None:
    from tests.support.upstream import validate_objects

    hook = {"service": "moderation", "namespace": "safety", "port": 8080}
    env_dir = tmp_path / "w"
    _env(
        env_dir,
        {
            "all": {"request": {"builtins": ["Ssn"]}},
            "tiers": {
                "standard": {"request": {"webhook": hook}, "response": {"webhook": {**hook, "failureMode": "FailOpen"}}}
            },
        },
    )
    spec = load_from_files("dev", root=env_dir)
    ident = build.identity(spec, ISSUER)
    team = spec.team("support")
    policies = [
        o
        for o in build_team.team_objects(team, spec, ident)
        if o["kind"] == "AgentgatewayPolicy" and "-model-" in o["metadata"]["name"]
    ]
    assert policies
    assert validate_objects(policies) == []
    guard = policies[0]["spec"]["backend"]["ai"]["promptGuard"]
    webhooks = [e["webhook"] for e in guard["request"] if "webhook" in e]
    assert webhooks == [
        {
            "backendRef": {"group": "", "kind": "Service", "name": "moderation", "namespace": "safety", "port": 8080},
            "failureMode": "FailClosed",
        }
    ]
    assert [e["webhook"]["failureMode"] for e in guard["response"] if "webhook" in e] == ["FailOpen"]
    # support's agents run at standard and restricted in dev: the route has both tiers' guards.
    assert {b for e in guard["request"] for b in e.get("regex", {}).get("builtins", [])} == {"Ssn"}
