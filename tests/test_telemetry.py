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
from agentplane.errors import ConfigError
from agentplane.spec.base import SECRET_STAND_IN
from agentplane.spec.load import build_spec, env_config_from_stack_document, read_team_documents
from agentplane.spec.platform import LABEL_TENANT, PlatformSpec
from agentplane.spec.sections.telemetry import TeamTelemetry, TelemetryConfig
from tests.support.plans import ROOT, STACKS
from tests.support.upstream import upstream_dir, validate_chart_values, validate_objects

TEAMS_DIR = ROOT / "stacks" / "teams"
STACK_NAMES = set(STACKS)


def _stack_env(stack: str) -> dict[str, Any]:
    path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    return env_config_from_stack_document(yaml.safe_load(path.read_text()), str(path))


def make_spec(stack: str = "dev", *, telemetry: dict | None = None, add: dict[str, dict] | None = None, only: tuple[str, ...] | None = None) -> PlatformSpec:
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


def config_errors(stack: str = "dev", *, telemetry: dict | None = None, add: dict[str, dict] | None = None) -> list[tuple[str, str, str]]:
    with pytest.raises(ConfigError) as caught:
        make_spec(stack, telemetry=telemetry, add=add)
    return [(i.file, i.field, i.message) for i in caught.value.issues]


def team_doc(name: str, **extra: Any) -> dict:
    return {"name": name, "owners": [f"{name}-admins"], "environments": {"dev": {"tier": "standard"}}, "agents": [{"name": "bot"}], **extra}


# --- static structure of the collector config -------------------------------------------------


def _kind(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def structure_problems(config: dict) -> list[str]:
    """What the collector would reject at start-up, or what would leave a component idle."""
    problems = []
    pipelines = config["service"]["pipelines"]
    defined = {section: set(config.get(section, {})) for section in ("receivers", "processors", "exporters", "connectors", "extensions")}
    used: dict[str, set[str]] = {section: set() for section in defined}
    connector_in: dict[str, set[str]] = {}
    connector_out: dict[str, set[str]] = {}
    for name, pipeline in pipelines.items():
        signal = name.split("/")[0]
        if signal not in build.SIGNALS:
            problems.append(f"pipeline {name}: unknown signal {signal}")
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            problems.append(f"pipeline {name}: needs receivers and exporters")
        for receiver in pipeline.get("receivers", []):
            if receiver in defined["connectors"]:
                used["connectors"].add(receiver)
                connector_out.setdefault(receiver, set()).add(name)
            elif receiver in defined["receivers"]:
                used["receivers"].add(receiver)
            else:
                problems.append(f"pipeline {name}: receiver {receiver} is not defined")
        for processor in pipeline.get("processors", []):
            if processor in defined["processors"]:
                used["processors"].add(processor)
            else:
                problems.append(f"pipeline {name}: processor {processor} is not defined")
        for exporter in pipeline.get("exporters", []):
            if exporter in defined["connectors"]:
                used["connectors"].add(exporter)
                connector_in.setdefault(exporter, set()).add(name)
            elif exporter in defined["exporters"]:
                used["exporters"].add(exporter)
            else:
                problems.append(f"pipeline {name}: exporter {exporter} is not defined")
    for extension in config["service"].get("extensions", []):
        if extension not in defined["extensions"]:
            problems.append(f"extension {extension} is not defined")
        used["extensions"].add(extension)
    for section, names in defined.items():
        for unused in sorted(names - used[section]):
            problems.append(f"{section} {unused} is defined but no pipeline uses it")
    for connector, settings in config.get("connectors", {}).items():
        if not connector_in.get(connector) or not connector_out.get(connector):
            problems.append(f"connector {connector} must both receive from and feed pipelines")
            continue
        signals = {p.split("/")[0] for p in connector_in[connector] | connector_out[connector]}
        if len(signals) != 1:
            problems.append(f"connector {connector} spans signals {sorted(signals)}; routing needs one per signal")
        if _kind(connector) == "routing":
            targets = list(settings.get("default_pipelines", []))
            if not settings.get("table"):
                problems.append(f"connector {connector}: an empty routing table is rejected by the collector")
            for route in settings.get("table", []):
                if ("condition" in route) == ("statement" in route):
                    problems.append(f"connector {connector}: a route needs exactly one of condition/statement")
                targets += route["pipelines"]
            for target in targets:
                if target not in connector_out[connector]:
                    problems.append(f"connector {connector} routes to {target}, which it does not feed")
    return problems


_CONDITION = re.compile(r'^attributes\["(?P<key>[^"]+)"\] == "(?P<value>[^"]+)"$')


def routes(config: dict, signal: str) -> list[tuple[str, list[str]]]:
    """(tenant, target pipelines) for each route of the signal's router."""
    router = config["connectors"][f"routing/{signal}"]
    out = []
    for route in router["table"]:
        match = _CONDITION.match(route["condition"])
        assert match and match["key"] == build.TENANT_ATTRIBUTE, route
        assert route.get("context", "resource") == "resource", route
        out.append((match["value"], route["pipelines"]))
    return out


def isolation_problems(config: dict, teams: list[str]) -> list[str]:
    """No route or pipeline may carry one tenant's data to another tenant's exporter."""
    problems = []
    pipelines = config["service"]["pipelines"]
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
            problems.append(f"{signal}: unmatched data goes to {router['default_pipelines']}, not the platform pipeline")
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
            owners = {p for p in exporter_users[exporter] if not p.endswith(("/workloads", "/gateway"))}
            expected = {build.tenant_pipeline(s, team) if team else build.platform_pipeline(s) for s in build.SIGNALS}
            if owners - expected:
                problems.append(f"{name}: its exporter {exporter} is also used by {sorted(owners - expected)}")
    return problems


# --- a small interpreter: where does a signal end up? ------------------------------------------


def exporters_reached(config: dict, signal: str, inbound: str, resource: dict[str, str], record: dict[str, str], source_namespace_labels: dict[str, str]) -> set[str]:
    """Push one record (its resource attributes and its own attributes) through `<signal>/<inbound>`.

    Processors are interpreted from their settings (and unknown ones fail the test), so a
    change to the config that breaks isolation changes what this returns."""
    pipelines = config["service"]["pipelines"]
    resource = dict(resource)
    record = dict(record)
    pipeline = pipelines[f"{signal}/{inbound}"]
    for processor in pipeline.get("processors", []):
        settings = config["processors"][processor]
        kind = _kind(processor)
        if kind in ("memory_limiter", "batch"):
            continue
        if kind == "resource":
            for action in settings["attributes"]:
                assert action["action"] == "delete", action
                resource.pop(action["key"], None)
        elif kind == "k8s_attributes":
            assert settings["pod_association"] == [{"sources": [{"from": "connection"}]}], "pods must be found by connection only"
            for rule in settings["extract"]["labels"]:
                if rule["from"] == "namespace" and rule["key"] in source_namespace_labels:
                    resource.setdefault(rule["tag_name"], source_namespace_labels[rule["key"]])  # never overwrites
        elif kind == "groupbyattrs":
            for key in settings["keys"]:
                if key in record:
                    resource[key] = record.pop(key)
        else:
            raise AssertionError(f"the interpreter does not know processor {processor}")
    reached: set[str] = set()
    frontier = list(pipeline["exporters"])
    while frontier:
        target = frontier.pop()
        if target in config.get("connectors", {}):
            router = config["connectors"][target]
            matched = [
                r["pipelines"] for r in router["table"]
                if (m := _CONDITION.match(r["condition"])) and resource.get(m["key"]) == m["value"]
            ]
            for names in matched or [router["default_pipelines"]]:
                for name in names:
                    frontier += pipelines[name]["exporters"]
        else:
            reached.add(target)
    return reached


def exporter_of(config: dict, pipeline: str) -> str:
    (exporter,) = config["service"]["pipelines"][pipeline]["exporters"]
    return exporter


# --- tests: the example stacks ----------------------------------------------------------------


@pytest.fixture(scope="module", params=STACKS)
def stack_spec(request) -> PlatformSpec:
    return make_spec(request.param)


def test_collector_config_is_complete_and_every_component_is_used(stack_spec: PlatformSpec) -> None:
    assert structure_problems(build.collector_config(stack_spec)) == []


def test_every_tenant_has_exactly_one_route_to_its_own_exporter(stack_spec: PlatformSpec) -> None:
    config = build.collector_config(stack_spec)
    teams = [t.name for t in stack_spec.teams]
    assert teams, "the example stacks have teams"
    assert isolation_problems(config, teams) == []


def test_signals_reach_their_own_tenant_and_unknown_ones_the_platform(stack_spec: PlatformSpec) -> None:
    config = build.collector_config(stack_spec)
    teams = [t.name for t in stack_spec.teams]
    for signal in build.SIGNALS:
        platform = {exporter_of(config, build.platform_pipeline(signal))}
        for team in teams:
            own = {exporter_of(config, build.tenant_pipeline(signal, team))}
            other = next(t for t in teams + ["ghost"] if t != team)
            # A workload in the team's namespace that claims to be another tenant is still itself.
            assert exporters_reached(config, signal, "workloads", {build.TENANT_ATTRIBUTE: other}, {}, {LABEL_TENANT: team}) == own
            assert exporters_reached(config, signal, "workloads", {}, {}, {LABEL_TENANT: team}) == own
            # The gateway names the tenant per record; a resource-level claim is ignored.
            assert exporters_reached(config, signal, "gateway", {build.TENANT_ATTRIBUTE: team}, {}, {}) == platform
            assert exporters_reached(config, signal, "gateway", {build.TENANT_ATTRIBUTE: other}, {build.TENANT_ATTRIBUTE: team}, {}) == own
        # No tenant, or a tenant that is not a team: the platform pipeline, never a team's.
        assert exporters_reached(config, signal, "workloads", {build.TENANT_ATTRIBUTE: teams[0]}, {}, {}) == platform
        assert exporters_reached(config, signal, "workloads", {}, {}, {LABEL_TENANT: "ghost"}) == platform
        assert exporters_reached(config, signal, "gateway", {}, {build.TENANT_ATTRIBUTE: "ghost"}, {}) == platform
        assert exporters_reached(config, signal, "gateway", {}, {}, {}) == platform


def test_interpreter_notices_a_leaking_route() -> None:
    """The checks above would fail if a route sent one tenant to another's pipeline."""
    config = build.collector_config(make_spec("dev"))
    leaked = copy.deepcopy(config)
    table = leaked["connectors"]["routing/traces"]["table"]
    table[0]["pipelines"] = table[1]["pipelines"]
    assert isolation_problems(leaked, ["payments", "research", "support"])
    own = {exporter_of(config, build.tenant_pipeline("traces", "payments"))}
    assert exporters_reached(leaked, "traces", "workloads", {}, {}, {LABEL_TENANT: "payments"}) != own
    unstripped = copy.deepcopy(config)
    unstripped["processors"]["resource/strip-tenant"]["attributes"] = [{"key": "unrelated", "action": "delete"}]
    assert exporters_reached(unstripped, "traces", "workloads", {build.TENANT_ATTRIBUTE: "research"}, {}, {LABEL_TENANT: "payments"}) != own


def test_receivers_listen_on_the_ports_tenant_network_policies_allow(stack_spec: PlatformSpec) -> None:
    receivers = build.collector_config(stack_spec)["receivers"]
    workload = receivers["otlp"]["protocols"]
    assert (int(workload["grpc"]["endpoint"].rsplit(":", 1)[1]), int(workload["http"]["endpoint"].rsplit(":", 1)[1])) == namespaces.TELEMETRY_PORTS
    gateway = receivers["otlp/gateway"]["protocols"]
    assert (int(gateway["grpc"]["endpoint"].rsplit(":", 1)[1]), int(gateway["http"]["endpoint"].rsplit(":", 1)[1])) == namespaces.TELEMETRY_GATEWAY_PORTS
    assert not set(namespaces.TELEMETRY_PORTS) & set(namespaces.TELEMETRY_GATEWAY_PORTS)
    for team in stack_spec.teams:
        endpoint = build.instrumentation(team, stack_spec)["spec"]["exporter"]["endpoint"]
        allowed = [
            rule for policy in tenant_build.network_policies(team) for rule in policy["spec"].get("egress", [])
            if rule["to"][0].get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == namespaces.TELEMETRY
        ]
        ports = {p["port"] for rule in allowed for p in rule["ports"]}
        assert int(endpoint.rsplit(":", 1)[1]) in ports
        assert endpoint.split("//")[1].startswith(f"{build.COLLECTOR_SERVICE}.{namespaces.TELEMETRY}.svc:")


def test_collector_ingress_admits_the_gateway_ports_only_from_the_gateway_namespace() -> None:
    policy = build.collector_network_policy()
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == f"{build.NAMESPACE}.{build.COLLECTOR_NAME}"
    by_port = {}
    for rule in policy["spec"]["ingress"]:
        for port in rule["ports"]:
            by_port[port["port"]] = rule["from"]
    for port in namespaces.TELEMETRY_GATEWAY_PORTS:
        assert by_port[port] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespaces.GATEWAY}}}]
    for port in namespaces.TELEMETRY_PORTS:
        assert by_port[port] == [{"namespaceSelector": {}}]
    assert validate_objects([policy, *build.collector_rbac()]) == []


def test_k8s_attributes_can_read_what_it_extracts() -> None:
    _, role, binding = build.collector_rbac()
    granted = {(group, resource) for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"] if {"get", "watch", "list"} <= set(rule["verbs"])}
    assert {("", "pods"), ("", "namespaces"), ("apps", "replicasets")} <= granted
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": build.SERVICE_ACCOUNT, "namespace": build.NAMESPACE}]
    assert build.collector(make_spec("dev"))["spec"]["serviceAccount"] == build.SERVICE_ACCOUNT


def test_operator_values_match_the_chart_and_pin_its_collector_version() -> None:
    spec = make_spec("dev")
    values = build.operator_values(spec, "platform-ca")
    chart = spec.env.telemetry.chart
    assert validate_chart_values(chart.chart, chart.version, values) == []
    app_version = yaml.safe_load((upstream_dir() / "charts" / f"{chart.chart}-{chart.version}" / "Chart.yaml").read_text())["appVersion"]
    image = values["manager"]["collectorImage"]
    # The operator is tested with the collector of its own version; contrib has the routing connector.
    # The tag carries the digest: the chart renders `repository:tag`, so that is `…:<version>@sha256:…`.
    version, _, digest = image["tag"].partition("@")
    assert version == app_version
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert image["repository"].endswith("/opentelemetry-collector-contrib")
    assert values["admissionWebhooks"]["certManager"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "platform-ca"}
    assert values["admissionWebhooks"]["autoGenerateCert"]["enabled"] is False


def test_instrumentation_and_collector_validate_against_the_pinned_crds(stack_spec: PlatformSpec) -> None:
    objects = [build.collector(stack_spec), *(build.instrumentation(t, stack_spec) for t in stack_spec.teams)]
    assert validate_objects(objects) == []


def test_instrumentation_points_at_the_collector_and_tags_the_tenant(stack_spec: PlatformSpec) -> None:
    for team in stack_spec.teams:
        obj = build.instrumentation(team, stack_spec)
        assert obj["metadata"]["namespace"] == team.namespace
        spec = obj["spec"]
        assert spec["exporter"]["endpoint"] == build.WORKLOAD_OTLP_HTTP_ENDPOINT
        assert spec["propagators"] == ["tracecontext", "baggage"]
        assert spec["resource"]["resourceAttributes"] == {build.TENANT_ATTRIBUTE: team.name, build.TIER_ATTRIBUTE: team.tier.name}
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
    assert build.namespace_annotations() == {"instrumentation.opentelemetry.io/inject-python": build.INSTRUMENTATION_NAME}
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
    spec = make_spec("dev", add={"tracers": team_doc("tracers", telemetry={"endpoint": "http://tempo.observability.svc:4317", "protocol": "grpc"})})
    config = build.collector_config(spec)
    exporter_id = exporter_of(config, build.tenant_pipeline("metrics", "tracers"))
    assert exporter_id == "otlp_grpc/tenant-tracers"
    assert config["exporters"][exporter_id] == {"endpoint": "http://tempo.observability.svc:4317", "tls": {"insecure": True}}
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
    assert "connectors" not in config
    assert structure_problems(config) == []
    for signal in build.SIGNALS:
        assert config["service"]["pipelines"][f"{signal}/workloads"]["exporters"] == ["debug/platform"]
    assert validate_objects([build.collector(spec)]) == []


def test_header_values_come_from_secret_files_never_the_config() -> None:
    telemetry = {
        "defaultBackend": {"endpoint": "https://otlp.example.com", "headers": {"Authorization": {"secure": "v1:AAAA"}}},
        "tenantHeaders": {"billing": {"otlp-token": {"secure": "v1:BBBB"}}},
    }
    spec = make_spec("dev", telemetry=telemetry, add={"billing": team_doc("billing", telemetry={"endpoint": "https://otlp.billing.example.com", "headers": {"X-Api-Key": "otlp-token"}})})
    config = build.collector_config(spec)
    billing = config["exporters"][exporter_of(config, build.tenant_pipeline("traces", "billing"))]
    assert billing["headers"] == {"X-Api-Key": "${file:/etc/agentplane/otlp-headers/tenant-billing-otlp-headers/x-api-key}"}
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
    }
    assert {v["secret"]["secretName"] for v in collector["volumes"]} == set(mounts)
    secret = build.tenant_headers_secret(spec.team("billing"), spec)
    assert secret["metadata"] == {"name": "tenant-billing-otlp-headers", "namespace": build.NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "agentplane", LABEL_TENANT: "billing"}}
    assert secret["stringData"] == {"x-api-key": SECRET_STAND_IN}  # encrypted in the file: the plan's stand-in
    assert build.tenant_headers_secret(spec.team("payments"), spec) is None
    assert validate_objects([build.collector(spec), secret, build.platform_headers_secret(spec)]) == []
    # `plan` warns that it cannot read them; `pulumi up` fails without them.
    assert any("tenantHeaders.billing.otlp-token" in w for w in spec.warnings)
    assert any("defaultBackend.headers.Authorization" in w for w in spec.warnings)


def test_decrypted_header_values_land_only_in_the_secret() -> None:
    # Under `pulumi up` the engine hands the program decrypted (plain) values.
    env = _stack_env("dev") | {"telemetry": {"tenantHeaders": {"billing": {"otlp-token": "s3cr3t-value"}}}}
    docs, _ = read_team_documents(TEAMS_DIR)
    docs.append((Path("stacks/teams/billing.yaml"), team_doc("billing", telemetry={"endpoint": "https://otlp.billing.example.com", "headers": {"Authorization": "otlp-token"}})))
    spec = build_spec("dev", env, "stacks/Pulumi.dev.yaml", docs, STACK_NAMES, source="engine")
    assert build.tenant_headers_secret(spec.team("billing"), spec)["stringData"] == {"authorization": "s3cr3t-value"}
    assert "s3cr3t-value" not in yaml.safe_dump(build.collector(spec))
    assert not any("billing" in w for w in spec.warnings)


# --- configuration errors name the field ------------------------------------------------------


@pytest.mark.parametrize(
    ("telemetry", "field", "message"),
    [
        ({"endpoint": "otlp.example.com:4318"}, "telemetry.endpoint", "not an OTLP endpoint URL"),
        ({"endpoint": "ftp://otlp.example.com"}, "telemetry.endpoint", "not an OTLP endpoint URL"),
        ({"endpoint": "https://user:pw@otlp.example.com"}, "telemetry.endpoint", "credentials in the URL"),
        ({"endpoint": "https://otlp.example.com/?api_key=abc"}, "telemetry.endpoint", "query"),
        ({"endpoint": "https://otlp.example.com", "protocol": "thrift"}, "telemetry.protocol", "'grpc' or 'http'"),
        ({"endpoint": "https://otlp.example.com", "protocol": "grpc"}, "telemetry.endpoint", "explicit port"),
        ({"endpoint": "https://otlp.example.com", "headers": {"Authorization": "Bearer abc123"}}, "telemetry.headers.Authorization", "pulumi config set --secret"),
        ({"endpoint": "http://otlp.example.com", "headers": {"Authorization": "token"}}, "telemetry.headers", "https://"),
        ({"endpoint": "https://otlp.example.com", "headers": {"Bad Header": "token"}}, "telemetry.headers.Bad Header.[key]", "not an HTTP header name"),
        ({"endpoint": "https://otlp.example.com", "headers": {"Authorization": "missing-key"}}, "telemetry.headers.Authorization", "agentplane:telemetry.tenantHeaders.billing.missing-key"),
        ({"endpoint": "https://otlp.example.com", "token": "x"}, "telemetry.token", "unknown field (allowed here: endpoint, headers, protocol)"),
        ({}, "telemetry.endpoint", "required field is missing"),
    ],
)
def test_bad_team_telemetry_is_a_clear_error(telemetry: dict, field: str, message: str) -> None:
    errors = config_errors(add={"billing": team_doc("billing", telemetry=telemetry)})
    assert any(file == "stacks/teams/billing.yaml" and f == field and message in m for file, f, m in errors), errors


@pytest.mark.parametrize(
    ("telemetry", "field", "message"),
    [
        ({"defaultBackend": {"endpoint": "not a url"}}, "agentplane:telemetry.defaultBackend.endpoint", "not an OTLP endpoint URL"),
        ({"defaultBackend": {"endpoint": "https://otlp.example.com", "headers": {"Authorization": "plain"}}}, "agentplane:telemetry.defaultBackend.headers.Authorization", "plain text"),
        ({"defaultBackend": {"endpoint": "https://o.example.com", "headers": {"X-Scope-OrgID": {"secure": "v1:x"}}}}, "agentplane:telemetry.defaultBackend", "tenant header"),
        ({"tenantHeaders": {"billing": {"otlp-token": "plain"}}}, "agentplane:telemetry.tenantHeaders.billing.otlp-token", "plain text"),
        ({"tenantHeaders": {"Billing": {}}}, "agentplane:telemetry.tenantHeaders.Billing.[key]", "DNS-1123"),
        ({"collector": {"replicas": 0}}, "agentplane:telemetry.collector.replicas", "greater than or equal to 1"),
        ({"sampler": {"type": "parentbased_traceidratio", "ratio": 1.5}}, "agentplane:telemetry.sampler.ratio", "less than or equal to 1"),
        ({"sampler": {"type": "sometimes"}}, "agentplane:telemetry.sampler.type", "parentbased_traceidratio"),
        ({"collectorImage": {"repository": "ghcr.io/x/y", "tag": "latest please"}}, "agentplane:telemetry.collectorImage.tag", "pattern"),
        ({"collectorImage": {"repository": "ghcr.io/x/y", "tag": "0.158.0@sha256:c5918f78"}}, "agentplane:telemetry.collectorImage.tag", "pattern"),
    ],
)
def test_bad_environment_telemetry_is_a_clear_error(telemetry: dict, field: str, message: str) -> None:
    errors = config_errors(telemetry=telemetry)
    assert any(file == "stacks/Pulumi.dev.yaml" and f == field and message in m for file, f, m in errors), errors


def test_a_team_cannot_use_another_teams_header_secret() -> None:
    telemetry = {"tenantHeaders": {"payments": {"otlp-token": {"secure": "v1:AAAA"}}}}
    errors = config_errors(telemetry=telemetry, add={"billing": team_doc("billing", telemetry={"endpoint": "https://evil.example.com", "headers": {"Authorization": "otlp-token"}})})
    assert [(f, "no secret 'otlp-token' for team 'billing'" in m) for _, f, m in errors] == [("telemetry.headers.Authorization", True)]


def test_team_telemetry_model_defaults() -> None:
    own = TeamTelemetry.model_validate({"endpoint": "https://otlp.example.com"})
    assert (own.protocol, own.headers) == ("http", {})
    assert TelemetryConfig().default_backend is None
