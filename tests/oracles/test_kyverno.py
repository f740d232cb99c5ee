"""The real Kyverno engine (kubectl-kyverno v1.19 ``test``) runs every ValidatingPolicy and
MutatingPolicy the platform renders, with a resource it must accept and one it must refuse per
guardrail: tier labels set and protected, platform-owned metadata, Kyverno policies themselves,
service routing, platform-CA use.

Every policy is taken from each shipped stack's plan; the tenants, agents, tiers, namespace labels
and platform issuer in the cases are read from the plan and the team files. A policy the platform
renders without cases here fails the suite. ImageValidatingPolicy verification needs registries,
Fulcio and Rekor, none reachable here: it stays modelled (tests/test_provenance*.py).
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.oracles.harness import built
from tests.support.plans import ROOT, STACKS, example_plan, kubernetes_objects

pytestmark = pytest.mark.oracle

ORACLE = "kyverno"
TENANT_USER = "alice@example.com"


@dataclasses.dataclass(frozen=True)
class Case:
    what: str
    resource: dict[str, Any]
    result: str  # pass | fail | skip, as `kyverno test` reports it
    groups: tuple[str, ...]
    patched: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class World:
    """What the cases need to know about a stack, all read from its plan and the team files."""

    plan: dict[str, Any]
    team: str
    namespace: str
    member_group: str
    agent: str
    agent_tier: str
    other_tier: str
    opted_out_agent: tuple[str, str] | None  # (namespace, agent) of an agent without auto-instrumentation

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        for obj in kubernetes_objects(self.plan):
            if obj["kind"] == "Namespace" and obj["metadata"]["name"] == namespace:
                return {**obj["metadata"].get("labels", {}), "kubernetes.io/metadata.name": namespace}
        raise AssertionError(f"namespace {namespace} not in the plan")


def world(stack: str) -> World:
    plan = example_plan(stack)
    teams_dir = ROOT / "stacks" / "teams"
    files = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(teams_dir.glob("*.yaml"))}
    tiers = sorted({tier for info in plan["teams"].values() for tier in info["agents"].values()})
    assert len(tiers) >= 2, f"{stack}: the plan's agents use only the tiers {tiers}; the tier checks need two"
    team, info = next((t, i) for t, i in sorted(plan["teams"].items()) if i["agents"] and files[t].get("members"))
    agent, tier = sorted(info["agents"].items())[0]
    opted_out = None
    for name, spec in sorted(files.items()):
        for entry in spec.get("agents") or []:
            if entry.get("instrumentation") is False and name in plan["teams"]:
                opted_out = (plan["teams"][name]["namespace"], entry["name"])
    return World(
        plan,
        team,
        info["namespace"],
        files[team]["members"][0],
        agent,
        tier,
        next(t for t in tiers if t != tier),
        opted_out,
    )


def _pod(
    w: World, service_account: str, labels: dict[str, str], namespace: str | None = None, name: str = "agent-pod"
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace or w.namespace},
        "spec": {
            "serviceAccountName": service_account,
            "containers": [{"name": "app", "image": "registry.example/app:1"}],
        },
    }
    if labels:
        pod["metadata"]["labels"] = labels
    return pod


def _platform_issuer(w: World, policy: dict[str, Any]) -> str:
    def strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [t for v in value.values() for t in strings(v)]
        if isinstance(value, list):
            return [t for v in value for t in strings(v)]
        return [value] if isinstance(value, str) else []

    text = "\n".join(strings(policy["spec"]))  # the CEL expressions, where the issuer is a string literal
    names = [
        o["metadata"]["name"]
        for o in kubernetes_objects(w.plan)
        if o["kind"] == "ClusterIssuer" and f'"{o["metadata"]["name"]}"' in text
    ]
    assert len(names) == 1, f"the platform-CA policy names ClusterIssuers {names}; expected exactly one"
    return names[0]


def _certificate(w: World, issuer_ref: dict[str, str], name: str) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": w.namespace},
        "spec": {"secretName": name, "dnsNames": [f"{name}.{w.namespace}.svc"], "issuerRef": issuer_ref},
    }


def _service(w: World, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": w.namespace}, "spec": spec}


TENANT = lambda w: (w.member_group, "system:authenticated")  # noqa: E731
PLATFORM = ("platform-admins", "system:authenticated")

# policy name -> cases. Every ValidatingPolicy and MutatingPolicy in a plan must have an entry.
CASES: dict[tuple[str, str], Callable[[World, dict[str, Any]], list[Case]]] = {
    ("ValidatingPolicy", "agentplane-agent-labels"): lambda w, p: [
        Case(
            "agent pod with the platform's tier and agent labels",
            _pod(
                w, w.agent, {"agentplane.io/tier": w.agent_tier, "agentplane.io/agent": w.agent}, name="labelled-right"
            ),
            "pass",
            TENANT(w),
        ),
        Case(
            "agent pod claiming another tier",
            _pod(w, w.agent, {"agentplane.io/tier": w.other_tier, "agentplane.io/agent": w.agent}, name="wrong-tier"),
            "fail",
            TENANT(w),
        ),
        Case(
            "non-agent pod claiming to be the agent",
            _pod(w, "default", {"agentplane.io/tier": "restricted", "agentplane.io/agent": w.agent}, name="impostor"),
            "fail",
            TENANT(w),
        ),
    ],
    ("ValidatingPolicy", "agentplane-platform-ca"): lambda w, p: [
        Case(
            "certificate from the team's own Issuer",
            _certificate(w, {"kind": "Issuer", "name": "team-issuer"}, "own-issuer"),
            "pass",
            TENANT(w),
        ),
        Case(
            "certificate from the platform CA",
            _certificate(
                w, {"kind": "ClusterIssuer", "group": "cert-manager.io", "name": _platform_issuer(w, p)}, "platform-ca"
            ),
            "fail",
            TENANT(w),
        ),
    ],
    ("ValidatingPolicy", "agentplane-platform-metadata"): lambda w, p: [
        Case(
            "ServiceAccount without platform labels",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "plain", "namespace": w.namespace}},
            "pass",
            TENANT(w),
        ),
        Case(
            "ServiceAccount claiming an agent label",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": "claims-agent",
                    "namespace": w.namespace,
                    "labels": {"agentplane.io/agent": w.agent},
                },
            },
            "fail",
            TENANT(w),
        ),
    ],
    ("ValidatingPolicy", "agentplane-protect-policies"): lambda w, p: [
        Case(
            "tenant creates a Kyverno policy",
            {
                "apiVersion": "policies.kyverno.io/v1",
                "kind": "ValidatingPolicy",
                "metadata": {"name": "tenant-policy"},
                "spec": {"validations": [{"expression": "true"}]},
            },
            "fail",
            TENANT(w),
        ),
    ],
    ("ValidatingPolicy", "agentplane-service-routing"): lambda w, p: [
        Case(
            "ClusterIP Service selecting the team's pods",
            _service(w, "selects-pods", {"selector": {"app": "agent"}, "ports": [{"port": 80}]}),
            "pass",
            TENANT(w),
        ),
        Case(
            "ExternalName Service",
            _service(w, "external", {"type": "ExternalName", "externalName": "evil.example.com"}),
            "fail",
            TENANT(w),
        ),
        Case(
            "Endpoints written by a tenant",
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "hand-made", "namespace": w.namespace},
                "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 80}]}],
            },
            "fail",
            TENANT(w),
        ),
    ],
    ("MutatingPolicy", "agentplane-agent-labels"): lambda w, p: [
        Case(
            "agent pod gets its tier and agent labels",
            _pod(w, w.agent, {}, name="unlabelled"),
            "pass",
            TENANT(w),
            patched=_pod(
                w, w.agent, {"agentplane.io/tier": w.agent_tier, "agentplane.io/agent": w.agent}, name="unlabelled"
            ),
        ),
    ],
    ("MutatingPolicy", "agentplane-telemetry-opt-out"): lambda w, p: [
        Case(
            "opted-out agent's pod gets the no-injection annotation",
            _pod(w, w.opted_out_agent[1], {}, namespace=w.opted_out_agent[0], name="opted-out"),
            "pass",
            TENANT(w),
            patched={
                **_pod(w, w.opted_out_agent[1], {}, namespace=w.opted_out_agent[0], name="opted-out"),
                "metadata": {
                    "name": "opted-out",
                    "namespace": w.opted_out_agent[0],
                    "annotations": {"instrumentation.opentelemetry.io/inject-python": "false"},
                },
            },
        ),
    ],
}


def rendered_policies(stack: str) -> list[dict[str, Any]]:
    policies = [
        o
        for o in kubernetes_objects(example_plan(stack))
        if o["apiVersion"].startswith("policies.kyverno.io/") and o["kind"] in ("ValidatingPolicy", "MutatingPolicy")
    ]
    assert policies, f"{stack}: the plan renders no ValidatingPolicy or MutatingPolicy"
    return policies


@pytest.fixture(scope="module")
def kyverno() -> Path:
    return built(ORACLE).binary("kyverno")


def write_case(directory: Path, policy: dict[str, Any], case: Case, w: World) -> None:
    directory.mkdir(parents=True)
    (directory / "policy.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
    (directory / "resource.yaml").write_text(yaml.safe_dump(case.resource), encoding="utf-8")
    (directory / "user.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "cli.kyverno.io/v1alpha1",
                "kind": "UserInfo",
                "metadata": {"name": "requester"},
                "userInfo": {"username": TENANT_USER, "groups": list(case.groups)},
            }
        ),
        encoding="utf-8",
    )
    namespaces = sorted({o["metadata"]["name"] for o in kubernetes_objects(w.plan) if o["kind"] == "Namespace"})
    result: dict[str, Any] = {
        "policy": policy["metadata"]["name"],
        "kind": case.resource["kind"],
        "resources": [case.resource["metadata"]["name"]],
        "result": case.result,
    }
    if policy["kind"] == "ValidatingPolicy":
        result["isValidatingPolicy"] = True
    else:
        result["isMutatingPolicy"] = True
        assert case.patched is not None
        (directory / "patched.yaml").write_text(yaml.safe_dump(case.patched), encoding="utf-8")
        result["patchedResources"] = "patched.yaml"
    (directory / "kyverno-test.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "cli.kyverno.io/v1alpha1",
                "kind": "Test",
                "metadata": {"name": directory.name},
                "policies": ["policy.yaml"],
                "resources": ["resource.yaml"],
                "userinfo": "user.yaml",
                "values": {"namespaceSelector": [{"name": ns, "labels": w.namespace_labels(ns)} for ns in namespaces]},
                "results": [result],
            }
        ),
        encoding="utf-8",
    )


@pytest.mark.parametrize("stack", STACKS)
def test_kyverno_test_suites_for_every_rendered_policy(
    kyverno: Path, oracle_record, tmp_path: Path, stack: str
) -> None:
    w = world(stack)
    failures: list[str] = []
    missing = []
    ran = 0
    for policy in rendered_policies(stack):
        key = (policy["kind"], policy["metadata"]["name"])
        if key not in CASES:
            missing.append(f"{key[0]} {key[1]}")
            continue
        cases = CASES[key](w, policy)
        assert {c.result for c in cases if policy["kind"] == "ValidatingPolicy"} in (
            {"pass", "fail"},
            {"fail"},
            set(),
        ), key
        assert cases, key
        for index, case in enumerate(cases):
            directory = tmp_path / f"{key[1]}-{key[0].lower()}-{index}"
            write_case(directory, policy, case, w)
            proc = subprocess.run([str(kyverno), "test", str(directory)], capture_output=True, text=True, timeout=300)
            ran += 1
            ok = proc.returncode == 0 and "Test Summary: 1 tests passed and 0 tests failed" in proc.stdout
            oracle_record(ORACLE, f"kyverno test {key[0]}", ok)
            if not ok:
                failures.append(
                    f"{key[0]} {key[1]}: {case.what} (expected {case.result}):\n"
                    f"{proc.stdout[-2500:]}{proc.stderr[-1500:]}"
                )
    assert not missing, f"{stack}: no kyverno test cases for rendered {missing}: add good and bad resources to CASES"
    assert ran
    assert not failures, f"{stack}: " + "\n\n".join(failures)
