"""What the platform does, seen from inside a team namespace on a real cluster.

Every case sends a real request from a pod in a probe team's namespace, with a token from
Keycloak's client-credentials flow for the probe agent, and asserts what came back (or what
the cluster refused):

- egress through the gateway to a host on the team's list passes, to an unlisted host is refused;
- an agent-to-agent call passes for a caller the callee's `access` lists and is refused for
  one it does not; the callee learns who called, never the caller's token;
- a model the calling agent's tier does not allow is refused with a JSON error naming the
  approved models;
- an agent's tiny daily token budget, spent against a stub model in the cluster, turns the
  next call into a 429;
- a team owner (impersonated by group) cannot delete the namespace's default-deny policy;
- telemetry of team A reaches team A's backend and not team B's, whether an A workload sends
  it (claiming to be B) or the gateway writes it for A's request.

Names, paths, headers, ports and namespaces come from the builders and the plan, so the suite
follows the code. Offline, this module checks that the stub manifests are valid objects, the
probe team files validate, the stub servers answer as the cases expect, and every name the
suite derives exists in the dev plan with the probe teams (these run everywhere).

On a cluster it needs docker, kind, kubectl and pulumi (see tests/e2e/conftest.py); run
`pytest -m e2e tests/e2e/test_behaviour.py`. docs/testing.md describes each case.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from agentplane import namespaces
from agentplane.builders import certificates, telemetry, tenants
from agentplane.builders.gateway import platform as gw
from agentplane.builders.gateway import team as routes
from agentplane.builders.gateway import token_budgets as budget
from agentplane.builders.identity import realm
from agentplane.config.base import agent_client_id
from agentplane.config.load import load_from_files
from agentplane.config.platform import PlatformSpec, TeamSpec
from tests.e2e.test_local_cluster import (  # noqa: F401  (platform_fixture: the module-scoped infra/up fixture)
    CLUSTER_NAME,
    INFRA_ARGS,
    INFRA_UP_ENV,
    KUBE_CONTEXT,
    ROOT,
    STATE_DIR,
    UP_TIMEOUT,
    kubectl,
    platform_fixture,
    sh,
)

# --------------------------------------------------------------------------- the probe

TEAM_A = "e2e-alpha"
TEAM_B = "e2e-beta"
CALLER = "caller"  # promoted: may call the callee, use egress and every team model
CALLEE = "callee"  # an agent whose `access` lists only CALLER
OUTSIDER = "outsider"  # not promoted (lowest tier), not in CALLEE's access
SPENDER = "spender"  # promoted, with a tiny daily token budget of its own
SPENDER_BUDGET = 10  # tokens/day; one stub answer (STUB_USAGE) crosses it
STUB_USAGE = {"prompt_tokens": 20, "completion_tokens": 12}
STUB_COMPLETION_ID = "chatcmpl-e2e-stub"

# Not a team namespace: only the gateway calls the stub model there.
STUBS_NAMESPACE = "e2e-stubs"
MODEL_STUB = "model-stub"
STUB_PORT = 8080
# Each team's own OTLP backend, a Service in the team's namespace: the only in-cluster
# endpoint a team file may name (agentplane/config/addresses.py).
OTLP_SINK = "otlp-sink"
OTLP_HTTP_PORT = 4318
CA_MOUNT = "/etc/agentplane-ca"

# The OpenAI chat-completions path under a model route (docs/components/gateway.md "A model").
CHAT_PATH = "/v1/chat/completions"
UNLISTED_HOST = "example.com"

# One small image for the stub servers and the client: the scripts below need only the
# standard library. Pinned by tag; no registry was reachable to resolve and check a digest.
STUB_IMAGE = "docker.io/library/python:3.13-alpine"
RUN_AS = 65534
# The contrib collector runs as this user (its Dockerfile's USER).
COLLECTOR_USER = 10001

POD_TIMEOUT = 180
TELEMETRY_TIMEOUT = 180


def dev_config() -> dict:
    return yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]


def probe_tier(config: dict) -> str:
    """A tier with external egress whose provenance only audits: the stub images are unsigned."""
    tiers = [t["name"] for t in config["agentplane:tiers"] if t.get("egress") and t.get("provenance") != "enforce"]
    assert tiers, "stacks/Pulumi.dev.yaml has no tier with egress and provenance audit; the behaviour suite needs one"
    return tiers[0]


def listed_host(config: dict) -> str:
    """An exact host of the stack's egress allow-list (wildcards go through another route kind)."""
    hosts = [h for h in config.get("agentplane:egress", []) if not h.startswith("*.")]
    assert hosts, "stacks/Pulumi.dev.yaml allows no exact egress host; the egress case needs one"
    return hosts[0]


def sink_endpoint(team_name: str) -> str:
    # A team's namespace is named after the team (TeamSpec.namespace; checked offline).
    return f"http://{OTLP_SINK}.{team_name}.svc:{OTLP_HTTP_PORT}"


def team_documents() -> dict[str, dict]:
    config = dev_config()
    tier = probe_tier(config)
    team_a = {
        "name": TEAM_A,
        "owners": [f"{TEAM_A}-admins"],
        "environments": {"dev": {"tier": tier}},
        "agents": [
            {"name": CALLER, "promote": {"dev": tier}},
            {"name": CALLEE, "promote": {"dev": tier}, "access": [f"agent:{TEAM_A}/{CALLER}"]},
            {"name": OUTSIDER},
            {"name": SPENDER, "promote": {"dev": tier}, "dailyTokenBudget": SPENDER_BUDGET},
        ],
        "egress": [listed_host(config)],
        "telemetry": {"endpoint": sink_endpoint(TEAM_A), "protocol": "http"},
    }
    team_b = {
        "name": TEAM_B,
        "owners": [f"{TEAM_B}-admins"],
        "environments": {"dev": {"tier": tier}},
        "agents": [{"name": CALLER, "promote": {"dev": tier}}],
        "telemetry": {"endpoint": sink_endpoint(TEAM_B), "protocol": "http"},
    }
    return {TEAM_A: team_a, TEAM_B: team_b}


def team_files() -> dict[str, str]:
    header = "# Written by tests/e2e/test_behaviour.py; removed when the module ends.\n"
    return {f"{name}.yaml": header + yaml.safe_dump(doc, sort_keys=False) for name, doc in team_documents().items()}


@functools.lru_cache(maxsize=1)
def probe_spec() -> PlatformSpec:
    """The dev stack as the cluster runs it: the example teams plus the probe teams."""
    with tempfile.TemporaryDirectory() as tmp:
        teams = Path(tmp) / "teams"
        shutil.copytree(ROOT / "stacks" / "teams", teams)
        for name, text in team_files().items():
            (teams / name).write_text(text, encoding="utf-8")
        return load_from_files("dev", teams=teams, root=ROOT)


def team(name: str) -> TeamSpec:
    (found,) = [t for t in probe_spec().teams if t.name == name]
    return found


def agent(team_name: str, agent_name: str):
    (found,) = [a for a in team(team_name).agents if a.name == agent_name]
    return found


# --------------------------------------------------------------------------- derived from the code


@dataclass(frozen=True)
class Derived:
    gateway_url: str
    token_header: str
    egress_token_header: str
    denial_header: str
    caller_header: str
    caller_kind_header: str
    listed_egress_path: str
    unlisted_egress_path: str
    callee_path: str
    callee_port: int
    caller_identity: str
    unapproved_model: str
    unapproved_model_path: str
    outsider_model_path: str
    outsider_models: tuple[str, ...]
    spender_model: str
    spender_model_path: str
    spender_model_backend: str
    budget_remaining_header: str
    budget_limit_header: str
    should_retry_header: str
    oidc_secret_keys: tuple[str, ...]
    collector_traces_url: str


def derive() -> Derived:
    spec = probe_spec()
    a = team(TEAM_A)
    assert spec.env.gateway.http_listener, (
        "the dev stack has no in-cluster HTTP listener; the suite calls the gateway over it"
    )
    outsider, spender = agent(TEAM_A, OUTSIDER), agent(TEAM_A, SPENDER)
    unapproved = [m for m in a.models if m not in outsider.models]
    assert unapproved, f"every model of team {TEAM_A} is approved for its lowest-tier agent; no model to refuse"
    assert spender.models, f"agent {TEAM_A}/{SPENDER} may use no model"
    assert outsider.models, f"agent {TEAM_A}/{OUTSIDER} may use no model"
    return Derived(
        gateway_url=f"http://{gw.GATEWAY_NAME}.{namespaces.GATEWAY}.svc.cluster.local:{gw.HTTP_PORT}",
        token_header="authorization",  # agentgateway's JWT location unless a policy names another
        egress_token_header=gw.EGRESS_TOKEN_HEADER,
        denial_header=gw.DENIAL_HEADER,
        caller_header=gw.CALLER_HEADER,
        caller_kind_header=gw.CALLER_KIND_HEADER,
        listed_egress_path=f"{routes.egress_prefix(a)}/{a.egress[0]}/",
        unlisted_egress_path=f"{routes.egress_prefix(a)}/{UNLISTED_HOST}/",
        callee_path=f"{routes.agent_prefix(a, CALLEE)}/echo",
        callee_port=spec.env.gateway.agent_port,
        caller_identity=agent_client_id(TEAM_A, CALLER),
        unapproved_model=unapproved[0],
        unapproved_model_path=routes.model_prefix(a, unapproved[0]) + CHAT_PATH,
        outsider_model_path=routes.model_prefix(a, outsider.models[0]) + CHAT_PATH,
        outsider_models=outsider.models,
        spender_model=spender.models[0],
        spender_model_path=routes.model_prefix(a, spender.models[0]) + CHAT_PATH,
        spender_model_backend=gw.model_backend_name(spender.models[0]),
        budget_remaining_header=budget.REMAINING_HEADER,
        budget_limit_header=budget.LIMIT_HEADER,
        should_retry_header=budget.SHOULD_RETRY_HEADER,
        oidc_secret_keys=(realm.SECRET_CLIENT_ID, realm.SECRET_CLIENT_SECRET, realm.SECRET_TOKEN_URL),
        collector_traces_url=f"{telemetry.WORKLOAD_OTLP_HTTP_ENDPOINT}/v1/traces",
    )


# What the refusals say, as the cluster cases expect them (docs/components/gateway.md
# "What a refusal looks like"); test_expected_refusals_are_what_the_gateway_is_configured_to_answer
# checks them against the plan's gateway policies.
MODEL_NOT_APPROVED = "model_not_approved"
EGRESS_DENIED = "egress_denied"
BODY_MODEL_REFUSAL = "the model named in the request body"
# What the gateway says an agent is, in the caller-kind header.
AGENT_KIND = "agent"


def approved_models_text(d: Derived) -> str:
    return "approved models: " + ", ".join(d.outsider_models)


def egress_refusal_fragments() -> list[str]:
    a = team(TEAM_A)
    return [f"team {a.name}", *a.egress]


def budget_fragment() -> str:
    return f"agent {TEAM_A}/{SPENDER}: {SPENDER_BUDGET} tokens/day"


def owners_group(plan: dict, team_name: str) -> str:
    """The Kubernetes group the team's owners are bound by: the subject of the owner-role
    RoleBinding the builder makes, found in the plan's RoleBindings of the team namespace."""
    t = team(team_name)

    def owner_groups(bindings: list[dict]) -> set[str]:
        return {
            s["name"]
            for b in bindings
            if b["roleRef"]["name"] == tenants.ROLE_OWNER
            for s in b.get("subjects", [])
            if s.get("kind") == "Group"
        }

    built = owner_groups(tenants.role_bindings(t, probe_spec()))
    planned = owner_groups(plan_objects(plan, "RoleBinding", t.namespace))
    groups = sorted(built & planned)
    assert groups, (
        f"no RoleBinding in {t.namespace} binds the owners' group ({sorted(built)} built, {sorted(planned)} planned)"
    )
    return groups[0]


def default_deny_name(plan: dict, team_name: str) -> str:
    """The NetworkPolicy that selects every pod and allows nothing, either way."""
    ns = team(team_name).namespace
    names = [
        o["metadata"]["name"]
        for o in plan_objects(plan, "NetworkPolicy", ns)
        if o["spec"].get("podSelector") == {}
        and set(o["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not o["spec"].get("ingress")
        and not o["spec"].get("egress")
    ]
    assert len(names) == 1, f"expected one default-deny NetworkPolicy in {ns}, found {names}"
    return names[0]


@functools.lru_cache(maxsize=1)
def probe_plan() -> dict:
    from tests.support.plans import plan_with_teams

    return plan_with_teams("dev", add=team_files())


def plan_objects(plan: dict, kind: str, namespace: str | None = None) -> list[dict]:
    from tests.support.plans import kubernetes_objects

    return [
        o
        for o in kubernetes_objects(plan)
        if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]


# --------------------------------------------------------------------------- stub servers and the client

# Serves `echo` (the request's path and headers as JSON: what a callee agent received) or
# `openai` (a chat completion with fixed token usage: what the gateway counts against budgets).
STUB_SERVER = r"""
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE, PORT = sys.argv[1], int(sys.argv[2])
USAGE = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}


class Handler(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        request = self.rfile.read(length) if length else b""
        if MODE == "echo":
            doc = {"stub": "echo", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        else:
            asked = json.loads(request or b"{}").get("model", "")
            doc = {
                "id": sys.argv[4], "object": "chat.completion", "created": int(time.time()), "model": asked,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "stub"}, "finish_reason": "stop"}],
                "usage": dict(USAGE, total_tokens=sum(USAGE.values())),
            }
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


ThreadingHTTPServer((os.environ.get("STUB_BIND", "0.0.0.0"), PORT), Handler).serve_forever()
"""

# Gets a token with the agent's client credentials (the `<agent>-oidc` Secret, as envFrom),
# sends each request and prints one JSON line per answer after RESULT_MARKER.
CLIENT = r"""
import json, os, ssl, sys, time, urllib.error, urllib.parse, urllib.request

RESULT_MARKER = "E2E-RESULT "
requests = json.loads(sys.argv[1])
ca = os.environ.get("E2E_CA_FILE")
context = ssl.create_default_context(cafile=ca) if ca and os.path.exists(ca) else None


def token():
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials",
        "client_id": os.environ["OIDC_CLIENT_ID"],
        "client_secret": os.environ["OIDC_CLIENT_SECRET"],
    }).encode()
    with urllib.request.urlopen(os.environ["OIDC_TOKEN_URL"], data=form, timeout=30, context=context) as answer:
        return json.load(answer)["access_token"]


bearer = token() if any(r.get("token_header") for r in requests) else None
for r in requests:
    time.sleep(r.get("delay", 0))
    headers = dict(r.get("headers", {}))
    if r.get("token_header"):
        headers[r["token_header"]] = "Bearer " + bearer
    body = json.dumps(r["json"]).encode() if "json" in r else None
    if body is not None:
        headers.setdefault("content-type", "application/json")
    request = urllib.request.Request(r["url"], data=body, headers=headers, method=r.get("method", "GET"))
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, got, text = answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as refused:
        status, got, text = refused.code, dict(refused.headers.items()), refused.read()
    result = {
        "status": status,
        "headers": {k.lower(): v for k, v in got.items()},
        "body": text.decode("utf-8", "replace"),
    }
    print(RESULT_MARKER + json.dumps(result), flush=True)
"""
RESULT_MARKER = "E2E-RESULT "


def _restricted_container(name: str, image: str, command: list[str], port: int | None = None) -> dict:
    """A container Pod Security `restricted` admits, with requests and limits for the quota."""
    container: dict = {
        "name": name,
        "image": image,
        "command": command,
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
    }
    if port is not None:
        container["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        container["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 2}
    return container


def _pod_security(user: int) -> dict:
    return {"runAsNonRoot": True, "runAsUser": user, "runAsGroup": user, "seccompProfile": {"type": "RuntimeDefault"}}


def _labels(name: str) -> dict:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "agentplane-e2e"}


def _deployment(name: str, namespace: str, pod_spec: dict, annotations: dict | None = None) -> dict:
    template_meta: dict = {"labels": _labels(name)}
    if annotations:
        template_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(name)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _labels(name)},
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def _service(name: str, namespace: str, port: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(name)},
        "spec": {
            "selector": _labels(name),
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def sink_collector_config() -> dict:
    """A backend that prints every record it gets (the debug exporter), read with kubectl logs."""
    pipeline = {"receivers": ["otlp"], "exporters": ["debug"]}
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"}}}},
        "exporters": {"debug": {"verbosity": "detailed"}},
        "service": {"pipelines": {signal: dict(pipeline) for signal in telemetry.SIGNALS}},
    }


def stub_objects() -> list[dict]:
    """The stubs namespace and the stub model the budget case points a model backend at."""
    psa = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn")}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": STUBS_NAMESPACE, "labels": {**psa, **_labels(STUBS_NAMESPACE)}},
        },
        _deployment(
            MODEL_STUB,
            STUBS_NAMESPACE,
            {
                "automountServiceAccountToken": False,
                "securityContext": _pod_security(RUN_AS),
                "containers": [
                    _restricted_container(
                        "stub",
                        STUB_IMAGE,
                        [
                            "python3",
                            "-c",
                            STUB_SERVER,
                            "openai",
                            str(STUB_PORT),
                            json.dumps(STUB_USAGE),
                            STUB_COMPLETION_ID,
                        ],
                        STUB_PORT,
                    )
                ],
            },
        ),
        _service(MODEL_STUB, STUBS_NAMESPACE, STUB_PORT),
    ]


def sink_objects(team_name: str) -> list[dict]:
    """A team's OTLP backend in its own namespace. The platform's NetworkPolicy
    `allow-telemetry-backend` (declared because the team file names it) is all that lets the
    collector deliver there; its Service exposes the pods' own port, as a NetworkPolicy requires."""
    ns = team(team_name).namespace
    collector_image = probe_spec().env.telemetry.collector_image
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": OTLP_SINK, "namespace": ns, "labels": _labels(OTLP_SINK)},
            "data": {"config.yaml": yaml.safe_dump(sink_collector_config(), sort_keys=True)},
        },
        _deployment(
            OTLP_SINK,
            ns,
            {
                "automountServiceAccountToken": False,
                "securityContext": _pod_security(COLLECTOR_USER),
                "containers": [
                    {
                        **_restricted_container(
                            "collector",
                            f"{collector_image.repository}:{collector_image.tag}",
                            ["/otelcol-contrib", "--config=/conf/config.yaml"],
                            OTLP_HTTP_PORT,
                        ),
                        "env": [],
                        "volumeMounts": [{"name": "config", "mountPath": "/conf", "readOnly": True}],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": OTLP_SINK}}],
            },
            telemetry.opt_out_annotations(),
        ),
        _service(OTLP_SINK, ns, OTLP_HTTP_PORT),
    ]


def callee_objects() -> list[dict]:
    """CALLEE in team A: a Service of that name on the agent port, answering `echo`."""
    a, port = team(TEAM_A), derive().callee_port
    pod = {
        "serviceAccountName": CALLEE,
        "automountServiceAccountToken": False,
        "securityContext": _pod_security(RUN_AS),
        "containers": [
            _restricted_container("agent", STUB_IMAGE, ["python3", "-c", STUB_SERVER, "echo", str(port)], port)
        ],
    }
    # No injected SDK: the stub is not the thing under test, and the image is musl-based.
    return [_deployment(CALLEE, a.namespace, pod, telemetry.opt_out_annotations()), _service(CALLEE, a.namespace, port)]


def client_pod(name: str, team_name: str, agent_name: str, requests: list[dict]) -> dict:
    """A one-shot pod running as the agent's ServiceAccount, with the agent's OIDC Secret."""
    t = team(team_name)
    container = _restricted_container("client", STUB_IMAGE, ["python3", "-c", CLIENT, json.dumps(requests)])
    container["envFrom"] = [{"secretRef": {"name": realm.client_secret_name(agent(team_name, agent_name))}}]
    # The platform root, which the platform puts in every tenant namespace (Keycloak's in-cluster
    # HTTPS endpoint, OIDC_TOKEN_URL, is signed under it).
    container["env"].append({"name": "E2E_CA_FILE", "value": f"{CA_MOUNT}/{certificates.CA_BUNDLE_KEY}"})
    container["volumeMounts"] = [{"name": "platform-ca", "mountPath": CA_MOUNT, "readOnly": True}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": t.namespace,
            "labels": _labels("e2e-client"),
            "annotations": telemetry.opt_out_annotations(),
        },
        "spec": {
            "serviceAccountName": agent_name,
            "automountServiceAccountToken": False,
            "restartPolicy": "Never",
            "securityContext": _pod_security(RUN_AS),
            "containers": [container],
            "volumes": [{"name": "platform-ca", "configMap": {"name": certificates.CA_BUNDLE}}],
        },
    }


def otlp_span(name: str, trace_id: str, claimed_tenant: str) -> dict:
    """One span in OTLP/JSON, whose resource claims a tenant (the collector must overrule it)."""
    now = time.time_ns()
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "e2e-probe"}},
                        {"key": telemetry.TENANT_ATTRIBUTE, "value": {"stringValue": claimed_tenant}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "e2e"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": trace_id[:16],
                                "name": name,
                                "kind": 1,
                                "startTimeUnixNano": str(now - 1_000_000),
                                "endTimeUnixNano": str(now),
                            }
                        ],
                    }
                ],
            }
        ]
    }


# --------------------------------------------------------------------------- offline


def test_probe_team_files_validate(tmp_path):
    teams = tmp_path / "teams"
    shutil.copytree(ROOT / "stacks" / "teams", teams)
    files = team_files()
    assert files
    for name, text in files.items():
        (teams / name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "agentplane", "validate", "--stack", "dev", "--teams", str(teams)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_probe_teams_are_what_the_cases_need():
    """The spec resolves the roles the cases rely on (tiers, access, budgets, telemetry)."""
    a, b = team(TEAM_A), team(TEAM_B)
    assert agent(TEAM_A, CALLER).egress and not agent(TEAM_A, OUTSIDER).egress
    assert agent(TEAM_A, CALLEE).access == (f"agent:{TEAM_A}/{CALLER}",)
    assert agent(TEAM_A, SPENDER).daily_token_budget == SPENDER_BUDGET < sum(STUB_USAGE.values())
    assert a.telemetry.endpoint == sink_endpoint(TEAM_A) and b.telemetry.endpoint == sink_endpoint(TEAM_B)
    assert (a.namespace, b.namespace) == (TEAM_A, TEAM_B)
    host = a.egress[0]
    assert UNLISTED_HOST not in a.egress and not any(
        p.startswith("*.") and UNLISTED_HOST.endswith(p[1:]) for p in a.egress
    ), a.egress
    assert host in dev_config()["agentplane:egress"]


def test_stub_manifests_match_the_kubernetes_schema():
    from tests.support.upstream import validate_objects

    d = derive()
    objects = [
        *stub_objects(),
        *sink_objects(TEAM_A),
        *sink_objects(TEAM_B),
        *callee_objects(),
        client_pod(
            "e2e-client-probe", TEAM_A, CALLER, [{"url": d.gateway_url + d.callee_path, "token_header": d.token_header}]
        ),
    ]
    assert len(objects) >= 9
    assert validate_objects(objects) == []


def test_stub_pods_run_as_restricted_non_root_without_api_tokens():
    objects = [*stub_objects(), *sink_objects(TEAM_A), *sink_objects(TEAM_B), *callee_objects()]
    pods = [o["spec"]["template"]["spec"] for o in objects if o["kind"] == "Deployment"]
    pods.append(client_pod("p", TEAM_A, CALLER, [])["spec"])
    assert len(pods) == 5  # the model stub, two OTLP sinks, the callee, a client
    for pod in pods:
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"] == {
            "type": "RuntimeDefault"
        }
        for c in pod["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False and c["securityContext"][
                "capabilities"
            ] == {"drop": ["ALL"]}
            assert c["resources"]["limits"] and c["resources"]["requests"]


def test_derived_names_exist_in_the_dev_plan():
    """Every name, path, port and header the cluster cases use is in the plan the cluster gets."""
    plan, d = probe_plan(), derive()
    a, b = team(TEAM_A), team(TEAM_B)
    assert {a.name, b.name} <= set(plan["teams"])
    # The sinks are reached through the platform's own policy: collector pods, the sink's port.
    for t in (a, b):
        (backend_policy,) = [
            o
            for o in plan_objects(plan, "NetworkPolicy", t.namespace)
            if o["metadata"]["name"] == "allow-telemetry-backend"
        ]
        (rule,) = backend_policy["spec"]["ingress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": OTLP_HTTP_PORT}]
        assert rule["from"][0]["podSelector"] == {"matchLabels": telemetry.COLLECTOR_POD_LABELS}

    (gateway,) = [
        g for g in plan_objects(plan, "Gateway", namespaces.GATEWAY) if g["metadata"]["name"] == gw.GATEWAY_NAME
    ]
    assert any(lst["port"] == gw.HTTP_PORT and lst["protocol"] == "HTTP" for lst in gateway["spec"]["listeners"])

    prefixes = {
        m["path"]["value"]
        for r in plan_objects(plan, "HTTPRoute", namespaces.GATEWAY)
        for rule in r["spec"]["rules"]
        for m in rule.get("matches", [])
    }
    assert prefixes, "the plan has no HTTPRoute"
    for path in (
        d.callee_path,
        d.unapproved_model_path,
        d.spender_model_path,
        d.listed_egress_path,
        d.unlisted_egress_path,
    ):
        assert any(path.startswith(p) and p.startswith(f"/{path.split('/')[1]}/{TEAM_A}") for p in prefixes), (
            path,
            sorted(prefixes),
        )

    backends = {o["metadata"]["name"]: o for o in plan_objects(plan, "AgentgatewayBackend", namespaces.GATEWAY)}
    assert d.spender_model_backend in backends and "ai" in backends[d.spender_model_backend]["spec"]
    (callee_backend,) = [
        o
        for o in backends.values()
        if o["spec"].get("static", {}).get("host") == f"{CALLEE}.{a.namespace}.svc.cluster.local"
    ]
    assert callee_backend["spec"]["static"]["port"] == d.callee_port

    policies = json.dumps(plan_objects(plan, "AgentgatewayPolicy", namespaces.GATEWAY))
    for header in (d.egress_token_header, d.denial_header, d.caller_header):
        assert header in policies, header
    assert d.caller_identity in policies

    for t, agents in ((a, (CALLER, OUTSIDER, SPENDER)), (b, (CALLER,))):
        secrets = {o["metadata"]["name"]: o for o in plan_objects(plan, "Secret", t.namespace)}
        accounts = {o["metadata"]["name"] for o in plan_objects(plan, "ServiceAccount", t.namespace)}
        for name in agents:
            secret = secrets[realm.client_secret_name(agent(t.name, name))]
            assert set(d.oidc_secret_keys) <= set(secret["stringData"])
            assert name in accounts
    assert owners_group(plan, TEAM_A)
    assert default_deny_name(plan, TEAM_A)

    # The gateway writes a span per request (the gateway telemetry case reads them).
    (frontend,) = [
        o
        for o in plan_objects(plan, "AgentgatewayPolicy", namespaces.GATEWAY)
        if o["metadata"]["name"] == gw.FRONTEND_POLICY
    ]
    assert frontend["spec"]["frontend"]["tracing"]["backendRef"]["name"] == gw.OTLP_BACKEND

    for t in (a, b):  # the client pods trust the platform root from here
        (bundle,) = [
            c for c in plan_objects(plan, "ConfigMap", t.namespace) if c["metadata"]["name"] == certificates.CA_BUNDLE
        ]
        assert certificates.CA_BUNDLE_KEY in bundle["data"]

    (collector,) = plan_objects(plan, "OpenTelemetryCollector", telemetry.NAMESPACE)
    exporters = collector["spec"]["config"]["exporters"]
    for t in (a, b):
        endpoints = [e.get("endpoint") for key, e in exporters.items() if key.endswith(f"/tenant-{t.name}")]
        assert endpoints == [sink_endpoint(t.name)], (t.name, endpoints)
    assert d.collector_traces_url.startswith(telemetry.WORKLOAD_OTLP_HTTP_ENDPOINT)
    assert (
        str(telemetry.WORKLOAD_HTTP_PORT) in d.collector_traces_url
        and telemetry.WORKLOAD_HTTP_PORT in namespaces.TELEMETRY_PORTS
    )

    (config_map,) = [
        c for c in plan_objects(plan, "ConfigMap", namespaces.GATEWAY) if c["metadata"]["name"] == budget.CONFIG_MAP
    ]
    domain = yaml.safe_load(config_map["data"][budget.config_key(a)])
    assert domain["domain"] == budget.domain(a)
    agents = {n["value"]: n["rate_limit"]["requests_per_unit"] for n in domain["descriptors"][0]["descriptors"]}
    assert agents == {SPENDER: SPENDER_BUDGET}


def test_expected_refusals_are_what_the_gateway_is_configured_to_answer():
    """The texts the cluster cases expect are in team A's gateway policies (so a changed message
    fails here, offline, before it fails on a cluster)."""
    plan, d = probe_plan(), derive()
    policies = [
        o
        for o in plan_objects(plan, "AgentgatewayPolicy", namespaces.GATEWAY)
        if o["metadata"].get("labels", {}).get("agentplane.io/tenant") == TEAM_A
    ]
    assert policies
    text = json.dumps(policies)
    for expected in (
        MODEL_NOT_APPROVED,
        f"{TEAM_A}/{OUTSIDER}",
        approved_models_text(d),
        BODY_MODEL_REFUSAL,
        EGRESS_DENIED,
        *egress_refusal_fragments(),
        budget_fragment(),
        d.budget_remaining_header,
        d.should_retry_header,
        d.caller_kind_header,
    ):
        assert expected in text, expected
    # The caller-kind header's value for an agent's client.
    assert json.dumps(AGENT_KIND) in gw.CALLER_KIND


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_stub(*args: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", STUB_SERVER, args[0], str(port), *args[1:]],
        env={**os.environ, "STUB_BIND": "127.0.0.1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"the stub server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)


def test_model_stub_answers_an_openai_chat_completion_with_usage():
    proc, port = _run_stub("openai", json.dumps(STUB_USAGE), STUB_COMPLETION_ID)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{CHAT_PATH}",
            method="POST",
            data=json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            doc = json.load(answer)
    finally:
        proc.kill()
        proc.wait()
    assert doc["id"] == STUB_COMPLETION_ID and doc["object"] == "chat.completion" and doc["model"] == "m"
    assert doc["choices"][0]["message"]["role"] == "assistant"
    assert doc["usage"] == {**STUB_USAGE, "total_tokens": sum(STUB_USAGE.values())}


def test_client_sends_the_token_in_the_named_header_and_reports_each_answer():
    """The client as the pods run it, against the echo stub and a token endpoint on loopback."""
    echo, echo_port = _run_stub("echo")
    seen: list[str] = []

    class TokenEndpoint(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            seen.append(self.rfile.read(int(self.headers["content-length"])).decode())
            body = json.dumps({"access_token": "tok-123"}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    token_port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    requests = [
        {
            "url": f"http://127.0.0.1:{echo_port}/a",
            "token_header": "x-agentplane-authorization",
            "headers": {"authorization": "Bearer ext"},
        },
        {"url": f"http://127.0.0.1:{echo_port}/b", "method": "POST", "json": {"k": 1}},
    ]
    env = {
        **os.environ,
        "OIDC_CLIENT_ID": "t.a",
        "OIDC_CLIENT_SECRET": "s3",
        "OIDC_TOKEN_URL": f"http://127.0.0.1:{token_port}/token",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, json.dumps(requests)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.shutdown()
        echo.kill()
        echo.wait()
    assert done.returncode == 0, done.stderr
    results = parse_results(done.stdout)
    assert [r["status"] for r in results] == [200, 200]
    first, second = (json.loads(r["body"]) for r in results)
    assert (
        first["headers"]["x-agentplane-authorization"] == "Bearer tok-123"
        and first["headers"]["authorization"] == "Bearer ext"
    )
    assert "x-agentplane-authorization" not in second["headers"] and second["path"] == "/b"
    assert seen == ["grant_type=client_credentials&client_id=t.a&client_secret=s3"]


def parse_results(output: str) -> list[dict]:
    return [json.loads(line[len(RESULT_MARKER) :]) for line in output.splitlines() if line.startswith(RESULT_MARKER)]


# --------------------------------------------------------------------------- on a cluster


def apply(objects: list[dict]) -> None:
    done = subprocess.run(
        ["kubectl", "--context", KUBE_CONTEXT, "apply", "-f", "-"],
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"kubectl apply failed:\n{done.stdout}\n{done.stderr}"


def wait_rolled_out(namespace: str, names: list[str]) -> None:
    for name in names:
        kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=300s", timeout=330)


def forget_state_of_a_deleted_cluster() -> None:
    """This run's Pulumi state directory, once this run's cluster is gone.

    `platform` is module-scoped and refuses to start where the run's state directory exists;
    infra/down deletes the cluster but keeps the directory. Each e2e module brings its own
    cluster up and down, so the directory another module left (same run, same name, cluster
    already deleted) is removed before this module starts and after it ends. A directory whose
    cluster still exists is never touched."""
    if not STATE_DIR.exists():
        return
    clusters = sh("kind", "get", "clusters", timeout=60).stdout.split()
    if CLUSTER_NAME not in clusters:
        shutil.rmtree(STATE_DIR)


@pytest.fixture(scope="module", autouse=True)
def one_cluster_per_module():
    """Set up before `platform` and torn down after it (autouse fixtures of a scope come first)."""
    forget_state_of_a_deleted_cluster()
    yield
    forget_state_of_a_deleted_cluster()


@pytest.fixture(scope="module")
def behaviour(platform):
    """The stub model, the two probe teams (applied with infra/up), their OTLP backends and the
    callee; team files removed afterwards."""
    paths = {ROOT / "stacks" / "teams" / name: text for name, text in team_files().items()}
    existing = [str(p) for p in paths if p.exists()]
    assert not existing, f"{existing} already exist; remove them before running the e2e tests"
    try:
        apply(stub_objects())
        for path, text in paths.items():
            path.write_text(text, encoding="utf-8")
        sh("infra/up", *INFRA_ARGS, timeout=UP_TIMEOUT, env=INFRA_UP_ENV)
        apply([*sink_objects(TEAM_A), *sink_objects(TEAM_B), *callee_objects()])
        wait_rolled_out(STUBS_NAMESPACE, [MODEL_STUB])
        wait_rolled_out(team(TEAM_A).namespace, [OTLP_SINK, CALLEE])
        wait_rolled_out(team(TEAM_B).namespace, [OTLP_SINK])
        yield derive()
    finally:
        for path in paths:
            path.unlink(missing_ok=True)


def run_client(team_name: str, agent_name: str, requests: list[dict]) -> list[dict]:
    """Run the client pod as `agent_name` of `team_name`; one result per request."""
    name = f"e2e-{agent_name}-{uuid.uuid4().hex[:8]}"
    ns = team(team_name).namespace
    apply([client_pod(name, team_name, agent_name, requests)])
    try:
        done = kubectl(
            "wait",
            f"pod/{name}",
            "-n",
            ns,
            "--for=jsonpath={.status.phase}=Succeeded",
            f"--timeout={POD_TIMEOUT}s",
            timeout=POD_TIMEOUT + 30,
            check=False,
        )
        logs = kubectl("logs", f"pod/{name}", "-n", ns, check=False).stdout
        assert done.returncode == 0, f"client pod {ns}/{name} did not succeed:\n{logs}\n{done.stderr}"
    finally:
        kubectl("delete", "pod", name, "-n", ns, "--ignore-not-found", "--wait=false", check=False)
    results = parse_results(logs)
    assert len(results) == len(requests), f"expected {len(requests)} answers, got:\n{logs}"
    return results


def error_of(result: dict) -> dict:
    """The JSON error a platform refusal carries (OpenAI's error shape)."""
    assert result["headers"].get("content-type", "").startswith("application/json"), result
    return json.loads(result["body"])["error"]


@pytest.mark.e2e
def test_egress_to_a_listed_host_passes(behaviour):
    """The exact-host rule strips `/egress/<team>/<host>` before the direct-response check, which
    therefore reads the path as asked (docs/components/gateway.md "An external service")."""
    d = behaviour
    (answer,) = run_client(
        TEAM_A, CALLER, [{"url": d.gateway_url + d.listed_egress_path, "token_header": d.egress_token_header}]
    )
    assert d.denial_header not in answer["headers"], answer
    # The upstream answered, not the gateway: a 2xx with the host's own JSON.
    assert 200 <= answer["status"] < 300, answer
    json.loads(answer["body"])


@pytest.mark.e2e
def test_egress_to_an_unlisted_host_is_refused(behaviour):
    d = behaviour
    (answer,) = run_client(
        TEAM_A, CALLER, [{"url": d.gateway_url + d.unlisted_egress_path, "token_header": d.egress_token_header}]
    )
    assert answer["status"] == 403, answer
    assert answer["headers"].get(d.denial_header) == EGRESS_DENIED, answer
    error = error_of(answer)
    assert error["type"] == EGRESS_DENIED
    assert all(fragment in error["message"] for fragment in egress_refusal_fragments()), error


@pytest.mark.e2e
def test_agent_call_passes_for_a_listed_caller_with_its_identity_not_its_token(behaviour):
    d = behaviour
    (answer,) = run_client(TEAM_A, CALLER, [{"url": d.gateway_url + d.callee_path, "token_header": d.token_header}])
    assert answer["status"] == 200, answer
    received = json.loads(answer["body"])
    assert received["stub"] == "echo" and received["path"] == "/echo", received
    assert received["headers"].get(d.caller_header) == d.caller_identity, received["headers"]
    assert received["headers"].get(d.caller_kind_header) == AGENT_KIND, received["headers"]
    assert "authorization" not in received["headers"], "the callee received the caller's token"


@pytest.mark.e2e
def test_agent_call_is_refused_for_an_unlisted_caller(behaviour):
    """agentgateway's own refusal: 403 `authorization failed`
    (agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/proxy/mod.rs ProxyError::AuthorizationFailed)."""
    d = behaviour
    (answer,) = run_client(TEAM_A, OUTSIDER, [{"url": d.gateway_url + d.callee_path, "token_header": d.token_header}])
    assert answer["status"] == 403, answer
    assert "authorization failed" in answer["body"], answer
    assert '"stub": "echo"' not in answer["body"]


def unapproved_model_refusal(d, path: str) -> dict:
    """The agent OUTSIDER of TEAM_A asks for a model it may not use on `path`: the gateway answers
    403 with the model-not-approved denial; returns the OpenAI-shaped error."""
    body = {"model": d.unapproved_model, "messages": [{"role": "user", "content": "hello"}]}
    request = {"url": d.gateway_url + path, "method": "POST", "json": body, "token_header": d.token_header}
    (answer,) = run_client(TEAM_A, OUTSIDER, [request])
    assert answer["status"] == 403, answer
    assert answer["headers"].get(d.denial_header) == MODEL_NOT_APPROVED, answer
    error = error_of(answer)
    assert error["type"] == MODEL_NOT_APPROVED
    return error


@pytest.mark.e2e
def test_unapproved_model_is_refused_naming_the_approved_models(behaviour):
    d = behaviour
    error = unapproved_model_refusal(d, d.unapproved_model_path)
    assert error["message"].endswith(approved_models_text(d)), error
    assert d.unapproved_model in error["message"] and f"{TEAM_A}/{OUTSIDER}" in error["message"], error


@pytest.mark.e2e
def test_body_naming_another_model_is_refused_naming_the_approved_models(behaviour):
    """On a route the agent may use, a body asking for another model is refused, not swapped."""
    d = behaviour
    error = unapproved_model_refusal(d, d.outsider_model_path)
    assert error["message"].startswith(BODY_MODEL_REFUSAL) and error["message"].endswith(approved_models_text(d)), error


@pytest.mark.e2e
def test_budget_spent_answers_429(behaviour):
    """Point the model's backend at the stub (agentgateway v1.4.1: a host override connects in
    plain HTTP and keeps the path, crates/agentgateway/src/types/agent_xds.rs
    resolve_provider_connection, crates/agentgateway/src/llm/mod.rs set_default_path), spend
    the spender's budget, and the next call is refused."""
    d = behaviour
    stub_host = f"{MODEL_STUB}.{STUBS_NAMESPACE}.svc.cluster.local"
    patch = {"spec": {"ai": {"provider": {"host": stub_host, "port": STUB_PORT}}}}
    kubectl(
        "patch",
        "agentgatewaybackend",
        d.spender_model_backend,
        "-n",
        namespaces.GATEWAY,
        "--type=merge",
        "-p",
        json.dumps(patch),
    )
    call = {
        "url": d.gateway_url + d.spender_model_path,
        "method": "POST",
        "token_header": d.token_header,
        "json": {"model": d.spender_model, "messages": [{"role": "user", "content": "spend"}]},
    }
    try:
        # Until the proxy has the new backend, calls go to the provider with a placeholder key
        # and count no tokens; the first stub answer crosses the budget (counted after it completes).
        deadline = time.monotonic() + 180
        while True:
            (answer,) = run_client(TEAM_A, SPENDER, [call])
            if answer["status"] == 200 and STUB_COMPLETION_ID in answer["body"]:
                break
            assert answer["status"] != 429, f"refused before any stub answer was counted: {answer}"
            assert time.monotonic() < deadline, f"the model backend never reached the stub: {answer}"
            time.sleep(5)
        (refused,) = run_client(TEAM_A, SPENDER, [call])
        # As the client sees it (docs/components/gateway.md "The budget 429 has no body").
        assert refused["status"] == 429, refused
        assert refused["body"] == "", refused
        assert refused["headers"].get(d.budget_remaining_header) == "0", refused
        assert refused["headers"].get(d.budget_limit_header), refused
        assert refused["headers"].get(d.should_retry_header) == "false", refused
        assert refused["headers"].get(d.denial_header, "").startswith("budget exceeded"), refused
        assert budget_fragment() in refused["headers"][d.denial_header], refused
    finally:
        undo = {"spec": {"ai": {"provider": {"host": None, "port": None}}}}
        kubectl(
            "patch",
            "agentgatewaybackend",
            d.spender_model_backend,
            "-n",
            namespaces.GATEWAY,
            "--type=merge",
            "-p",
            json.dumps(undo),
            check=False,
        )


@pytest.mark.e2e
def test_team_owner_cannot_delete_default_deny(behaviour):
    """The owners' RoleBinding grants a role without NetworkPolicy writes (docs/components/tenants.md)."""
    plan = probe_plan()
    ns, policy, group = team(TEAM_A).namespace, default_deny_name(plan, TEAM_A), owners_group(plan, TEAM_A)
    as_owner = ("--as", f"{TEAM_A}-owner", "--as-group", group)
    # The impersonation works and is an owner: reading the policy is allowed.
    kubectl("get", "networkpolicy", policy, "-n", ns, *as_owner)
    done = kubectl("delete", "networkpolicy", policy, "-n", ns, "--dry-run=server", *as_owner, check=False)
    assert done.returncode != 0, f"an owner of {TEAM_A} may delete {ns}/{policy}:\n{done.stdout}"
    assert "forbidden" in done.stderr.lower(), done.stderr
    kubectl("get", "networkpolicy", policy, "-n", ns)


def sink_log(team_name: str) -> str:
    return kubectl("logs", f"deployment/{OTLP_SINK}", "-n", team(team_name).namespace, "--tail=-1").stdout


def wait_for_marker(marker: str) -> tuple[str, str]:
    """Wait until team A's sink shows `marker`; then (A's log, B's log)."""
    deadline = time.monotonic() + TELEMETRY_TIMEOUT
    while marker not in (log_a := sink_log(TEAM_A)):
        assert time.monotonic() < deadline, f"{marker} never reached team {TEAM_A}'s backend"
        time.sleep(5)
    # B's pipeline shares the collector's batch timing with A's: a record sent to B as well
    # would have arrived with A's.
    time.sleep(10)
    return log_a, sink_log(TEAM_B)


@pytest.mark.e2e
def test_workload_telemetry_reaches_its_own_team_only(behaviour):
    """An A workload sends a span claiming to be B's; it reaches A's backend, never B's."""
    d = behaviour
    marker = f"e2e-span-{uuid.uuid4().hex}"
    span = otlp_span(marker, uuid.uuid4().hex, claimed_tenant=TEAM_B)
    # The delay lets the collector's pod watch learn the client pod's IP, which is all it
    # identifies the sender by.
    (answer,) = run_client(
        TEAM_A, CALLER, [{"url": d.collector_traces_url, "method": "POST", "json": span, "delay": 10}]
    )
    assert answer["status"] == 200, answer
    log_a, log_b = wait_for_marker(marker)
    assert marker not in log_b, f"team {TEAM_A}'s span reached team {TEAM_B}'s backend"


@pytest.mark.e2e
def test_gateway_telemetry_reaches_the_calling_team_only(behaviour):
    """The gateway's span for an A request (it continues the caller's trace: agentgateway
    v1.4.1 crates/agentgateway/src/telemetry/trc.rs TraceParent::from_request, new_span)
    reaches A's backend, never B's."""
    d = behaviour
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    (answer,) = run_client(
        TEAM_A,
        CALLER,
        [
            {
                "url": d.gateway_url + d.callee_path,
                "token_header": d.token_header,
                "headers": {"traceparent": traceparent},
            }
        ],
    )
    assert answer["status"] == 200, answer
    log_a, log_b = wait_for_marker(trace_id)
    assert trace_id not in log_b, f"the gateway's span of a {TEAM_A} request reached team {TEAM_B}'s backend"
