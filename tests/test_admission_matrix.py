"""Every Kyverno policy the platform renders, judged through the real matching rules.

For each ValidatingPolicy, MutatingPolicy and ImageValidatingPolicy of the staging plan, and for
every (apiGroup, resource or subresource, operation) its matchConstraints select, a good object
is admitted and a bad one refused (a mutation applied to the good object and withheld from the
bad one), through tests/support/admission_match.py (kubernetes/apiserver@v0.34.10 and
kyverno/kyverno@v1.19.0 matching, cited there). The same bad object under a near miss (another
version, a subresource the rule does not name, an operation it does not list, a platform
namespace) is not matched at all: matching is what these tests pin, not only the CEL.

A policy or a rule the table below does not know fails the census test: a new policy needs its
good and bad objects here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from agentplane import namespaces
from agentplane.builders import provenance as build
from tests import test_provenance_cel as k
from tests.support.plans import example_plan, kubernetes_objects

KINDS = ("ValidatingPolicy", "MutatingPolicy", "ImageValidatingPolicy")
# Requests the API server never sends: a subresource only written by UPDATE (pods/
# ephemeralcontainers is served for get, update and patch, kubernetes/kubernetes@v1.34.11:
# pkg/registry/core/pod/storage/storage.go EphemeralContainersREST).
NEVER_SENT = {("pods", "ephemeralcontainers", "CREATE")}
# The concrete resources behind a `*` of a rendered rule, with their kinds.
KYVERNO_POLICY_RESOURCES = {
    "policies.kyverno.io": [
        ("validatingpolicies", "ValidatingPolicy"),
        ("imagevalidatingpolicies", "ImageValidatingPolicy"),
        ("mutatingpolicies", "MutatingPolicy"),
        ("policyexceptions", "PolicyException"),
    ],
}
KIND_OF = {
    "pods": "Pod",
    "namespaces": "Namespace",
    "serviceaccounts": "ServiceAccount",
    "services": "Service",
    "endpoints": "Endpoints",
    "endpointslices": "EndpointSlice",
    "certificates": "Certificate",
    "certificaterequests": "CertificateRequest",
    "ingresses": "Ingress",
    "gateways": "Gateway",
    "listenersets": "ListenerSet",
    "clusterpolicies": "ClusterPolicy",
    "policies": "Policy",
    "policyexceptions": "PolicyException",
    "cleanuppolicies": "CleanupPolicy",
    "clustercleanuppolicies": "ClusterCleanupPolicy",
    "globalcontextentries": "GlobalContextEntry",
}
CLUSTER_SCOPED = {
    "namespaces",
    "clusterpolicies",
    "clustercleanuppolicies",
    "globalcontextentries",
    "validatingpolicies",
    "imagevalidatingpolicies",
    "mutatingpolicies",
}


@dataclass(frozen=True)
class Target:
    group: str
    version: str
    resource: str
    sub: str
    operation: str

    @property
    def kind(self) -> str:
        for resources in KYVERNO_POLICY_RESOURCES.values():
            for resource, kind in resources:
                if resource == self.resource:
                    return kind
        return KIND_OF[self.resource]

    def namespace(self, obj: dict | None) -> str:
        if self.resource == "namespaces":
            return obj["metadata"]["name"]
        return "" if self.resource in CLUSTER_SCOPED else obj["metadata"]["namespace"]

    def request(
        self,
        user,
        new: dict | None,
        old: dict | None,
        *,
        version: str | None = None,
        sub: str | None = None,
        operation: str | None = None,
    ) -> k.Request:
        obj = new if new is not None else old
        return k.Request(
            operation or self.operation,
            self.group,
            version or self.version,
            self.kind,
            self.resource,
            self.namespace(obj),
            user,
            new,
            old,
            self.sub if sub is None else sub,
        )


def rendered() -> list[dict]:
    found = [o for o in kubernetes_objects(example_plan(k.STACK)) if o["kind"] in KINDS]
    assert found, "the staging plan renders no Kyverno policies"
    return found


def _required(group: str, versions: str, resources: str, operations: str) -> list[Target]:
    return [
        Target(group, version, *(entry.partition("/")[::2]), operation)
        for version in versions.split()
        for entry in resources.split()
        for operation in operations.split()
    ]


PODS = _required("", "v1", "pods", "CREATE UPDATE")
# What each policy must judge, whatever its rules say (a rule that loses a version, a
# subresource or an operation fails here): the requests that would otherwise slip past it.
REQUIRED: dict[tuple[str, str], list[Target]] = {
    ("ValidatingPolicy", build.POLICY_AGENT_LABELS): PODS,
    ("MutatingPolicy", build.POLICY_AGENT_LABELS): _required("", "v1", "pods", "CREATE"),
    ("MutatingPolicy", build.POLICY_TELEMETRY_OPT_OUT): _required("", "v1", "pods", "CREATE"),
    # `kubectl debug` adds a container through UPDATE of pods/ephemeralcontainers
    ("ImageValidatingPolicy", build.provenance_policy_name("enforce")): PODS
    + _required("", "v1", "pods/ephemeralcontainers", "UPDATE"),
    ("ImageValidatingPolicy", build.provenance_policy_name("audit")): PODS
    + _required("", "v1", "pods/ephemeralcontainers", "UPDATE"),
    ("ValidatingPolicy", build.POLICY_PLATFORM_METADATA): _required(
        "", "v1", "namespaces serviceaccounts", "CREATE UPDATE"
    ),
    ("ValidatingPolicy", build.POLICY_PLATFORM_CA): [
        *_required("cert-manager.io", "v1", "certificates certificaterequests", "CREATE UPDATE"),
        *_required("networking.k8s.io", "v1", "ingresses", "CREATE UPDATE"),
        *_required("gateway.networking.k8s.io", "v1 v1beta1", "gateways", "CREATE UPDATE"),
        *_required("gateway.networking.k8s.io", "v1 v1alpha1", "listenersets", "CREATE UPDATE"),
    ],
    ("ValidatingPolicy", build.POLICY_GUARD): [
        *_required(
            "policies.kyverno.io",
            "v1 v1beta1 v1alpha1",
            "validatingpolicies imagevalidatingpolicies mutatingpolicies policyexceptions",
            "CREATE UPDATE DELETE",
        ),
        *_required("kyverno.io", "v1 v2 v2beta1", "clusterpolicies policies policyexceptions", "CREATE UPDATE DELETE"),
    ],
    ("ValidatingPolicy", build.POLICY_SERVICE_ROUTING): [
        *_required("", "v1", "services endpoints", "CREATE UPDATE"),
        *_required("discovery.k8s.io", "v1", "endpointslices", "CREATE UPDATE"),
    ],
}


def targets(policy_obj: dict) -> list[Target]:
    """Every concrete request a policy's resourceRules select, and those it is required to."""
    found = list(REQUIRED[(policy_obj["kind"], policy_obj["metadata"]["name"])])
    for rule in policy_obj["spec"]["matchConstraints"]["resourceRules"]:
        versions = ["v1"] if rule["apiVersions"] == ["*"] else rule["apiVersions"]
        for group in rule["apiGroups"]:
            for entry in rule["resources"]:
                resource, _, sub = entry.partition("/")
                concrete = [r for r, _ in KYVERNO_POLICY_RESOURCES[group]] if resource == "*" else [resource]
                for name in concrete:
                    for operation in rule["operations"]:
                        if (name, sub, operation) not in NEVER_SENT:
                            found += [Target(group, v, name, sub, operation) for v in versions]
    assert found, f"{policy_obj['metadata']['name']} selects nothing"
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------- good and bad objects


def _pod_case(t: Target, good: dict, bad: dict, user=k.TENANT_OWNER) -> tuple[k.Request, k.Request]:
    if t.operation == "CREATE":
        return t.request(user, good, None), t.request(user, bad, None)
    old = copy.deepcopy(good)
    return t.request(user, good, old), t.request(user, bad, old)


def agent_labels_validation(t: Target) -> tuple[k.Request, k.Request]:
    good = k.pod(service_account="invoice-triage", labels={k.TIER: "standard", k.AGENT: "invoice-triage"})
    bad = copy.deepcopy(good)
    bad["metadata"]["labels"][k.TIER] = "production"
    if t.operation == "UPDATE":  # only a change of platform metadata is sent to Kyverno
        good_new = copy.deepcopy(good)
        good_new["metadata"]["labels"]["app"] = "triage"
        return t.request(k.TENANT_OWNER, good_new, good), t.request(k.TENANT_OWNER, bad, good)
    return _pod_case(t, good, bad)


def platform_metadata(t: Target) -> tuple[k.Request, k.Request]:
    if t.resource == "namespaces" and t.operation == "CREATE":  # a namespace of the tenant's own
        good = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "scratch", "labels": {"cost-center": "42"}},
        }
    elif t.resource == "namespaces":
        good = k.namespace_object(k.namespace_labels()[k.TENANT])
    else:
        good = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "builder", "namespace": k.TENANT, "labels": {"app": "builder"}},
        }
    bad = copy.deepcopy(good)
    bad["metadata"].setdefault("labels", {})[k.TIER] = "production"
    old = copy.deepcopy(good) if t.operation == "UPDATE" else None
    if old is not None:
        good = copy.deepcopy(good)
        good["metadata"]["labels"]["cost-center"] = "42"
    return t.request(k.TENANT_OWNER, good, old), t.request(k.TENANT_OWNER, bad, old)


def platform_ca(t: Target) -> tuple[k.Request, k.Request]:
    if t.group == "cert-manager.io":
        good = k.certificate({"kind": "Issuer", "name": "payments-ca"}, t.kind)
        bad = k.certificate({"kind": "ClusterIssuer", "name": k.platform_ca_name()}, t.kind)
    else:
        good = k.ingress_like({"cert-manager.io/issuer": "payments-ca"}, t.kind).object
        bad = k.ingress_like({"cert-manager.io/cluster-issuer": k.platform_ca_name()}, t.kind).object
    old = copy.deepcopy(good) if t.operation == "UPDATE" else None
    return t.request(k.TENANT_OWNER, good, old), t.request(k.TENANT_OWNER, bad, old)


def protect_policies(t: Target) -> tuple[k.Request, k.Request]:
    """Every write by a tenant is refused; the same write by a platform admin goes through."""
    obj = {
        "apiVersion": f"{t.group}/{t.version}",
        "kind": t.kind,
        "metadata": {"name": "x", **({} if t.resource in CLUSTER_SCOPED else {"namespace": k.TENANT})},
        "spec": {},
    }
    new = None if t.operation == "DELETE" else obj
    old = None if t.operation == "CREATE" else obj
    return t.request(k.ADMIN, new, old), t.request(k.TENANT_OWNER, new, old)


def service_routing(t: Target) -> tuple[k.Request, k.Request]:
    if t.resource == "services":
        good, bad = k.service(k.OWN_SERVICE), k.service(k.EXTERNAL_NAME)
        old = k.service(k.OWN_SERVICE) if t.operation == "UPDATE" else None
        return t.request(k.TENANT_OWNER, good, old), t.request(k.TENANT_OWNER, bad, old)
    make = k.endpoints_request if t.resource == "endpoints" else k.endpoint_slice_request
    obj = make(k.TENANT_OWNER).object
    controller = {
        "username": "system:serviceaccount:kube-system:endpointslice-controller",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
    }
    if t.resource == "endpoints":
        controller = {**controller, "username": "system:serviceaccount:kube-system:endpoint-controller"}
    old = copy.deepcopy(obj) if t.operation == "UPDATE" else None
    return t.request(controller, obj, old), t.request(k.TENANT_OWNER, obj, old)


def provenance(mode: str) -> Callable[[Target], tuple[k.Request, k.Request]]:
    tier = "standard" if mode == "enforce" else "restricted"

    def build_case(t: Target) -> tuple[k.Request, k.Request]:
        running = k.labeled(tier, k.SIGNED)
        if t.sub == "ephemeralcontainers":
            good, _ = k.ephemeral_request(running, k.SIGNED)
            bad, _ = k.ephemeral_request(running, k.UNSIGNED)
            return t.request(k.TENANT_OWNER, good, running), t.request(k.TENANT_OWNER, bad, running)
        good, bad = k.labeled(tier, k.SIGNED), k.labeled(tier, k.UNSIGNED)
        return _pod_case(t, good, bad)

    return build_case


def agent_labels_mutation(t: Target) -> tuple[k.Request, k.Request]:
    good = k.pod(service_account="invoice-triage")
    bad = k.pod(service_account="refund-drafter", labels={k.TIER: "production"})
    return _pod_case(t, good, bad)


def telemetry_opt_out(t: Target) -> tuple[k.Request, k.Request]:
    return _pod_case(t, k.annotated_pod("support", "kb-answerer"), k.annotated_pod("support", "ticket-router"))


CASES: dict[tuple[str, str], Callable[[Target], tuple[k.Request, k.Request]]] = {
    ("ValidatingPolicy", build.POLICY_AGENT_LABELS): agent_labels_validation,
    ("ValidatingPolicy", build.POLICY_PLATFORM_METADATA): platform_metadata,
    ("ValidatingPolicy", build.POLICY_PLATFORM_CA): platform_ca,
    ("ValidatingPolicy", build.POLICY_GUARD): protect_policies,
    ("ValidatingPolicy", build.POLICY_SERVICE_ROUTING): service_routing,
    ("ImageValidatingPolicy", build.provenance_policy_name("enforce")): provenance("enforce"),
    ("ImageValidatingPolicy", build.provenance_policy_name("audit")): provenance("audit"),
    ("MutatingPolicy", build.POLICY_AGENT_LABELS): agent_labels_mutation,
    ("MutatingPolicy", build.POLICY_TELEMETRY_OPT_OUT): telemetry_opt_out,
}


def judge(policy_obj: dict, request: k.Request) -> k.Outcome:
    kind, name = policy_obj["kind"], policy_obj["metadata"]["name"]
    if kind == "ImageValidatingPolicy":
        mode = "enforce" if name == build.provenance_policy_name("enforce") else "audit"
        return k.verify(mode, request.object, ivpol=policy_obj, request=request)
    return k.run(policy_obj, request)


def mutated(policy_obj: dict, request: k.Request) -> dict:
    if policy_obj["metadata"]["name"] == build.POLICY_AGENT_LABELS:
        return k.mutate(request)
    return k.opt_out(request)[0]


def all_cases() -> list[tuple[str, Target]]:
    found = [(f"{p['kind']}/{p['metadata']['name']}", t) for p in rendered() for t in targets(p)]
    assert found
    return found


def _policy(key: str) -> dict:
    kind, name = key.split("/")
    return k.policy(kind, name)


def test_every_rendered_policy_has_good_and_bad_objects():
    names = {(p["kind"], p["metadata"]["name"]) for p in rendered()}
    assert names == set(CASES) == set(REQUIRED), (
        f"policies without admission cases: {sorted(names - set(CASES))}; stale: {sorted(set(CASES) - names)}"
    )
    assert {kind for kind, _ in names} == set(KINDS)


@pytest.mark.parametrize(
    ("key", "target"),
    all_cases(),
    ids=lambda v: (
        v if isinstance(v, str) else f"{v.group or 'core'}-{v.resource}{'/' + v.sub if v.sub else ''}-{v.operation}"
    ),
)
def test_good_object_admitted_and_bad_object_refused(key, target):
    policy_obj = _policy(key)
    good, bad = CASES[(policy_obj["kind"], policy_obj["metadata"]["name"])](target)
    if policy_obj["kind"] == "MutatingPolicy":
        assert k.run(policy_obj, good).matched, "the mutation must reach the good pod"
        stored = mutated(policy_obj, good)
        assert stored != good.object, "the good pod is mutated"
        # reinvocationPolicy IfNeeded runs the mutation again on its own output when another
        # mutation changed the object; checked for both values so switching to IfNeeded is safe.
        assert policy_obj["spec"]["reinvocationPolicy"] in ("Never", "IfNeeded")
        assert mutated(policy_obj, _with(good, object=copy.deepcopy(stored))) == stored
        spoiled = mutated(policy_obj, bad)
        if policy_obj["metadata"]["name"] == build.POLICY_AGENT_LABELS:
            # the tenant's own tier label is never overwritten; the ValidatingPolicy refuses it
            assert spoiled["metadata"]["labels"][k.TIER] == "production"
            assert k.run(
                k.policy("ValidatingPolicy", build.POLICY_AGENT_LABELS), k.pod_request(spoiled, user=k.TENANT_OWNER)
            ).refused
        else:
            assert spoiled == bad.object, "a pod of an instrumented agent is left alone"
        return
    good_outcome, bad_outcome = judge(policy_obj, good), judge(policy_obj, bad)
    assert not good_outcome.refused and not good_outcome.denied, good_outcome.failures
    assert bad_outcome.matched and bad_outcome.denied, f"the bad object is not caught: {bad_outcome}"
    if "Deny" in policy_obj["spec"]["validationActions"]:
        assert bad_outcome.refused
    else:  # Audit: admitted and reported
        assert policy_obj["spec"]["validationActions"] == ["Audit"] and not bad_outcome.refused


@pytest.mark.parametrize(
    ("key", "target"),
    all_cases(),
    ids=lambda v: (
        v if isinstance(v, str) else f"{v.group or 'core'}-{v.resource}{'/' + v.sub if v.sub else ''}-{v.operation}"
    ),
)
def test_near_misses_of_the_bad_object_are_not_matched(key, target):
    """The bad object under a request the rule does not select never reaches the CEL."""
    policy_obj = _policy(key)
    _, bad = CASES[(policy_obj["kind"], policy_obj["metadata"]["name"])](target)
    rules = policy_obj["spec"]["matchConstraints"]["resourceRules"]
    selects = [r for r in rules if target.group in r["apiGroups"]]
    misses: list[k.Request] = []
    if all(r["apiVersions"] != ["*"] for r in selects):
        misses.append(_with(bad, version="v1beta1"))
    if not any(f"{target.resource}/*" in r["resources"] or "*/*" in r["resources"] for r in selects):
        misses.append(_with(bad, sub_resource="status" if target.sub != "status" else "scale"))
    unlisted = [
        op
        for op in ("CREATE", "UPDATE", "DELETE", "CONNECT")
        if not any(op in r["operations"] or "*" in r["operations"] for r in selects)
    ]
    misses += [_with(bad, operation=op) for op in unlisted]
    selector = policy_obj["spec"]["matchConstraints"].get("namespaceSelector")
    if selector and bad.namespace and target.resource != "namespaces":
        misses.append(_moved(bad, namespaces.GATEWAY))
    assert misses, "a near miss exists for every target"
    for miss in misses:
        assert not k.rules_match(policy_obj["spec"], miss), miss


def _with(request: k.Request, **changes: Any) -> k.Request:
    fields = {**request.__dict__, **changes}
    return k.Request(**fields)


def _moved(request: k.Request, namespace: str) -> k.Request:
    def move(obj: dict | None) -> dict | None:
        if obj is None:
            return None
        moved = copy.deepcopy(obj)
        moved["metadata"]["namespace"] = namespace
        return moved

    return _with(request, namespace=namespace, object=move(request.object), old_object=move(request.old_object))
