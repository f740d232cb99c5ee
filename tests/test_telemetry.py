"""Telemetry builders and config: the gateway collector's routing, Instrumentation, validation errors.

The collector config is checked two ways: statically (every component defined and used, one
route per tenant, a tenant's exporter reachable only from its own pipeline) and by pushing
sample signals through a small interpreter of the processors and routing connectors used.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentplane import namespaces
from agentplane.builders import telemetry as build
from agentplane.builders import tenants as tenant_build
from agentplane.config.base import SECRET_STAND_IN
from agentplane.config.files import env_config_from_stack_document, read_team_documents
from agentplane.config.load import build_spec
from agentplane.config.platform import PlatformSpec
from agentplane.config.sections.telemetry import TeamTelemetryConfig, TelemetryConfig, queue_destinations
from agentplane.errors import ConfigError
from agentplane.manifest import LABEL_AGENT, LABEL_TENANT, LABEL_TIER
from agentplane.quantity import parse_quantity
from tests.support import collector_model as model
from tests.support.plans import ROOT, STACKS
from tests.support.upstream import upstream_dir, validate_chart_values, validate_objects

TEAMS_DIR = ROOT / "stacks" / "teams"
STACK_NAMES = set(STACKS)


def _stack_env(stack: str) -> dict[str, Any]:
    path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    return env_config_from_stack_document(yaml.safe_load(path.read_text()), str(path))


def make_spec(
    stack: str = "dev",
    *,
    telemetry: dict | None = None,
    add: dict[str, dict] | None = None,
    only: tuple[str, ...] | None = None,
) -> PlatformSpec:
    """A spec from an example stack, its `agentplane:telemetry` replaced and team files added/kept."""
    env = _stack_env(stack)
    if telemetry is not None:
        env["telemetry"] = telemetry
    docs, issues = read_team_documents(TEAMS_DIR)
    assert not issues
    if only is not None:
        docs = [(p, d) for p, d in docs if p.stem in only]
    docs += [(Path(f"stacks/teams/{name}.yaml"), doc) for name, doc in (add or {}).items()]
    return build_spec(stack, env, f"stacks/Pulumi.{stack}.yaml", docs, STACK_NAMES, source="file")


def config_errors(
    stack: str = "dev", *, telemetry: dict | None = None, add: dict[str, dict] | None = None
) -> list[tuple[str, str, str]]:
    with pytest.raises(ConfigError) as caught:
        make_spec(stack, telemetry=telemetry, add=add)
    return [(i.file, i.field, i.message) for i in caught.value.issues]


def team_doc(name: str, **extra: Any) -> dict:
    return {
        "name": name,
        "owners": [f"{name}-admins"],
        "environments": {"dev": {"tier": "standard"}},
        "agents": [{"name": "bot"}],
        **extra,
    }


# --- static structure of the collector config -------------------------------------------------


def structure_problems(config: dict) -> list[str]:
    return model.config_problems(config)


def routes(config: dict, signal: str) -> list[tuple[str, list[str]]]:
    """(tenant, target pipelines) for each route of the signal's router."""
    router = config["connectors"][f"routing/{signal}"]
    out = []
    for route in router["table"]:
        terms = model.condition_terms(route["condition"])
        assert route["context"] == "resource", route
        (tenant,) = [value for key, op, value in terms if key == build.TENANT_ATTRIBUTE and op == "=="]
        out.append((tenant, route["pipelines"]))
    return out


def isolation_problems(config: dict, teams: list[str]) -> list[str]:
    """No route or pipeline may carry one tenant's data to another tenant's exporter."""
    problems = []
    pipelines = config["service"]["pipelines"]
    inbound = ("/workloads", "/gateway", build.USAGE_PIPELINE)
    exporter_users: dict[str, set[str]] = {}
    for name, pipeline in pipelines.items():
        for exporter in pipeline["exporters"]:
            exporter_users.setdefault(exporter, set()).add(name)
    for signal in build.SIGNALS:
        table = routes(config, signal)
        tenants = [tenant for tenant, _ in table]
        for team in teams:
            if tenants.count(team) != 1:
                problems.append(f"{signal}: tenant {team} has {tenants.count(team)} routes (needs exactly one)")
        for tenant, targets in table:
            if tenant not in teams:
                problems.append(f"{signal}: route for {tenant}, which is not a team")
            if targets != [build.tenant_pipeline(signal, tenant)]:
                problems.append(f"{signal}: the route for {tenant} targets {targets}")
        router = config["connectors"][f"routing/{signal}"]
        if router["default_pipelines"] != [build.platform_pipeline(signal)]:
            problems.append(
                f"{signal}: unmatched data goes to {router['default_pipelines']}, not the platform pipeline"
            )
        for team in teams + [None]:
            name = build.tenant_pipeline(signal, team) if team else build.platform_pipeline(signal)
            pipeline = pipelines.get(name)
            if pipeline is None:
                problems.append(f"{signal}: no pipeline {name}")
                continue
            if pipeline["receivers"] != [f"routing/{signal}"] or pipeline.get("processors"):
                problems.append(f"{name}: must be fed only by the router, unprocessed")
            if len(pipeline["exporters"]) != 1:
                problems.append(f"{name}: exports to {pipeline['exporters']} (needs exactly one exporter)")
                continue
            exporter = pipeline["exporters"][0]
            owners = {p for p in exporter_users[exporter] if not p.endswith(inbound)}
            expected = {build.tenant_pipeline(s, team) if team else build.platform_pipeline(s) for s in build.SIGNALS}
            if team is None:
                expected.add(build.SELF_METRICS_PIPELINE)  # the collector's own metrics: platform only
            if owners - expected:
                problems.append(f"{name}: its exporter {exporter} is also used by {sorted(owners - expected)}")
    return problems


def exporter_of(config: dict, pipeline: str) -> str:
    (exporter,) = config["service"]["pipelines"][pipeline]["exporters"]
    return exporter


# --- the world records come from: two tenants, the gateway, and forgers -------------------------

TOKEN = "t0ken-the-gateway-presents"


def cluster(spec: PlatformSpec) -> model.Cluster:
    labels = {
        team.namespace: {LABEL_TENANT: team.name, "kubernetes.io/metadata.name": team.namespace} for team in spec.teams
    }
    labels[namespaces.GATEWAY] = {"kubernetes.io/metadata.name": namespaces.GATEWAY}
    return model.Cluster(
        namespace_labels=labels, token_file={f"{build.GATEWAY_TOKEN_MOUNT}/{build.GATEWAY_TOKEN_KEY}": TOKEN}
    )


def agent_pod(spec: PlatformSpec, team: str, agent: str, *, host_network: bool = False) -> model.Pod:
    """A pod as the platform labels it (the agent-labels MutatingPolicy sets agent and tier)."""
    info = spec.team(team)
    tier = next(a.tier.name for a in info.agents if a.name == agent)
    return model.Pod(
        info.namespace, f"{agent}-7f9c", f"uid-{team}-{agent}", {LABEL_AGENT: agent, LABEL_TIER: tier}, host_network
    )


GATEWAY_POD = model.Pod(namespaces.GATEWAY, "agentplane-5d8b", "uid-gateway", {})


def forged_claims(config: dict, victim_namespace: str, victim: str) -> dict:
    """Every resource attribute a route reads (set to the victim's values), plus the namespace,
    pod and agent/tier attributes `k8s_attributes` would otherwise trust."""
    claims = {
        "k8s.namespace.name": victim_namespace,
        "k8s.pod.name": "victim",
        "k8s.deployment.name": "victim",
        build.TENANT_ATTRIBUTE: victim,
        build.AGENT_ATTRIBUTE: "victim",
        build.TIER_ATTRIBUTE: "privileged",
    }
    for signal in build.SIGNALS:
        for route in config["connectors"][f"routing/{signal}"]["table"]:
            if route["pipelines"] == [build.tenant_pipeline(signal, victim)]:
                for key, _, value in model.condition_terms(route["condition"]):
                    claims.setdefault(key, value if value is not None else "forged")
    return claims


def landing(config: dict, send: model.Send, world: model.Cluster) -> dict[str, set[str]]:
    """Where a send lands: exporter -> tenants routed there (by the resource it arrived with)."""
    out: dict[str, set[str]] = {}
    for delivery in model.deliver(config, send, world):
        out.setdefault(delivery.exporter, set()).add(delivery.resource.get(build.TENANT_ATTRIBUTE, "-"))
    return out


def team_exporters(config: dict, spec: PlatformSpec) -> dict[str, str]:
    return {team.name: exporter_of(config, build.tenant_pipeline("traces", team.name)) for team in spec.teams}


# --- tests: the example stacks ----------------------------------------------------------------


@pytest.fixture(scope="module", params=STACKS)
def stack_spec(request) -> PlatformSpec:
    return make_spec(request.param)


def test_collector_config_is_complete_and_every_component_is_used(stack_spec: PlatformSpec) -> None:
    assert structure_problems(build.collector_config(stack_spec)) == []


def test_the_model_is_closed_world() -> None:
    """An unknown processor, connector or field is an error, never passed over."""
    config = build.collector_config(make_spec("staging"))
    unknown_processor = copy.deepcopy(config)
    unknown_processor["processors"]["transform/x"] = {}
    unknown_processor["service"]["pipelines"]["traces/workloads"]["processors"].append("transform/x")
    assert any("unknown component type 'transform'" in p for p in model.config_problems(unknown_processor))
    unknown_connector = copy.deepcopy(config)
    unknown_connector["connectors"]["spanmetrics"] = {}
    assert any("unknown component type 'spanmetrics'" in p for p in model.config_problems(unknown_connector))
    typo = copy.deepcopy(config)
    typo["processors"]["k8s_attributes"]["wait_for_metdata"] = True
    assert model.config_problems(typo) == ["processors.k8s_attributes.wait_for_metdata: unknown field"]
    queue_typo = copy.deepcopy(config)
    exporter = next(name for name, settings in queue_typo["exporters"].items() if "sending_queue" in settings)
    queue_typo["exporters"][exporter]["sending_queue"]["max_bytes"] = 1
    assert model.config_problems(queue_typo) == [f"exporters.{exporter}.sending_queue.max_bytes: unknown field"]
    # The interpreter refuses what it cannot model.
    with pytest.raises(AssertionError, match="OTTL"):
        model.evaluate('IsMatch(attributes["a"], ".*")', {})


def test_every_tenant_has_exactly_one_route_to_its_own_exporter(stack_spec: PlatformSpec) -> None:
    config = build.collector_config(stack_spec)
    teams = [t.name for t in stack_spec.teams]
    assert teams, "the example stacks have teams"
    assert isolation_problems(config, teams) == []


def test_routes_need_attributes_only_the_collector_sets(stack_spec: PlatformSpec) -> None:
    """Each attribute a route reads is deleted from what senders claim before enrichment, in
    every pipeline that feeds a router, and then set only by `k8s_attributes` (from the
    connection's pod) or, on the gateway pipeline, lifted from the authenticated gateway's records."""
    config = build.collector_config(stack_spec)
    pipelines = config["service"]["pipelines"]
    keys = {
        key
        for s in build.SIGNALS
        for r in config["connectors"][f"routing/{s}"]["table"]
        for key, _, _ in model.condition_terms(r["condition"])
    }
    assert keys == {build.TENANT_ATTRIBUTE, build.POD_UID_ATTRIBUTE}
    feeding = [name for name, p in pipelines.items() if any(e.startswith("routing/") for e in p["exporters"])]
    assert feeding
    for name in feeding:
        if name == build.USAGE_PIPELINE:
            # Fed only by the usage connector, whose input is the gateway's logs pipeline.
            assert pipelines[name]["receivers"] == [build.USAGE_CONNECTOR]
            continue
        processors = pipelines[name]["processors"]
        drop = processors.index("resource/drop-sender-claims")
        assert drop < processors.index("k8s_attributes"), name
        patterns = [a["pattern"] for a in config["processors"]["resource/drop-sender-claims"]["attributes"]]
        for key in keys | {"k8s.namespace.name", build.AGENT_ATTRIBUTE, build.TIER_ATTRIBUTE}:
            assert any(re.search(p, key) for p in patterns), f"{name}: a sender's {key} survives"


def test_two_tenants_and_forgers_each_land_only_where_they_belong(stack_spec: PlatformSpec) -> None:
    config = build.collector_config(stack_spec)
    world = cluster(stack_spec)
    own = team_exporters(config, stack_spec)
    platform = {exporter_of(config, build.platform_pipeline(s)) for s in build.SIGNALS}
    first, second = stack_spec.teams[:2]
    payer = agent_pod(stack_spec, first.name, first.agents[-1].name)
    other = agent_pod(stack_spec, second.name, second.agents[0].name)
    for signal in build.SIGNALS:
        own_signal = {t: exporter_of(config, build.tenant_pipeline(signal, t)) for t in own}
        platform_signal = exporter_of(config, build.platform_pipeline(signal))
        # Two honest tenants, each to its own pipeline only.
        for pod, team in ((payer, first.name), (other, second.name)):
            assert landing(config, model.Send(signal, "otlp", pod, {"service.name": "x"}), world) == {
                own_signal[team]: {team}
            }
        # A tenant pod claiming to be the other tenant, its namespace, pod and tier: still itself,
        # with the agent and tier of its own pod's labels (not its team's tier).
        forged = forged_claims(config, second.namespace, second.name)
        delivered = model.deliver(config, model.Send(signal, "otlp", payer, dict(forged)), world)
        assert [d.exporter for d in delivered] == [own_signal[first.name]]
        assert delivered[0].resource[build.TIER_ATTRIBUTE] == payer.labels[LABEL_TIER] != "privileged"
        assert delivered[0].resource[build.AGENT_ATTRIBUTE] == first.agents[-1].name
        assert delivered[0].resource["k8s.namespace.name"] == first.namespace
        # A sender no pod matches (SNAT, a pod the cache has not seen yet) claiming research's
        # namespace: k8s_attributes would fall back to that namespace; the claim is gone first.
        assert landing(config, model.Send(signal, "otlp", None, dict(forged)), world) == {platform_signal: {"-"}}
        # A hostNetwork pod of payments claiming research: no pod match, so no team.
        host = agent_pod(stack_spec, first.name, first.agents[-1].name, host_network=True)
        assert landing(config, model.Send(signal, "otlp", host, dict(forged)), world) == {platform_signal: {"-"}}
        # A tenant pod on the gateway port with a forged per-record tenant and no token: refused.
        assert (
            model.deliver(
                config, model.Send(signal, "otlp/gateway", payer, {}, {build.TENANT_ATTRIBUTE: second.name}), world
            )
            == []
        )
    assert set(own.values()).isdisjoint(platform)


def test_gateway_records_reach_the_calling_team_and_nobody_else(stack_spec: PlatformSpec) -> None:
    config = build.collector_config(stack_spec)
    world = cluster(stack_spec)
    bearer = f"Bearer {TOKEN}"
    for signal in ("traces", "logs"):
        own = {t.name: exporter_of(config, build.tenant_pipeline(signal, t.name)) for t in stack_spec.teams}
        platform = exporter_of(config, build.platform_pipeline(signal))
        for team in own:
            record = {build.TENANT_ATTRIBUTE: team, build.AGENT_ATTRIBUTE: "bot", "agentplane.caller": f"{team}.bot"}
            # Even if the gateway's own resource carried another tenant, the record decides.
            sent = model.Send(signal, "otlp/gateway", GATEWAY_POD, {build.TENANT_ATTRIBUTE: "research"}, record, bearer)
            reached = [d for d in model.deliver(config, sent, world) if d.signal == signal]
            assert [d.exporter for d in reached] == [own[team]]
        # A person's call (no team in the token) or an unknown team: platform only.
        for record in ({build.TENANT_ATTRIBUTE: ""}, {build.TENANT_ATTRIBUTE: "ghost"}, {}):
            sent = model.Send(signal, "otlp/gateway", GATEWAY_POD, {}, record, bearer)
            assert {d.exporter for d in model.deliver(config, sent, world) if d.signal == signal} == {platform}
        # Another pod of the gateway namespace, or a wrong token: refused at the receiver.
        other = model.Pod(namespaces.GATEWAY, "controller", "uid-controller", {})
        assert (
            model.deliver(
                config, model.Send(signal, "otlp/gateway", other, {}, {build.TENANT_ATTRIBUTE: "payments"}), world
            )
            == []
        )
        assert (
            model.deliver(
                config,
                model.Send(
                    signal, "otlp/gateway", GATEWAY_POD, {}, {build.TENANT_ATTRIBUTE: "payments"}, "Bearer guess"
                ),
                world,
            )
            == []
        )


def test_token_usage_and_tool_calls_reach_the_calling_teams_backend(stack_spec: PlatformSpec) -> None:
    """One gateway access log per request (model, tokens in/out, tool) becomes metrics per team,
    agent and model, routed like the log itself."""
    config = build.collector_config(stack_spec)
    world = cluster(stack_spec)
    own = {t.name: exporter_of(config, build.tenant_pipeline("metrics", t.name)) for t in stack_spec.teams}
    platform = exporter_of(config, build.platform_pipeline("metrics"))
    for team in [t.name for t in stack_spec.teams[:2]]:
        log = {
            build.TENANT_ATTRIBUTE: team,
            build.AGENT_ATTRIBUTE: "triage",
            build.LOG_MODEL: "gpt-4o-mini",
            build.LOG_INPUT_TOKENS: 120,
            build.LOG_OUTPUT_TOKENS: 45,
            build.LOG_TOOL: "search",
        }
        sent = model.Send("logs", "otlp/gateway", GATEWAY_POD, {}, log, f"Bearer {TOKEN}")
        metrics = [d for d in model.deliver(config, sent, world) if d.signal == "metrics"]
        assert {d.record["metric"] for d in metrics} == {
            build.INPUT_TOKENS_METRIC,
            build.OUTPUT_TOKENS_METRIC,
            build.TOOL_CALLS_METRIC,
        }
        assert {d.exporter for d in metrics} == {own[team]}
        for d in metrics:
            assert d.resource[build.TENANT_ATTRIBUTE] == team and d.resource[build.AGENT_ATTRIBUTE] == "triage"
        by_metric = {d.record["metric"]: d.record for d in metrics}
        assert by_metric[build.INPUT_TOKENS_METRIC][build.LOG_MODEL] == "gpt-4o-mini"
        assert by_metric[build.TOOL_CALLS_METRIC][build.LOG_TOOL] == "search"
    # A call no team made counts on the platform only.
    sent = model.Send("logs", "otlp/gateway", GATEWAY_POD, {}, {build.LOG_INPUT_TOKENS: 5}, f"Bearer {TOKEN}")
    assert {d.exporter for d in model.deliver(config, sent, world) if d.signal == "metrics"} == {platform}
    usage = config["connectors"][build.USAGE_CONNECTOR]["logs"]
    sums = {m["name"]: m["sum"]["value"] for m in usage}
    assert sums[build.INPUT_TOKENS_METRIC] == f'Int(attributes["{build.LOG_INPUT_TOKENS}"])'
    assert sums[build.OUTPUT_TOKENS_METRIC] == f'Int(attributes["{build.LOG_OUTPUT_TOKENS}"])'


def _mutant_results(spec: PlatformSpec, config: dict, collector: dict, policy: dict) -> list[str]:
    """Which of the isolation tests a (possibly mutated) collector fails."""
    failures = []
    world = cluster(spec)
    research = spec.team("research")
    payer = agent_pod(spec, "payments", "invoice-triage")
    forged = forged_claims(config, research.namespace, "research")
    own_research = exporter_of(config, build.tenant_pipeline("traces", "research"))
    for source in (None, agent_pod(spec, "payments", "invoice-triage", host_network=True), payer):
        if own_research in {
            d.exporter for d in model.deliver(config, model.Send("traces", "otlp", source, dict(forged)), world)
        }:
            failures.append("forger reached research")
    policies = [policy]
    operator = model.operator_network_policy(
        collector, build.COLLECTOR_POD_LABELS, [*namespaces.TELEMETRY_PORTS, *namespaces.TELEMETRY_GATEWAY_PORTS]
    )
    if operator is not None:
        policies.append(operator)
    tenant_ns = world.namespace_labels[spec.team("payments").namespace]
    for port in namespaces.TELEMETRY_GATEWAY_PORTS:
        if model.reaches(policies, build.COLLECTOR_POD_LABELS, tenant_ns, port):
            failures.append(f"a tenant namespace reaches {port}")
    return failures


def test_isolation_tests_kill_the_mutants() -> None:
    spec = make_spec("staging")
    config, collector, policy = build.collector_config(spec), build.collector(spec), build.collector_network_policy()
    assert _mutant_results(spec, config, collector, policy) == []

    no_namespace_delete = copy.deepcopy(config)
    no_namespace_delete["processors"]["resource/drop-sender-claims"]["attributes"] = [
        {"pattern": r"^agentplane\.", "action": "delete"}
    ]
    assert "forger reached research" in _mutant_results(spec, no_namespace_delete, collector, policy)

    sender_settable = copy.deepcopy(config)
    for route in sender_settable["connectors"]["routing/traces"]["table"]:
        team = model.condition_terms(route["condition"])[0][2]
        route["condition"] = f'attributes["service.namespace"] == "{team}"'
    assert "forger reached research" in _mutant_results(spec, sender_settable, collector, policy)

    operator_policy = copy.deepcopy(collector)
    del operator_policy["spec"]["networkPolicy"]
    assert _mutant_results(spec, config, operator_policy, policy) == [
        f"a tenant namespace reaches {p}" for p in namespaces.TELEMETRY_GATEWAY_PORTS
    ]
    operator_policy["spec"]["networkPolicy"] = {"enabled": True}
    assert _mutant_results(spec, config, operator_policy, policy)

    open_ports = copy.deepcopy(policy)
    open_ports["spec"]["ingress"][1]["from"] = [{"namespaceSelector": {}}]
    assert _mutant_results(spec, config, collector, open_ports) == [
        f"a tenant namespace reaches {p}" for p in namespaces.TELEMETRY_GATEWAY_PORTS
    ]

    no_auth = copy.deepcopy(config)
    for protocol in no_auth["receivers"]["otlp/gateway"]["protocols"].values():
        del protocol["auth"]
    payer = agent_pod(spec, "payments", "invoice-triage")
    sent = model.Send("traces", "otlp/gateway", payer, {}, {build.TENANT_ATTRIBUTE: "research"})
    assert model.deliver(config, sent, cluster(spec)) == []
    assert model.deliver(no_auth, sent, cluster(spec)), "without the authenticator a pod that reaches the port injects"


def test_receivers_listen_on_the_ports_tenant_network_policies_allow(stack_spec: PlatformSpec) -> None:
    receivers = build.collector_config(stack_spec)["receivers"]
    workload = receivers["otlp"]["protocols"]
    assert (
        int(workload["grpc"]["endpoint"].rsplit(":", 1)[1]),
        int(workload["http"]["endpoint"].rsplit(":", 1)[1]),
    ) == namespaces.TELEMETRY_PORTS
    gateway = receivers["otlp/gateway"]["protocols"]
    assert (
        int(gateway["grpc"]["endpoint"].rsplit(":", 1)[1]),
        int(gateway["http"]["endpoint"].rsplit(":", 1)[1]),
    ) == namespaces.TELEMETRY_GATEWAY_PORTS
    assert not set(namespaces.TELEMETRY_PORTS) & set(namespaces.TELEMETRY_GATEWAY_PORTS)
    for team in stack_spec.teams:
        endpoint = build.instrumentation(team, stack_spec)["spec"]["exporter"]["endpoint"]
        allowed = [
            rule
            for policy in tenant_build.network_policies(team)
            for rule in policy["spec"].get("egress", [])
            if rule["to"][0].get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            == namespaces.TELEMETRY
        ]
        ports = {p["port"] for rule in allowed for p in rule["ports"]}
        assert int(endpoint.rsplit(":", 1)[1]) in ports
        assert endpoint.split("//")[1].startswith(f"{build.COLLECTOR_SERVICE}.{namespaces.TELEMETRY}.svc:")


def test_only_the_gateway_namespace_reaches_the_gateway_ports() -> None:
    """Our policy is the only one: the operator's is switched off, and the gateway ports admit
    the gateway namespace alone (with the gateway's token on top)."""
    spec = make_spec("prod")
    collector = build.collector(spec)
    assert collector["spec"]["networkPolicy"] == {"enabled": False}
    ports = [*namespaces.TELEMETRY_PORTS, *namespaces.TELEMETRY_GATEWAY_PORTS]
    assert model.operator_network_policy(collector, build.COLLECTOR_POD_LABELS, ports) is None
    policies = [build.collector_network_policy()]
    world = cluster(spec)
    tenant = world.namespace_labels[spec.teams[0].namespace]
    gateway = world.namespace_labels[namespaces.GATEWAY]
    for port in namespaces.TELEMETRY_GATEWAY_PORTS:
        assert model.reaches(policies, build.COLLECTOR_POD_LABELS, gateway, port)
        assert not model.reaches(policies, build.COLLECTOR_POD_LABELS, tenant, port)
    for port in namespaces.TELEMETRY_PORTS:
        assert model.reaches(policies, build.COLLECTOR_POD_LABELS, tenant, port)
    assert validate_objects([*policies, *build.collector_rbac()]) == []


def test_k8s_attributes_can_read_what_it_extracts() -> None:
    _, role, binding = build.collector_rbac()
    granted = {
        (group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        if {"get", "watch", "list"} <= set(rule["verbs"])
    }
    assert {("", "pods"), ("", "namespaces"), ("apps", "replicasets")} <= granted
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": build.SERVICE_ACCOUNT, "namespace": build.NAMESPACE}
    ]
    assert build.collector(make_spec("dev"))["spec"]["serviceAccount"] == build.SERVICE_ACCOUNT


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_collector_attributes_records_only_once_it_knows_the_pods(stack) -> None:
    """Without `wait_for_metadata`, k8s_attributes starts before its pod cache has synced
    (open-telemetry/opentelemetry-collector-contrib@v0.158.0:processor/k8sattributesprocessor/processor.go,
    Start): right after every rollout (each onboarding rolls the collector) a team's records
    match no pod, carry no tenant and are lost to the team (they go to the platform pipeline)."""
    config = build.collector(make_spec(stack))["spec"]["config"]
    attributes = config["processors"]["k8s_attributes"]
    assert attributes["wait_for_metadata"] is True
    timeout = attributes["wait_for_metadata_timeout"]
    assert re.fullmatch(r"[0-9]+s", timeout) and int(timeout[:-1]) > 0


def test_operator_values_match_the_chart_and_pin_its_collector_version() -> None:
    spec = make_spec("dev")
    values = build.operator_values(spec)
    chart = spec.env.telemetry.chart
    assert validate_chart_values(chart.chart, chart.version, values) == []
    app_version = yaml.safe_load(
        (upstream_dir() / "charts" / f"{chart.chart}-{chart.version}" / "Chart.yaml").read_text()
    )["appVersion"]
    image = values["manager"]["collectorImage"]
    # The operator is tested with the collector of its own version; contrib has the routing connector.
    # The tag carries the digest: the chart renders `repository:tag`, so that is `…:<version>@sha256:…`.
    version, _, digest = image["tag"].partition("@")
    assert version == app_version
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert image["repository"].endswith("/opentelemetry-collector-contrib")


def test_the_operator_webhooks_ca_bundle_is_in_place_when_its_release_is() -> None:
    """No race with cert-manager's cainjector: with certManager disabled and autoGenerateCert
    enabled the chart renders the CA bundle into the webhook configurations and the CRDs'
    conversion webhooks in the release itself (open-telemetry/opentelemetry-helm-charts@
    opentelemetry-operator-0.122.0: templates/admission-webhooks/operator-webhook.yaml, its
    `if and .Values.admissionWebhooks.create (not .Values.admissionWebhooks.certManager.enabled)`
    branch and `caBundle: {{ $caCertEnc }}`; templates/_helpers.tpl `WebhookCert`)."""
    webhooks = build.operator_values(make_spec("dev"))["admissionWebhooks"]
    assert webhooks["certManager"] == {"enabled": False}
    # `recreate: false` keeps the Secret across upgrades (the helper looks it up), so an upgrade
    # never swaps the CA bundle before the pods mount the matching certificate.
    assert webhooks["autoGenerateCert"] == {"enabled": True, "recreate": False, "certPeriodDays": 3650}
    chart_defaults = yaml.safe_load(
        (upstream_dir() / "charts" / "opentelemetry-operator-0.122.0" / "values.yaml").read_text()
    )
    assert chart_defaults["admissionWebhooks"]["create"] is True and "create" not in webhooks


def test_instrumentation_and_collector_validate_against_the_pinned_crds(stack_spec: PlatformSpec) -> None:
    objects = [build.collector(stack_spec), *(build.instrumentation(t, stack_spec) for t in stack_spec.teams)]
    assert validate_objects(objects) == []


def test_instrumentation_points_at_the_collector_and_claims_no_tenant_agent_or_tier(stack_spec: PlatformSpec) -> None:
    for team in stack_spec.teams:
        obj = build.instrumentation(team, stack_spec)
        assert obj["metadata"]["namespace"] == team.namespace
        spec = obj["spec"]
        assert spec["exporter"]["endpoint"] == build.WORKLOAD_OTLP_HTTP_ENDPOINT
        assert spec["propagators"] == ["tracecontext", "baggage"]
        # The team's tier is not its agents' tier: tenant, agent and tier come from labels only.
        assert "resource" not in spec
        context = spec["initContainerSecurityContext"]
        # Pod Security `restricted` for the injected init containers.
        assert context["runAsNonRoot"] and context["runAsUser"] != 0 and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]} and context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_sampler_follows_the_environment() -> None:
    prod = make_spec("prod")
    sampler = build.instrumentation(prod.teams[0], prod)["spec"]["sampler"]
    assert sampler == {"type": "parentbased_traceidratio", "argument": repr(prod.env.telemetry.sampler.ratio)}
    assert prod.env.telemetry.sampler.ratio != TelemetryConfig().sampler.ratio  # prod sets its own
    always = make_spec("dev", telemetry={"sampler": {"type": "parentbased_always_on"}})
    assert build.instrumentation(always.teams[0], always)["spec"]["sampler"] == {"type": "parentbased_always_on"}


def test_annotations_for_tenant_namespaces_and_opted_out_agents() -> None:
    spec = make_spec("dev")
    assert build.namespace_annotations() == {
        "instrumentation.opentelemetry.io/inject-python": build.INSTRUMENTATION_NAME
    }
    assert build.opt_out_annotations() == {"instrumentation.opentelemetry.io/inject-python": "false"}
    support = spec.team("support")
    opted_out = build.opted_out_agents(support)
    assert opted_out == tuple(a.name for a in support.agents if not a.instrumentation)
    assert opted_out, "support's kb-answerer opts out in the example team file"
    assert build.opted_out_agents(spec.team("payments")) == ()


# --- exporters: the team's own backend or the default backend with a tenant header --------------


def test_team_endpoint_from_its_team_file_is_used() -> None:
    spec = make_spec("staging")
    config = build.collector_config(spec)
    support_file = yaml.safe_load((TEAMS_DIR / "support.yaml").read_text())
    own = config["exporters"][exporter_of(config, build.tenant_pipeline("traces", "support"))]
    assert own["endpoint"] == support_file["telemetry"]["endpoint"]
    assert "X-Scope-OrgID" not in own.get("headers", {}), "a team's own backend gets no platform tenant header"
    # Teams without one share the default backend, each under its own tenant ID.
    default = spec.env.telemetry.default_backend
    for team in ("payments", "research"):
        exporter = config["exporters"][exporter_of(config, build.tenant_pipeline("traces", team))]
        assert exporter["endpoint"] == default.endpoint
        assert exporter["headers"] == {default.tenant_header: team}
    platform = config["exporters"][exporter_of(config, build.platform_pipeline("traces"))]
    assert platform["headers"] == {default.tenant_header: build.PLATFORM_TENANT_ID}


def test_grpc_team_endpoint_gets_the_grpc_exporter() -> None:
    # In-cluster endpoints only in the team's own namespace (tracers.svc), never another's.
    spec = make_spec(
        "dev",
        add={
            "tracers": team_doc("tracers", telemetry={"endpoint": "http://tempo.tracers.svc:4317", "protocol": "grpc"})
        },
    )
    config = build.collector_config(spec)
    exporter_id = exporter_of(config, build.tenant_pipeline("metrics", "tracers"))
    assert exporter_id == "otlp_grpc/tenant-tracers"
    settings = config["exporters"][exporter_id]
    assert {k: settings[k] for k in ("endpoint", "tls")} == {
        "endpoint": "http://tempo.tracers.svc:4317",
        "tls": {"insecure": True},
    }
    assert settings["sending_queue"]["storage"] == build.QUEUE_STORAGE
    assert structure_problems(config) == []


def test_without_a_default_backend_nothing_leaves_the_cluster() -> None:
    spec = make_spec("dev")
    assert spec.env.telemetry.default_backend is None
    config = build.collector_config(spec)
    for team in ("payments", "research"):
        exporter_id = exporter_of(config, build.tenant_pipeline("logs", team))
        assert exporter_id == f"debug/tenant-{team}"
        assert config["exporters"][exporter_id] == {"verbosity": "basic"}  # counts only, no payloads
    assert exporter_of(config, build.platform_pipeline("logs")) == "debug/platform"


def test_without_teams_everything_goes_to_the_platform_exporter() -> None:
    spec = make_spec("dev", only=())
    config = build.collector_config(spec)
    assert not [c for c in config["connectors"] if c.startswith("routing/")]  # a routing table may not be empty
    assert structure_problems(config) == []
    for signal in build.SIGNALS:
        assert config["service"]["pipelines"][f"{signal}/workloads"]["exporters"] == ["debug/platform"]
    assert validate_objects([build.collector(spec)]) == []


def test_header_values_come_from_secret_files_never_the_config() -> None:
    telemetry = {
        "defaultBackend": {"endpoint": "https://otlp.example.com", "headers": {"Authorization": {"secure": "v1:AAAA"}}},
        "tenantHeaders": {"billing": {"otlp-token": {"secure": "v1:BBBB"}}},
    }
    spec = make_spec(
        "dev",
        telemetry=telemetry,
        add={
            "billing": team_doc(
                "billing",
                telemetry={"endpoint": "https://otlp.billing.example.com", "headers": {"X-Api-Key": "otlp-token"}},
            )
        },
    )
    config = build.collector_config(spec)
    billing = config["exporters"][exporter_of(config, build.tenant_pipeline("traces", "billing"))]
    assert billing["headers"] == {
        "X-Api-Key": "${file:/etc/agentplane/otlp-headers/tenant-billing-otlp-headers/x-api-key}"
    }
    payments = config["exporters"][exporter_of(config, build.tenant_pipeline("traces", "payments"))]
    assert payments["headers"] == {
        "Authorization": "${file:/etc/agentplane/otlp-headers/platform-otlp-headers/authorization}",
        "X-Scope-OrgID": "payments",
    }
    collector = build.collector(spec)["spec"]
    mounts = {m["name"]: m["mountPath"] for m in collector["volumeMounts"]}
    assert mounts == {
        "platform-otlp-headers": "/etc/agentplane/otlp-headers/platform-otlp-headers",
        "tenant-billing-otlp-headers": "/etc/agentplane/otlp-headers/tenant-billing-otlp-headers",
        build.GATEWAY_TOKEN_SECRET: build.GATEWAY_TOKEN_MOUNT,
        build.QUEUE_VOLUME: build.QUEUE_DIRECTORY,
    }
    assert {v["secret"]["secretName"] for v in collector["volumes"]} == set(mounts) - {build.QUEUE_VOLUME}
    assert [t["metadata"]["name"] for t in collector["volumeClaimTemplates"]] == [build.QUEUE_VOLUME]
    secret = build.tenant_headers_secret(spec.team("billing"), spec)
    assert secret["metadata"] == {
        "name": "tenant-billing-otlp-headers",
        "namespace": build.NAMESPACE,
        "labels": {"app.kubernetes.io/managed-by": "agentplane", LABEL_TENANT: "billing"},
    }
    assert secret["stringData"] == {"x-api-key": SECRET_STAND_IN}  # encrypted in the file: the plan's stand-in
    assert build.tenant_headers_secret(spec.team("payments"), spec) is None
    assert validate_objects([build.collector(spec), secret, build.platform_headers_secret(spec)]) == []
    # `plan` warns that it cannot read them; `pulumi up` fails without them.
    assert any("tenantHeaders.billing.otlp-token" in w for w in spec.warnings)
    assert any("defaultBackend.headers.Authorization" in w for w in spec.warnings)


def _own_header_reference(spec: PlatformSpec, exporter: str, header: str) -> str:
    """The only reference an exporter's header may hold: its own destination's header Secret
    (a team with its own backend: the team's; otherwise the default backend's)."""
    secret = build.platform_headers_secret_name()
    teams = [t for t in spec.teams if exporter.endswith(f"/tenant-{t.name}")]
    if teams and teams[0].telemetry is not None:
        secret = build.tenant_headers_secret_name(teams[0])
    return f"${{file:{build.HEADERS_MOUNT}/{secret}/{build._secret_file_name(header)}}}"


def test_the_collector_expands_nothing_but_each_destinations_own_header_files(stack_spec: PlatformSpec) -> None:
    # confmap expands `${scheme:...}` anywhere in a string: one in a team's endpoint would read
    # the gateway token or another team's credentials into the URL the collector sends to.
    telemetry = {
        "defaultBackend": {"endpoint": "https://otlp.example.com", "headers": {"Authorization": {"secure": "v1:AAAA"}}},
        "tenantHeaders": {"billing": {"otlp-token": {"secure": "v1:BBBB"}}},
    }
    rich = make_spec(
        "dev",
        telemetry=telemetry,
        add={
            "billing": team_doc(
                "billing",
                telemetry={"endpoint": "https://otlp.billing.example.com/v1", "headers": {"X-Api-Key": "otlp-token"}},
            )
        },
    )
    for spec in (stack_spec, rich):
        config = build.collector_config(spec)
        found = model.references(config)
        for where, value in found:
            section, exporter, field, header = where.split(".", 3)
            assert (section, field) == ("exporters", "headers"), where
            assert value == _own_header_reference(spec, exporter, header), (where, value)
    # the platform's, and each team's: its own headers, or the default backend's Authorization
    expected = 1 + sum(len(t.telemetry.headers) if t.telemetry is not None else 1 for t in rich.teams)
    assert len(model.references(build.collector_config(rich))) == expected >= 3


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.example.com/${file:/etc/agentplane/gateway-token/token}",
        "https://evil.example.com/v1/${env:HOSTNAME}",
        "https://evil.example.com/$${file:/x}",
    ],
)
def test_a_team_endpoint_cannot_carry_a_config_reference(endpoint: str) -> None:
    errors = config_errors(add={"billing": team_doc("billing", telemetry={"endpoint": endpoint})})
    assert [(file, field) for file, field, message in errors if "'$'" in message] == [
        ("stacks/teams/billing.yaml", "telemetry.endpoint")
    ], errors
    errors = config_errors(telemetry={"defaultBackend": {"endpoint": endpoint}})
    assert [(file, field) for file, field, message in errors if "'$'" in message] == [
        ("stacks/Pulumi.dev.yaml", "agentplane:telemetry.defaultBackend.endpoint")
    ], errors


def test_decrypted_header_values_land_only_in_the_secret() -> None:
    # Under `pulumi up` the engine hands the program decrypted (plain) values.
    env = _stack_env("dev") | {"telemetry": {"tenantHeaders": {"billing": {"otlp-token": "s3cr3t-value"}}}}
    docs, _ = read_team_documents(TEAMS_DIR)
    docs.append(
        (
            Path("stacks/teams/billing.yaml"),
            team_doc(
                "billing",
                telemetry={"endpoint": "https://otlp.billing.example.com", "headers": {"Authorization": "otlp-token"}},
            ),
        )
    )
    spec = build_spec("dev", env, "stacks/Pulumi.dev.yaml", docs, STACK_NAMES, source="engine")
    assert build.tenant_headers_secret(spec.team("billing"), spec)["stringData"] == {"authorization": "s3cr3t-value"}
    assert "s3cr3t-value" not in yaml.safe_dump(build.collector(spec))
    assert not any("billing" in w for w in spec.warnings)


# --- configuration errors name the field ------------------------------------------------------


@pytest.mark.parametrize(
    ("telemetry", "field", "message"),
    [
        ({"endpoint": "otlp.example.com:4318"}, "telemetry.endpoint", "not an endpoint URL"),
        ({"endpoint": "ftp://otlp.example.com"}, "telemetry.endpoint", "not an endpoint URL"),
        # Team files never hold '@', '?', spaces or '$' (config/untrusted.py): refused without echo.
        ({"endpoint": "https://user:pw@otlp.example.com"}, "telemetry.endpoint", "contains '@'"),
        ({"endpoint": "https://otlp.example.com/?api_key=abc"}, "telemetry.endpoint", "contains '?'"),
        ({"endpoint": "http://tempo.observability.svc:4318"}, "telemetry.endpoint", "outside the team's own namespace"),
        ({"endpoint": "https://otlp.example.com", "protocol": "thrift"}, "telemetry.protocol", "'grpc' or 'http'"),
        ({"endpoint": "https://otlp.example.com", "protocol": "grpc"}, "telemetry.endpoint", "explicit port"),
        (
            {"endpoint": "https://otlp.example.com", "headers": {"Authorization": "Bearer abc123"}},
            "telemetry.headers.Authorization",
            "whitespace",
        ),
        (
            {"endpoint": "https://otlp.example.com", "headers": {"Authorization": "abc_123"}},
            "telemetry.headers.Authorization",
            "pulumi config set --secret",
        ),
        (
            {"endpoint": "http://otlp.example.com", "headers": {"Authorization": "token"}},
            "telemetry.headers",
            "https://",
        ),
        (
            {"endpoint": "https://otlp.example.com", "headers": {"Bad Header": "token"}},
            "telemetry.headers.<key 1>",
            "whitespace",
        ),
        (
            {"endpoint": "https://otlp.example.com", "headers": {"Bad_Header": "token"}},
            "telemetry.headers.Bad_Header.[key]",
            "not an HTTP header name",
        ),
        (
            {"endpoint": "https://otlp.example.com", "headers": {"Authorization": "missing-key"}},
            "telemetry.headers.Authorization",
            "agentplane:telemetry.tenantHeaders.billing.missing-key",
        ),
        (
            {"endpoint": "https://otlp.example.com", "token": "x"},
            "telemetry.token",
            "unknown field (allowed here: endpoint, headers, protocol)",
        ),
        ({}, "telemetry.endpoint", "required field is missing"),
    ],
)
def test_bad_team_telemetry_is_a_clear_error(telemetry: dict, field: str, message: str) -> None:
    errors = config_errors(add={"billing": team_doc("billing", telemetry=telemetry)})
    assert any(file == "stacks/teams/billing.yaml" and f == field and message in m for file, f, m in errors), errors


@pytest.mark.parametrize(
    ("telemetry", "field", "message"),
    [
        (
            {"defaultBackend": {"endpoint": "not a url"}},
            "agentplane:telemetry.defaultBackend.endpoint",
            "not an endpoint URL",
        ),
        (
            {"defaultBackend": {"endpoint": "https://otlp.example.com", "headers": {"Authorization": "plain"}}},
            "agentplane:telemetry.defaultBackend.headers.Authorization",
            "plain text",
        ),
        (
            {"defaultBackend": {"endpoint": "https://o.example.com", "headers": {"X-Scope-OrgID": {"secure": "v1:x"}}}},
            "agentplane:telemetry.defaultBackend",
            "tenant header",
        ),
        (
            {"tenantHeaders": {"billing": {"otlp-token": "plain"}}},
            "agentplane:telemetry.tenantHeaders.billing.otlp-token",
            "plain text",
        ),
        ({"tenantHeaders": {"Billing": {}}}, "agentplane:telemetry.tenantHeaders.Billing.[key]", "is not a name"),
        ({"collector": {"replicas": 0}}, "agentplane:telemetry.collector.replicas", "greater than or equal to 1"),
        (
            {"sampler": {"type": "parentbased_traceidratio", "ratio": 1.5}},
            "agentplane:telemetry.sampler.ratio",
            "less than or equal to 1",
        ),
        ({"sampler": {"type": "sometimes"}}, "agentplane:telemetry.sampler.type", "parentbased_traceidratio"),
        (
            {"collectorImage": {"repository": "ghcr.io/x/y", "tag": "latest please"}},
            "agentplane:telemetry.collectorImage.tag",
            "pattern",
        ),
        (
            {"collectorImage": {"repository": "ghcr.io/x/y", "tag": "0.158.0@sha256:c5918f78"}},
            "agentplane:telemetry.collectorImage.tag",
            "pattern",
        ),
    ],
)
def test_bad_environment_telemetry_is_a_clear_error(telemetry: dict, field: str, message: str) -> None:
    errors = config_errors(telemetry=telemetry)
    assert any(file == "stacks/Pulumi.dev.yaml" and f == field and message in m for file, f, m in errors), errors


def test_a_team_cannot_use_another_teams_header_secret() -> None:
    telemetry = {"tenantHeaders": {"payments": {"otlp-token": {"secure": "v1:AAAA"}}}}
    errors = config_errors(
        telemetry=telemetry,
        add={
            "billing": team_doc(
                "billing",
                telemetry={"endpoint": "https://evil.example.com", "headers": {"Authorization": "otlp-token"}},
            )
        },
    )
    assert [(f, "no secret 'otlp-token' for team 'billing'" in m) for _, f, m in errors] == [
        ("telemetry.headers.Authorization", True)
    ]


def test_team_telemetry_model_defaults() -> None:
    own = TeamTelemetryConfig.model_validate({"endpoint": "https://otlp.example.com"})
    assert (own.protocol, own.headers) == ("http", {})
    assert TelemetryConfig().default_backend is None


# --- durability: persistent, bounded queues; the collector's own health --------------------------


def test_every_backend_destination_has_a_persistent_bounded_queue_and_retries(stack_spec: PlatformSpec) -> None:
    config = build.collector_config(stack_spec)
    queue = stack_spec.env.telemetry.collector.queue
    otlp = [name for name in config["exporters"] if model.kind(name) in ("otlp_grpc", "otlp_http")]
    if stack_spec.env.telemetry.default_backend is None:
        assert len(otlp) == len([t for t in stack_spec.teams if t.telemetry is not None])
    assert otlp, "the example stacks send somewhere"
    assert build.queued_exporters(config) == sorted(otlp)
    storage = config["extensions"][build.QUEUE_STORAGE]
    for name in otlp:
        settings = config["exporters"][name]
        sending = settings["sending_queue"]
        assert sending["enabled"] is True and sending["storage"] == build.QUEUE_STORAGE
        # Bounded in bytes, refusing (not blocking) when full; the persistent queue needs no wait_for_result.
        assert (sending["sizer"], sending["queue_size"]) == ("bytes", queue.per_destination_bytes)
        assert not sending.get("block_on_overflow") and not sending.get("wait_for_result")
        retry = settings["retry_on_failure"]
        assert retry["enabled"] is True and retry["max_elapsed_time"] == "0s"
    assert storage["directory"] == build.QUEUE_DIRECTORY
    assert storage["max_size"] == build.queue_file_cap(stack_spec) > queue.per_destination_bytes
    collector = build.collector(stack_spec)["spec"]
    assert collector["mode"] == "statefulset"
    (claim,) = collector["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == queue.volume_size
    assert {"name": build.QUEUE_VOLUME, "mountPath": build.QUEUE_DIRECTORY} in collector["volumeMounts"]
    # The volume holds every destination's queue file at its cap, and one compaction copy.
    assert (len(otlp) + 1) * storage["max_size"] <= queue.volume_bytes
    # The image's user can write it (opentelemetry-collector-releases@v0.158.0 otelcol-contrib Dockerfile: 10001).
    assert collector["podSecurityContext"]["fsGroup"] == build.COLLECTOR_UID


def test_one_destination_holds_a_bounded_number_of_bytes_in_memory(stack_spec: PlatformSpec) -> None:
    # exporterhelper@v0.158.0 queuebatch/queue_batch.go: with batching, one queue consumer feeds
    # a batcher exporting with `num_consumers` workers (default 10, internal/queue_sender.go):
    # at most workers + 1 batches are in memory per destination. Counted in items, a batch has
    # no byte bound, and a team with large records and a slow backend of its own would fill the
    # collector's memory, so the shared memory_limiter refuses every team's data.
    config = build.collector_config(stack_spec)
    limit = parse_quantity(stack_spec.env.telemetry.collector.resources.limits.memory)
    queued = build.queued_exporters(config)
    assert queued
    for name in queued:
        sending = config["exporters"][name]["sending_queue"]
        batch = sending["batch"]
        assert batch["sizer"] == "bytes" and batch["max_size"] > 0, name
        in_memory = (sending.get("num_consumers", 10) + 1) * batch["max_size"]
        assert in_memory <= min(32 * 2**20, limit // 16), (name, in_memory)


def test_a_queue_volume_too_small_for_the_destinations_is_a_clear_error() -> None:
    teams = {f"team{i}": team_doc(f"team{i}", telemetry={"endpoint": f"https://otlp{i}.example.com"}) for i in range(6)}
    errors = config_errors(
        telemetry={"collector": {"queue": {"volumeSize": "1Gi", "perDestination": "256Mi"}}}, add=teams
    )
    assert errors == [
        (
            "stacks/Pulumi.dev.yaml",
            "agentplane:telemetry.collector.queue",
            "7 telemetry destinations, plus one compaction copy, x perDestination 256Mi (x1.5 queue-file "
            "headroom) need 3072Mi, more than volumeSize 1Gi; raise volumeSize or lower perDestination",
        )
    ]
    # One team fewer with its own backend and a bigger volume: accepted.
    spec = make_spec(
        "dev", telemetry={"collector": {"queue": {"volumeSize": "3Gi", "perDestination": "256Mi"}}}, add=teams
    )
    assert len(build.queued_exporters(build.collector_config(spec))) == 7


@pytest.mark.parametrize("per_destination", ["1Mi", "32Mi", "66Mi", "256Mi"])
def test_the_collector_accepts_its_queue_storage_at_any_allowed_size(per_destination: str) -> None:
    # file_storage refuses rebound thresholds above max_size (default 100 MiB): a small
    # perDestination must not leave the collector unable to start.
    spec = make_spec(
        "dev", telemetry={"collector": {"queue": {"volumeSize": "16Gi", "perDestination": per_destination}}}
    )
    config = build.collector_config(spec)
    assert structure_problems(config) == []
    compaction = config["extensions"][build.QUEUE_STORAGE]["compaction"]
    assert (
        compaction["on_rebound"] is True
        and compaction["rebound_needed_threshold_mib"] >= compaction["rebound_trigger_threshold_mib"] >= 1
    )


def test_the_queue_volume_holds_one_compaction_copy_beyond_every_queue_file() -> None:
    # filestorage client.go Compact writes a full copy of a queue file into the same directory.
    teams = {f"team{i}": team_doc(f"team{i}", telemetry={"endpoint": f"https://otlp{i}.example.com"}) for i in range(3)}
    roomy = make_spec(
        "dev", telemetry={"collector": {"queue": {"volumeSize": "64Gi", "perDestination": "256Mi"}}}, add=teams
    )
    destinations = len(build.queued_exporters(build.collector_config(roomy)))
    assert destinations >= 3
    every_file = destinations * 384  # 256Mi x 1.5 each
    errors = config_errors(
        telemetry={"collector": {"queue": {"volumeSize": f"{every_file}Mi", "perDestination": "256Mi"}}}, add=teams
    )
    assert [f for _, f, m in errors if "compaction copy" in m] == ["agentplane:telemetry.collector.queue"], errors
    make_spec(
        "dev",
        telemetry={"collector": {"queue": {"volumeSize": f"{every_file + 384}Mi", "perDestination": "256Mi"}}},
        add=teams,
    )


def test_the_stack_check_counts_the_destinations_the_builder_queues(stack_spec: PlatformSpec) -> None:
    config = build.collector_config(stack_spec)
    counted = queue_destinations(stack_spec.env, [team.telemetry is not None for team in stack_spec.teams])
    assert counted == len(build.queued_exporters(config))


@pytest.mark.parametrize(
    ("queue", "message"),
    [
        ({"perDestination": "16Gi", "volumeSize": "8Gi"}, "larger than volumeSize"),
        ({"perDestination": "100Ki"}, "at least 1Mi"),
        ({"volumeSize": "lots"}, "not a Kubernetes quantity"),
        ({"storageClass": "Fast SSD"}, "pattern"),
        ({"maxLoss": "0"}, "unknown field"),
    ],
)
def test_bad_queue_settings_are_clear_errors(queue: dict, message: str) -> None:
    errors = config_errors(telemetry={"collector": {"queue": queue}})
    assert any(f.startswith("agentplane:telemetry.collector.queue") and message in m for _, f, m in errors), errors


def test_the_collectors_own_health_and_drop_counts_go_to_the_platform_only(stack_spec: PlatformSpec) -> None:
    config = build.collector_config(stack_spec)
    pipeline = config["service"]["pipelines"][build.SELF_METRICS_PIPELINE]
    assert pipeline["receivers"] == [build.SELF_METRICS_RECEIVER]
    assert pipeline["exporters"] == [exporter_of(config, build.platform_pipeline("metrics"))]
    (scrape,) = config["receivers"][build.SELF_METRICS_RECEIVER]["config"]["scrape_configs"]
    # The operator's default telemetry reader serves the collector's metrics on :8888
    # (open-telemetry/opentelemetry-operator@v0.158.0:internal/otelconfig/config.go ServiceApplyDefaults).
    assert scrape["static_configs"] == [{"targets": ["127.0.0.1:8888"]}]
    assert "telemetry" not in config["service"], "an explicit reader would replace the operator's default"
    # Nothing a team sends reaches this pipeline, and it reaches no team.
    assert not any(
        build.SELF_METRICS_RECEIVER in p["receivers"]
        for name, p in config["service"]["pipelines"].items()
        if name != build.SELF_METRICS_PIPELINE
    )
