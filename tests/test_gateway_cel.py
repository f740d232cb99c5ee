"""The gateway's policies, evaluated: each team's routes and policies as the plan registers them,
served by the agentgateway pipeline model (tests/support/agentgateway.py) on sample requests.
It shows "model not approved", "budget exceeded", "egress denied" and "caller not allowed"
happen, and the happy paths. Token budgets are shown with the descriptor arithmetic of Envoy's
ratelimit service; tests/test_gateway_pipeline.py covers every route kind in more depth.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import cel
import cel.stdlib
import pytest
import yaml

from agentplane.builders.gateway import platform as build
from agentplane.builders.gateway import team as build_team
from agentplane.builders.gateway import token_budgets as budget
from agentplane.config.load import load_from_files
from tests.support import agentgateway as agw
from tests.support.cel_errors import CEL_RUNTIME_ERRORS
from tests.support.plans import ROOT, example_plan, resources_of


def evaluate(expression: str, **variables):
    context = cel.Context()
    cel.stdlib.add_stdlib_to_context(context)
    for name, value in variables.items():
        context.add_variable(name, value)
    return cel.evaluate(expression, context)


def agent_token(team: str, agent: str, **claims) -> dict:
    """Claims of a Keycloak client-credentials token of an agent's client. Its service-account
    user is in the team group, and the groups mapper emits full paths (builders/identity/realm.py)."""
    return {
        "iss": "https://issuer",
        "aud": ["agentplane-gateway"],
        "azp": f"{team}.{agent}",
        "sub": "uuid",
        "groups": [f"/{team}"],
        **claims,
    }


def user_token(*groups: str) -> dict:
    return {
        "iss": "https://issuer",
        "aud": ["agentplane-gateway"],
        "azp": "agentplane-cli",
        "sub": "uuid",
        "groups": list(groups),
    }


@dataclass
class Outcome:
    status: int
    denial: str | None = None  # the x-agentplane-denial header / error type
    message: str = ""
    backend: str | None = None
    path: str | None = None  # as forwarded
    authority: str | None = None  # as forwarded (dynamic egress)
    route: str | None = None
    headers: dict = field(default_factory=dict)


class GatewayModel:
    """The objects of a plan (or a builder), served by the pipeline model in tests/support."""

    def __init__(self, objects: list[dict]):
        self.objects = objects
        self.policies = {
            o["spec"]["targetRefs"][0]["name"]: o["spec"]["traffic"]
            for o in objects
            if o["kind"] == "AgentgatewayPolicy" and "traffic" in o["spec"]
        }

    def request(self, path: str, jwt: dict | None, headers: dict | None = None) -> Outcome:
        headers = dict(headers or {})
        tokens = {}
        if jwt is not None:
            issuer = next(p["jwtAuthentication"]["providers"][0]["issuer"] for p in self.policies.values())
            tokens["t"] = {**jwt, "iss": issuer}
            location = "x-agentplane-authorization" if path.startswith("/egress/") else "authorization"
            headers[location] = "Bearer t"
        # Model routes read a chat-completions body; other routes ignore it.
        body = b'{"messages": [{"role": "user", "content": "hello"}]}' if path.startswith("/llm/") else b""
        result = agw.Gateway(self.objects, tokens).send(agw.Request(path, headers, body))
        if result.step in ("jwt", "authorization"):
            return Outcome(result.status, result.step, route=result.route)
        if result.step == "direct response":
            return Outcome(
                result.status, result.denial, result.error["message"], route=result.route, headers=result.headers
            )
        forwarded = result.forwarded
        return Outcome(
            result.status,
            backend=forwarded.backend,
            path=forwarded.path,
            authority=forwarded.authority,
            route=result.route,
            headers=forwarded.headers,
        )


@pytest.fixture(scope="module")
def dev() -> GatewayModel:
    return GatewayModel(
        [r["inputs"] for r in resources_of(example_plan("dev"), component="gateway") if "kind" in r["inputs"]]
    )


# --- models --------------------------------------------------------------------------------


def test_an_agent_reaches_an_approved_model_without_a_provider_key(dev: GatewayModel) -> None:
    outcome = dev.request("/llm/payments/gpt-4o/v1/chat/completions", agent_token("payments", "invoice-triage"))
    assert (outcome.status, outcome.backend, outcome.path) == (200, "model-gpt-4o", "/v1/chat/completions")


def test_a_model_the_agents_tier_does_not_allow_is_refused_naming_its_approved_models(dev: GatewayModel) -> None:
    # refund-drafter runs at the lowest tier (restricted: gpt-4o-mini only).
    outcome = dev.request("/llm/payments/gpt-4o/v1/chat/completions", agent_token("payments", "refund-drafter"))
    assert (outcome.status, outcome.denial) == (403, "model_not_approved")
    assert (
        outcome.message
        == "model gpt-4o is not approved for agent payments/refund-drafter (tier restricted); approved models: "
        "gpt-4o-mini"
    )
    assert (
        dev.request("/llm/payments/gpt-4o-mini/v1/chat/completions", agent_token("payments", "refund-drafter")).status
        == 200
    )


def test_a_model_outside_the_teams_list_is_refused_naming_the_alternatives(dev: GatewayModel) -> None:
    # claude-sonnet-4-5 is approved in dev and at payments' tier, but not in payments' models.
    outcome = dev.request(
        "/llm/payments/claude-sonnet-4-5/v1/chat/completions", agent_token("payments", "invoice-triage")
    )
    assert (outcome.status, outcome.denial, outcome.route) == (403, "model_not_approved", "payments-models")
    assert outcome.message.endswith("approved models: gpt-4o-mini, gpt-4o")


def test_another_teams_agent_cannot_use_a_teams_model_route(dev: GatewayModel) -> None:
    outcome = dev.request("/llm/payments/gpt-4o-mini/v1/chat/completions", agent_token("research", "paper-summarizer"))
    assert (outcome.status, outcome.denial) == (403, "authorization")
    no_token = dev.request("/llm/payments/gpt-4o-mini/v1/chat/completions", None)
    assert (no_token.status, no_token.denial) == (401, "jwt")


def test_every_team_policy_validates_tokens_against_the_platform_realm() -> None:
    doc = example_plan("dev")
    policies = [
        r["inputs"]
        for r in resources_of(doc, component="gateway")
        if r["inputs"].get("kind") == "AgentgatewayPolicy" and r["team"]
    ]
    providers = {yaml.safe_dump(p["spec"]["traffic"]["jwtAuthentication"]["providers"]) for p in policies}
    (only,) = providers  # one realm, the same everywhere
    (provider,) = yaml.safe_load(only)
    # dev's issuer is Keycloak's public URL (agentplane:identity.publicUrl) plus the realm.
    assert provider["issuer"] == "http://keycloak.localtest.me:8080/realms/agentplane"
    assert provider["audiences"] == ["agentplane-gateway"]
    assert provider["jwks"]["remote"]["backendRef"]["name"] == build.JWKS_BACKEND


# --- budgets -------------------------------------------------------------------------------


class RateLimitService:
    """Envoy ratelimit's arithmetic: descriptor trees per domain, fixed windows per unit."""

    UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

    def __init__(self, files: dict[str, str]):
        self.domains = {}
        for text in files.values():
            config = yaml.safe_load(text)
            self.domains[config["domain"]] = config["descriptors"]
        self.counters: dict[tuple, int] = {}

    def _limit(self, domain: str, entries: list[tuple[str, str]]) -> dict | None:
        nodes, node = self.domains.get(domain, []), None
        for key, value in entries:
            node = next((n for n in nodes if n["key"] == key and n.get("value") == value), None) or next(
                (n for n in nodes if n["key"] == key and "value" not in n), None
            )
            if node is None:
                return None  # only a descriptor that matches all the way down is limited
            nodes = node.get("descriptors", [])
        return node.get("rate_limit")

    def should_rate_limit(self, domain: str, descriptors: list[list[tuple[str, str]]], hits: int, now: int) -> bool:
        """True when over the limit; counts `hits` like the service (0 only checks)."""
        over = False
        for entries in descriptors:
            limit = self._limit(domain, entries)
            if limit is None:
                continue
            window = now // self.UNIT_SECONDS[limit["unit"]]
            key = (domain, tuple(entries), window)
            self.counters[key] = self.counters.get(key, 0) + hits
            over |= self.counters[key] > limit["requests_per_unit"]
        return over


class BudgetedCalls:
    """agentgateway's token accounting: check with 0 before the call, add the tokens after it."""

    def __init__(self, policy: dict, service: RateLimitService):
        self.limit = policy["spec"]["traffic"]["rateLimit"]["global"]
        self.header = policy["spec"]["traffic"]["transformation"]["response"]["set"][0]["value"]
        self.service = service

    def descriptors(self, jwt: dict) -> list[list[tuple[str, str]]]:
        out = []
        for descriptor in self.limit["descriptors"]:
            assert descriptor["unit"] == "Tokens"
            try:
                out.append([(e["name"], evaluate(e["expression"], jwt=jwt)) for e in descriptor["entries"]])
            except CEL_RUNTIME_ERRORS:
                # a descriptor whose expression fails is dropped (agentgateway/agentgateway@v1.4.1:
                # crates/agentgateway/src/http/remoteratelimit.rs build_request, eval_descriptor)
                continue
        return out

    def call(self, jwt: dict, tokens: int, now: int) -> tuple[int, str | None]:
        descriptors = self.descriptors(jwt)
        if self.service.should_rate_limit(self.limit["domain"], descriptors, 0, now):
            response = {"code": 429, "headers": {budget.REMAINING_HEADER: "0"}}
            return 429, _denial_header(self.header, response)
        self.service.should_rate_limit(self.limit["domain"], descriptors, tokens, now)
        return 200, _denial_header(self.header, {"code": 200, "headers": {}})


def _denial_header(expression: str, response: dict) -> str | None:
    try:
        return evaluate(expression, response=response)
    except CEL_RUNTIME_ERRORS:
        # a failed `set` expression yields no value and the header is not set
        # (agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/http/transformation_cel.rs exec_header)
        return None


@pytest.fixture
def payments_budget() -> BudgetedCalls:
    resources = resources_of(example_plan("dev"), component="gateway")
    (config_map,) = [r["inputs"] for r in resources if r["inputs"].get("kind") == "ConfigMap"]
    policy = next(
        r["inputs"]
        for r in resources
        if r["inputs"].get("kind") == "AgentgatewayPolicy"
        and r["inputs"]["metadata"]["name"] == "payments-model-gpt-4o-mini"
    )
    return BudgetedCalls(policy, RateLimitService(config_map["data"]))


def test_budget_descriptors_name_the_team_and_the_agent_with_its_own_budget(payments_budget: BudgetedCalls) -> None:
    assert payments_budget.descriptors(agent_token("payments", "refund-drafter")) == [
        [("team", "payments")],
        [("team", "payments"), ("agent", "refund-drafter")],
    ]
    # invoice-triage has no budget of its own: only the team's counts for it.
    assert payments_budget.descriptors(agent_token("payments", "invoice-triage")) == [[("team", "payments")]]


def test_past_the_agents_daily_budget_its_requests_are_refused_until_the_day_rolls_over(
    payments_budget: BudgetedCalls,
) -> None:
    drafter = agent_token("payments", "refund-drafter")
    day = 20_000 * 86400
    # refund-drafter: 200000 tokens/day. Four calls of 60000: the fourth ends at 240000 > 200000.
    assert [payments_budget.call(drafter, 60_000, day + i)[0] for i in range(4)] == [200, 200, 200, 200]
    status, header = payments_budget.call(drafter, 60_000, day + 10)
    assert status == 429
    assert header.startswith(
        "budget exceeded: the daily token budget is used up (team payments: 2000000 tokens/day; agent "
        "payments/refund-drafter: 200000 tokens/day)"
    )
    assert header.endswith("it resets at 00:00 UTC")
    # The team's other agent is not held back by refund-drafter's own budget.
    assert payments_budget.call(agent_token("payments", "invoice-triage"), 1_000, day + 11)[0] == 200
    # A new day, a new budget.
    assert payments_budget.call(drafter, 60_000, day + 86400)[0] == 200


def test_past_the_teams_daily_budget_every_agent_of_the_team_is_refused(payments_budget: BudgetedCalls) -> None:
    triage, drafter = agent_token("payments", "invoice-triage"), agent_token("payments", "refund-drafter")
    day = 20_001 * 86400
    assert payments_budget.call(triage, 1_999_000, day)[0] == 200
    assert payments_budget.call(drafter, 5_000, day + 1)[0] == 200  # team now at 2004000 > 2000000
    assert payments_budget.call(triage, 10, day + 2)[0] == 429
    assert payments_budget.call(drafter, 10, day + 3)[0] == 429


def test_the_budget_message_is_only_set_on_the_budget_services_refusals(payments_budget: BudgetedCalls) -> None:
    header = payments_budget.header
    assert _denial_header(header, {"code": 429, "headers": {budget.REMAINING_HEADER: "0"}}).startswith(
        "budget exceeded"
    )
    # A provider's own 429 (no budget header) and ordinary responses keep no denial header.
    assert _denial_header(header, {"code": 429, "headers": {"x-ratelimit-remaining-requests": "0"}}) is None
    assert _denial_header(header, {"code": 200, "headers": {budget.REMAINING_HEADER: "1999000"}}) is None


# --- agents and MCP ------------------------------------------------------------------------


def test_an_agent_is_private_to_its_access_list(dev: GatewayModel) -> None:
    path = "/agents/payments/invoice-triage/tasks"
    # access: [payments-devs]; tokens carry groups by path (the realm's mapper emits full paths).
    allowed = dev.request(path, user_token("/payments/payments-devs"))
    assert (allowed.status, allowed.backend, allowed.path) == (200, "payments-agent-invoice-triage", "/tasks")
    assert dev.request(path, user_token("/support/support-engineers")).denial == "authorization"
    assert dev.request(path, agent_token("payments", "refund-drafter")).denial == "authorization"
    # Another team's group of the same name, and the bare leaf name, are different groups.
    assert dev.request(path, user_token("/support/payments-devs")).denial == "authorization"
    assert dev.request(path, user_token("payments-devs")).denial == "authorization"
    # No access list: its team's owners only.
    drafter = "/agents/payments/refund-drafter"
    assert dev.request(drafter, user_token("/payments/payments-admins")).status == 200
    assert dev.request(drafter, user_token("/payments/payments-devs")).denial == "authorization"


def test_an_access_list_can_open_an_agent_to_another_agent(dev: GatewayModel) -> None:
    # support/ticket-router: access [support-engineers, agent:support/kb-answerer]
    path = "/agents/support/ticket-router/handover"
    assert dev.request(path, agent_token("support", "kb-answerer")).status == 200
    assert dev.request(path, agent_token("payments", "invoice-triage")).denial == "authorization"


def test_callees_get_the_callers_identity_and_never_its_token(dev: GatewayModel) -> None:
    forged = {build.CALLER_HEADER: "payments.refund-drafter", build.CALLER_KIND_HEADER: "agent"}
    outcome = dev.request("/agents/support/ticket-router/x", agent_token("support", "kb-answerer"), forged)
    # What reached the agent: the caller as the gateway saw it, no token, the forged values gone.
    assert outcome.headers == {build.CALLER_HEADER: "support.kb-answerer", build.CALLER_KIND_HEADER: "agent"}


def test_mcp_servers_use_the_same_authentication_and_authorization(dev: GatewayModel) -> None:
    path = "/mcp/support/crm-tools"
    for token in (
        agent_token("support", "kb-answerer"),
        agent_token("support", "ticket-router"),
        user_token("/support/support-leads"),
    ):
        outcome = dev.request(path, token)
        # The route is only the entry point: the MCP backend speaks to the server's own path.
        assert (outcome.status, outcome.backend, outcome.path) == (200, "support-mcp-crm-tools", "/mcp")
    assert dev.request(path, agent_token("payments", "invoice-triage")).denial == "authorization"
    assert dev.request(path, user_token("/payments/payments-admins")).denial == "authorization"
    assert dev.request(path, None).denial == "jwt"


# --- egress --------------------------------------------------------------------------------


def test_an_agent_reaches_a_listed_host_over_tls_and_keeps_its_own_credentials(dev: GatewayModel) -> None:
    outcome = dev.request(
        "/egress/support/acme.my.salesforce.com/services/data?q=1",
        agent_token("support", "kb-answerer"),
        {"authorization": "Bearer salesforce-token", build.EGRESS_TOKEN_HEADER: "Bearer platform-token"},
    )
    assert (outcome.status, outcome.path) == (200, "/services/data?q=1")
    assert outcome.headers == {"authorization": "Bearer salesforce-token"}  # the platform token stays here
    backend = next(
        r["inputs"]
        for r in resources_of(example_plan("dev"), component="gateway")
        if r["inputs"].get("metadata", {}).get("name") == outcome.backend
    )
    assert backend["spec"] == {
        "static": {"host": "acme.my.salesforce.com", "port": 443},
        "policies": {"tls": {"sni": "acme.my.salesforce.com"}},
    }


def test_a_host_not_on_the_list_is_denied_with_a_clear_error(dev: GatewayModel) -> None:
    for path in (
        "/egress/support/evil.example.com/steal",
        "/egress/support/acme.my.salesforce.com.evil.io/x",
        "/egress/support",
    ):
        outcome = dev.request(path, agent_token("support", "kb-answerer"))
        assert (outcome.status, outcome.denial) == (403, "egress_denied"), path
        assert (
            outcome.message
            == "egress denied: this host is not on the egress list of team support (allowed: acme.my.salesforce.com)"
        )


def test_an_agent_whose_tier_has_no_egress_gets_none(dev: GatewayModel) -> None:
    # ticket-router runs at restricted in dev (no egress), even for its team's listed host.
    outcome = dev.request("/egress/support/acme.my.salesforce.com/x", agent_token("support", "ticket-router"))
    assert (outcome.status, outcome.denial) == (403, "egress_denied")
    assert (
        outcome.message
        == "egress denied: agent support/ticket-router runs at tier restricted, which allows no external egress"
    )
    # research is at restricted: no egress list at all, everything is denied.
    assert (
        dev.request("/egress/research/api.github.com/", agent_token("research", "paper-summarizer")).denial
        == "egress_denied"
    )


WILDCARD_TEAM = """\
name: acme
owners: [acme-admins]
environments:
  dev: {tier: standard}
agents:
  - {name: helper, promote: {dev: standard}}
  - {name: intern}
egress: ["*.stripe.com", api.github.com]
"""


@pytest.fixture(scope="module")
def wildcard(tmp_path_factory) -> GatewayModel:
    root = tmp_path_factory.mktemp("wildcard")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    (root / "stacks" / "teams" / "acme.yaml").write_text(WILDCARD_TEAM, encoding="utf-8")
    spec = load_from_files("dev", root=root)
    ident = build.identity(spec, "https://issuer/realms/agentplane")
    return GatewayModel([build.egress_dynamic_backend(), *build_team.team_objects(spec.team("acme"), spec, ident)])


def test_wildcard_egress_goes_to_the_named_subdomain_through_the_dynamic_proxy(wildcard: GatewayModel) -> None:
    helper = agent_token("acme", "helper")
    outcome = wildcard.request("/egress/acme/files.stripe.com/v1/files?limit=3", helper)
    assert (outcome.status, outcome.backend, outcome.authority, outcome.path) == (
        200,
        build.EGRESS_DYNAMIC_BACKEND,
        "files.stripe.com:443",
        "/v1/files?limit=3",
    )
    assert wildcard.request("/egress/acme/a.b.stripe.com", helper).path == "/"
    # A query right after the host still leaves an origin-form path, as the exact-host rewrite does.
    assert wildcard.request("/egress/acme/files.stripe.com?limit=3", helper).path == "/?limit=3"
    # Exact hosts keep their static backend.
    assert wildcard.request("/egress/acme/api.github.com/repos", helper).backend.startswith(
        "acme-egress-api-github-com"
    )


def test_wildcard_egress_denies_hosts_outside_the_pattern(wildcard: GatewayModel) -> None:
    helper = agent_token("acme", "helper")
    for path in (
        "/egress/acme/stripe.com/x",
        "/egress/acme/evilstripe.com/x",
        "/egress/acme/files.stripe.com.evil.io/x",
        "/egress/acme/kubernetes.default.svc/api",
    ):
        outcome = wildcard.request(path, helper)
        assert (outcome.status, outcome.denial) == (403, "egress_denied"), path
    assert wildcard.request("/egress/acme/files.stripe.com/x", agent_token("acme", "intern")).message.startswith(
        "egress denied: agent acme/intern runs at tier restricted"
    )


@pytest.mark.parametrize(
    "claims,tenant",
    [
        ({"azp": "payments.invoice-triage", "sub": "u"}, "payments"),  # an agent: its team
        ({"azp": "agentplane-cli", "sub": "u"}, ""),  # a person's CLI client: platform
        ({"sub": "u"}, ""),  # no azp at all: platform
    ],
)
def test_gateway_telemetry_names_the_callers_tenant(claims: dict, tenant: str) -> None:
    from agentplane.builders.telemetry import TENANT_ATTRIBUTE

    frontend = next(
        r["inputs"]["spec"]["frontend"]
        for r in example_plan("dev")["resources"]
        if r["inputs"].get("kind") == "AgentgatewayPolicy" and "frontend" in r["inputs"].get("spec", {})
    )
    for attributes in (frontend["tracing"]["attributes"]["add"], frontend["accessLog"]["attributes"]["add"]):
        expression = next(a["expression"] for a in attributes if a["name"] == TENANT_ATTRIBUTE)
        assert evaluate(expression, jwt=claims) == tenant
