"""The Kyverno policies' CEL, evaluated on sample admission requests.

The policies are taken from the staging plan exactly as the program registers them. A small
admission harness does what Kyverno does before and around the CEL: match the resource rules
and the namespaceSelector, evaluate matchConditions, then variables in order, then the
validations (or the mutation's apply configuration). CEL is evaluated with the
`common-expression-language` package; Kyverno's image functions (verifyImageSignatures,
verifyAttestationSignatures, extractPayload) are stubbed with a fake registry, so the
provenance rules are exercised for real on signed, unsigned and mis-attested images.

staging: tiers restricted (audit) < standard (enforce) < production (enforce); payments'
invoice-triage is promoted to standard, refund-drafter is not; support's ticket-router is
promoted to standard.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cel
import cel.stdlib
import pytest

from agentplane import namespaces
from agentplane.builders import provenance as build
from agentplane.config.sections.provenance import SLSA_PROVENANCE_V1
from tests.support.admission_match import Attributes, UnknownField, closed, match_resources
from tests.support.plans import example_plan, kubernetes_objects

STACK = "staging"
TENANT = "payments"
ADMIN = {"username": "oidc:alice", "groups": ["platform-admins", "system:authenticated"]}
DEPLOYER = {"username": "ci-deploy", "groups": ["agentplane-deployers", "system:authenticated"]}
TENANT_OWNER = {"username": "oidc:bob", "groups": ["payments-admins", "system:authenticated"]}
REPLICASET_CONTROLLER = {
    "username": "system:serviceaccount:kube-system:replicaset-controller",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
}
KYVERNO_SA = {
    "username": "system:serviceaccount:kyverno:kyverno-background-controller",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:kyverno", "system:authenticated"],
}
TIER, AGENT = "agentplane.io/tier", "agentplane.io/agent"


# --------------------------------------------------------------------------- the harness


def _policies() -> dict[tuple[str, str], dict]:
    return {
        (o["kind"], o["metadata"]["name"]): o
        for o in kubernetes_objects(example_plan(STACK))
        if o["apiVersion"].startswith("policies.kyverno.io/")
    }


def policy(kind: str, name: str) -> dict:
    return _policies()[(kind, name)]


def namespace_labels() -> dict[str, dict[str, str]]:
    """Labels of every namespace the plan declares, plus the API server's name label."""
    found = {}
    for obj in kubernetes_objects(example_plan(STACK)):
        if obj["kind"] == "Namespace":
            name = obj["metadata"]["name"]
            found[name] = {**obj["metadata"].get("labels", {}), "kubernetes.io/metadata.name": name}
    found.setdefault("kube-system", {"kubernetes.io/metadata.name": "kube-system"})
    return found


@dataclass
class Request:
    operation: str
    group: str
    version: str
    kind: str
    resource: str
    namespace: str
    user: Mapping[str, Any]
    object: dict | None = None
    old_object: dict | None = None
    sub_resource: str = ""

    @property
    def name(self) -> str:
        obj = self.object if self.object is not None else self.old_object
        return ((obj or {}).get("metadata") or {}).get("name", "")

    def as_cel(self) -> dict:
        return {
            "operation": self.operation,
            "namespace": self.namespace,
            "name": self.name,
            "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            "resource": {"group": self.group, "version": self.version, "resource": self.resource},
            "subResource": self.sub_resource,
            "userInfo": dict(self.user),
        }

    def attributes(self) -> Attributes:
        return Attributes(
            self.operation,
            self.group,
            self.version,
            self.resource,
            self.namespace,
            self.object,
            self.old_object,
            self.sub_resource,
            self.name,
            namespace_labels(),
        )


def rules_match(spec: Mapping[str, Any], request: Request) -> bool:
    """matchConstraints as Kyverno matches them (tests/support/admission_match.py: namespace and
    object selectors, excludeResourceRules, resourceRules with resourceNames; cited there)."""
    return match_resources(spec["matchConstraints"], request.attributes())


# Every spec field of the three kinds at kyverno/kyverno@v1.19.0:config/crds/policies.kyverno.io/
# policies.kyverno.io_{validating,mutating,imagevalidating}policies.yaml, with what the harness
# does with it. A field not listed (auditAnnotations, credentials, images, targetMatchConstraints,
# targetMatchConditions, ...) fails the test that hands such a policy to the harness.
_COMMON = {
    "matchConstraints",
    "matchConditions",
    "variables",
    "failurePolicy",
    "evaluation",
    "autogen",
    "webhookConfiguration",
}
SPEC_FIELDS = {
    "ValidatingPolicy": _COMMON | {"validations", "validationActions"},
    "ImageValidatingPolicy": _COMMON
    | {
        "validations",
        "validationActions",
        "matchImageReferences",
        "attestors",
        "attestations",
        "validationConfigurations",
    },
    "MutatingPolicy": _COMMON | {"mutations", "reinvocationPolicy"},
}
_EVALUATION = {
    "ValidatingPolicy": {"admission", "background"},
    "ImageValidatingPolicy": {"admission", "background"},
    "MutatingPolicy": {"admission", "background", "mutateExisting"},
}
VALIDATION_ACTIONS = {"Deny", "Audit", "Warn"}


def can_autogen(match: Mapping[str, Any]) -> bool:
    selector = match.get("objectSelector") or {}
    if selector.get("matchLabels") or selector.get("matchExpressions") or match.get("excludeResourceRules"):
        return False
    rules = match.get("resourceRules") or []
    if len(rules) != 1 or rules[0].get("resourceNames"):
        return False
    return rules[0]["apiGroups"] == [""] and rules[0]["apiVersions"] == ["v1"] and rules[0]["resources"] == ["pods"]


def check_policy(policy_obj: Mapping[str, Any]) -> None:
    """Reject what the harness would otherwise silently ignore (UnknownField names the field)."""
    kind, name = policy_obj["kind"], policy_obj["metadata"]["name"]
    if kind not in SPEC_FIELDS:
        raise UnknownField(f"{kind} {name}: kind not modelled")
    spec, where = policy_obj["spec"], f"{kind} {name}.spec"
    closed(spec, SPEC_FIELDS[kind], where)
    if spec.get("failurePolicy", "Fail") not in ("Fail", "Ignore"):
        raise UnknownField(f"{where}.failurePolicy: {spec['failurePolicy']!r}")
    evaluation = spec.get("evaluation") or {}
    closed(evaluation, _EVALUATION[kind], f"{where}.evaluation")
    for key, value in evaluation.items():
        closed(value, {"enabled"}, f"{where}.evaluation.{key}")
    # background scans and mutateExisting act outside admission; the harness judges admission
    # requests only, so those two are interpreted as "not this harness's concern" and admission
    # disabled means nothing is judged at admission (run() returns not matched).
    closed(spec.get("webhookConfiguration") or {}, {"timeoutSeconds"}, f"{where}.webhookConfiguration")
    autogen = spec.get("autogen")
    if autogen is not None:
        closed(autogen, {"podControllers"}, f"{where}.autogen")
        closed(autogen["podControllers"], {"controllers"}, f"{where}.autogen.podControllers")
    # Kyverno generates rules for Deployments, Jobs, ... from a policy that CanAutoGen accepts
    # (exactly one rule, group "", version v1, resource pods, no names, no exclusions, no
    # objectSelector: kyverno/kyverno@v1.19.0:pkg/cel/autogen/support.go), for every controller
    # unless podControllers.controllers is set (pkg/cel/policies/vpol/autogen/autogen.go: nil
    # means all). Those generated rules are not modelled, so such a policy must name none.
    if can_autogen(spec["matchConstraints"]) and (
        autogen is None or autogen["podControllers"].get("controllers") != []
    ):
        raise UnknownField(f"{where}.autogen: pod-controller rules are generated, the harness does not model them")
    if kind == "MutatingPolicy":
        if spec.get("reinvocationPolicy") not in ("Never", "IfNeeded"):
            raise UnknownField(f"{where}.reinvocationPolicy: {spec.get('reinvocationPolicy')!r} (Never or IfNeeded)")
        for mutation in spec["mutations"]:
            closed(mutation, {"patchType", "applyConfiguration"}, f"{where}.mutations[]")
            if mutation["patchType"] != "ApplyConfiguration":
                raise UnknownField(f"{where}.mutations[].patchType {mutation['patchType']!r} not modelled")
            closed(mutation["applyConfiguration"], {"expression"}, f"{where}.mutations[].applyConfiguration")
    else:
        actions = spec.get("validationActions") or []
        if not actions or set(actions) - VALIDATION_ACTIONS:
            raise UnknownField(f"{where}.validationActions: {actions!r} (one or more of {sorted(VALIDATION_ACTIONS)})")
        for validation in spec.get("validations") or []:
            closed(validation, {"expression", "message", "messageExpression", "reason"}, f"{where}.validations[]")
    for condition in spec.get("matchConditions") or []:
        closed(condition, {"name", "expression"}, f"{where}.matchConditions[]")
    for variable in spec.get("variables") or []:
        closed(variable, {"name", "expression"}, f"{where}.variables[]")


def evaluate(expression: str, activation: Mapping[str, Any], functions: Mapping[str, Callable] | None = None) -> Any:
    context = cel.Context()
    cel.stdlib.add_stdlib_to_context(context)
    for name, value in activation.items():
        context.add_variable(name, value)
    for name, function in (functions or {}).items():
        context.add_function(name, function)
    return cel.evaluate(expression, context)


@dataclass
class Outcome:
    matched: bool
    failures: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    actions: tuple[str, ...] = ()

    @property
    def denied(self) -> bool:
        """A validation failed (what the request then meets depends on `actions`)."""
        return self.matched and bool(self.failures)

    @property
    def refused(self) -> bool:
        """The API server refuses the request: a validation failed and the policy's
        validationActions include Deny (Audit reports, Warn warns, both admit)."""
        return self.denied and "Deny" in self.actions

    @property
    def passed(self) -> bool:
        """Matched and every validation held (not merely "not matched")."""
        return self.matched and not self.failures


def run(
    policy_obj: Mapping[str, Any],
    request: Request,
    *,
    extra: Mapping[str, Any] | None = None,
    functions: Mapping[str, Callable] | None = None,
) -> Outcome:
    """What Kyverno decides for one policy: not matched, or the message of the first failed
    validation (validations run in order, so a later one may rely on an earlier one: the
    provenance rules read an attestation only after it was verified).

    Order, from kyverno/kyverno@v1.19.0:pkg/cel/policies/vpol/compiler/policy.go (match
    conditions, then variables lazily, then validations in order, stopping at the first that
    fails) on top of pkg/cel/matching/matcher.go (matchConstraints). A match condition that is
    false means not matched; one that errors is a test failure here (the request would meet
    failurePolicy), never a silent pass."""
    check_policy(policy_obj)
    spec = policy_obj["spec"]
    if not ((spec.get("evaluation") or {}).get("admission") or {}).get("enabled", True):
        return Outcome(matched=False)
    if not rules_match(spec, request):
        return Outcome(matched=False)
    # Kyverno 1.19 hands CEL an empty map, not null, for the object a request lacks (oldObject on
    # CREATE, object on DELETE): its engine passes &unstructured.Unstructured{} to the admission
    # attributes (kyverno/kyverno@v1.19.0:pkg/cel/policies/vpol/engine/engine.go, ExtractResources),
    # which kyverno/sdk's ObjectToResolveVal converts to {} (extensions/cel/utils/convert.go).
    activation = {
        "object": request.object if request.object is not None else {},
        "oldObject": request.old_object if request.old_object is not None else {},
        "request": request.as_cel(),
        **(extra or {}),
    }
    for condition in spec.get("matchConditions") or []:
        result = evaluate(condition["expression"], activation, functions)
        assert isinstance(result, bool), f"matchCondition {condition['name']} returned {result!r}, not a bool"
        if not result:
            return Outcome(matched=False)
    variables: dict[str, Any] = {}
    for variable in spec.get("variables") or []:
        variables[variable["name"]] = evaluate(
            variable["expression"], {**activation, "variables": variables}, functions
        )
    activation = {**activation, "variables": variables}
    failures = []
    for validation in spec.get("validations") or []:
        result = evaluate(validation["expression"], activation, functions)
        assert isinstance(result, bool), validation["expression"]
        if not result:
            message = validation.get("message")
            if "messageExpression" in validation:
                message = evaluate(validation["messageExpression"], activation, functions)
                assert isinstance(message, str) and "\n" not in message
            failures.append(message)
            break  # Kyverno reports the first failed validation (and never evaluates the rest)
    return Outcome(
        matched=True, failures=failures, variables=variables, actions=tuple(spec.get("validationActions") or ())
    )


def mutate(pod_request: Request) -> dict:
    """The pod as it leaves agentplane-agent-labels (MutatingPolicy): the apply configuration's
    labels merged into the pod's (Kubernetes' structured merge of a map of strings)."""
    mutation = policy("MutatingPolicy", build.POLICY_AGENT_LABELS)
    outcome = run(mutation, pod_request)
    pod = copy.deepcopy(pod_request.object)
    if not outcome.matched:
        return pod
    expression = mutation["spec"]["mutations"][0]["applyConfiguration"]["expression"]
    # The apply configuration only wraps a variable; the logic under test is in the variable.
    assert expression.strip() == "Object{metadata: Object.metadata{labels: variables.platformLabels}}"
    pod.setdefault("metadata", {}).setdefault("labels", {}).update(outcome.variables["platformLabels"])
    return pod


def pod(
    namespace: str = TENANT,
    service_account: str | None = None,
    labels: dict | None = None,
    images: tuple[str, ...] = ("ghcr.io/acme/agent@sha256:" + "a" * 64,),
    init_images: tuple[str, ...] = (),
) -> dict:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    if init_images:
        spec["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init_images)]
    if service_account:
        spec["serviceAccountName"] = service_account
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": namespace, **({"labels": labels} if labels else {})},
        "spec": spec,
    }


def pod_request(
    obj: dict, *, user=REPLICASET_CONTROLLER, operation: str = "CREATE", old: dict | None = None
) -> Request:
    return Request(operation, "", "v1", "Pod", "pods", obj["metadata"]["namespace"], user, obj, old)


def admit_pod(obj: dict, *, user=REPLICASET_CONTROLLER) -> tuple[dict, Outcome]:
    """Mutation, then validation (the order of admission): the stored pod and the validation outcome."""
    mutated = mutate(pod_request(obj, user=user))
    return mutated, run(policy("ValidatingPolicy", build.POLICY_AGENT_LABELS), pod_request(mutated, user=user))


# --------------------------------------------------------------------------- tier labels


def test_promoted_agent_pod_gets_its_promoted_tier_and_is_admitted():
    stored, outcome = admit_pod(pod(service_account="invoice-triage"))
    assert stored["metadata"]["labels"] == {TIER: "standard", AGENT: "invoice-triage"}
    assert outcome.passed


def test_unpromoted_agent_pod_runs_at_the_lowest_tier():
    stored, outcome = admit_pod(pod(service_account="refund-drafter"))
    assert stored["metadata"]["labels"] == {TIER: "restricted", AGENT: "refund-drafter"}
    assert outcome.passed


def test_pod_of_a_non_agent_service_account_gets_the_lowest_tier_and_no_agent_label():
    for service_account in (None, "builder"):  # None: the `default` ServiceAccount
        stored, outcome = admit_pod(pod(service_account=service_account))
        assert stored["metadata"]["labels"] == {TIER: "restricted"}
        assert outcome.passed


def test_an_agent_of_another_team_is_not_an_agent_here():
    # ticket-router is support's agent; a ServiceAccount of that name in payments is not.
    stored, _ = admit_pod(pod(service_account="ticket-router"))
    assert stored["metadata"]["labels"] == {TIER: "restricted"}
    stored, _ = admit_pod(pod(namespace="support", service_account="ticket-router"))
    assert stored["metadata"]["labels"] == {TIER: "standard", AGENT: "ticket-router"}


def test_tenant_setting_a_higher_tier_label_is_denied_not_silently_rewritten():
    stored, outcome = admit_pod(pod(service_account="refund-drafter", labels={TIER: "production"}))
    assert stored["metadata"]["labels"][TIER] == "production"  # the mutation never overwrites
    assert outcome.denied
    assert "run at tier restricted" in outcome.failures[0] and "team file" in outcome.failures[0]


def test_tenant_setting_the_tier_label_directly_is_denied_too():
    obj = pod(service_account="refund-drafter", labels={TIER: "standard"})
    outcome = run(policy("ValidatingPolicy", build.POLICY_AGENT_LABELS), pod_request(obj, user=TENANT_OWNER))
    assert outcome.denied


def test_the_value_the_platform_would_set_is_accepted():
    # A Deployment template that repeats the platform's own labels (e.g. in its selector) works.
    _, outcome = admit_pod(pod(service_account="invoice-triage", labels={TIER: "standard", AGENT: "invoice-triage"}))
    assert outcome.passed


def test_agent_label_on_a_pod_that_is_not_the_agent_is_denied():
    _, outcome = admit_pod(pod(service_account="builder", labels={AGENT: "invoice-triage"}))
    assert outcome.denied
    assert "not an agent" in outcome.failures[0]


def test_other_platform_labels_and_annotations_are_denied_on_create():
    _, outcome = admit_pod(pod(service_account="invoice-triage", labels={"agentplane.io/tenant": "research"}))
    assert outcome.denied and "platform-owned" in outcome.failures[0]
    obj = pod(service_account="invoice-triage")
    obj["metadata"]["annotations"] = {"agentplane.io/budget": "unlimited", "team.example/owner": "bob"}
    _, outcome = admit_pod(obj)
    assert outcome.denied


def test_changing_the_tier_label_of_a_running_pod_is_denied_and_other_updates_pass():
    old, _ = admit_pod(pod(service_account="refund-drafter"))
    validation = policy("ValidatingPolicy", build.POLICY_AGENT_LABELS)

    promoted = copy.deepcopy(old)
    promoted["metadata"]["labels"][TIER] = "production"
    outcome = run(validation, pod_request(promoted, user=TENANT_OWNER, operation="UPDATE", old=old))
    assert outcome.denied and "cannot be changed" in outcome.failures[0]

    removed = copy.deepcopy(old)
    del removed["metadata"]["labels"][AGENT]
    assert run(validation, pod_request(removed, user=TENANT_OWNER, operation="UPDATE", old=old)).denied

    # An UPDATE that leaves the platform's labels and annotations alone is not even sent to
    # Kyverno (a match condition the API server evaluates): with Kyverno down, finalizers can
    # still be removed and team labels changed.
    relabeled = copy.deepcopy(old)
    relabeled["metadata"]["labels"]["app"] = "refunds"
    relabeled["metadata"]["finalizers"] = []
    assert not run(validation, pod_request(relabeled, user=TENANT_OWNER, operation="UPDATE", old=old)).matched
    annotated = copy.deepcopy(old)
    annotated["metadata"]["annotations"] = {"agentplane.io/budget": "unlimited"}
    assert run(validation, pod_request(annotated, user=TENANT_OWNER, operation="UPDATE", old=old)).denied


CERT_MANAGER_SA = {
    "username": "system:serviceaccount:cert-manager:cert-manager",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:cert-manager", "system:authenticated"],
}


def test_pods_a_platform_service_account_creates_are_judged_like_any_other():
    """cert-manager copies an Issuer's http01 solver pod template (labels and all) onto the ACME
    solver pods it creates in the tenant's namespace: whoever creates the pod, labels the tenant
    chose are refused."""
    solver = pod(service_account=None, labels={TIER: "production", AGENT: "invoice-triage"})
    stored, outcome = admit_pod(solver, user=CERT_MANAGER_SA)
    assert outcome.denied and "run at tier restricted" in outcome.failures[0]
    _, outcome = admit_pod(pod(service_account=None), user=CERT_MANAGER_SA)
    assert outcome.passed


def test_platform_admin_may_relabel_a_pod():
    old, _ = admit_pod(pod(service_account="refund-drafter"))
    quarantined = copy.deepcopy(old)
    quarantined["metadata"]["labels"][TIER] = "restricted-quarantine"
    validation = policy("ValidatingPolicy", build.POLICY_AGENT_LABELS)
    assert not run(validation, pod_request(quarantined, user=ADMIN, operation="UPDATE", old=old)).matched
    assert run(validation, pod_request(quarantined, user=TENANT_OWNER, operation="UPDATE", old=old)).denied


def test_pods_in_platform_namespaces_are_not_matched():
    for ns in (namespaces.GATEWAY, namespaces.POLICY, "kube-system"):
        obj = pod(namespace=ns, labels={TIER: "production"})
        request = pod_request(obj, user=TENANT_OWNER)
        assert not run(policy("MutatingPolicy", build.POLICY_AGENT_LABELS), request).matched
        assert not run(policy("ValidatingPolicy", build.POLICY_AGENT_LABELS), request).matched
        for mode in ("enforce", "audit"):
            assert not run(policy("ImageValidatingPolicy", build.provenance_policy_name(mode)), request).matched


# --------------------------------------------------------------------------- namespaces and ServiceAccounts


def namespace_object(labels: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TENANT, "labels": labels}}


def namespace_request(new: dict, old: dict, user) -> Request:
    return Request("UPDATE", "", "v1", "Namespace", "namespaces", new["metadata"]["name"], user, new, old)


def test_tenant_changing_its_namespace_tier_is_denied_and_admin_allowed():
    metadata_policy = policy("ValidatingPolicy", build.POLICY_PLATFORM_METADATA)
    old = namespace_object(namespace_labels()[TENANT])
    promoted = copy.deepcopy(old)
    promoted["metadata"]["labels"][TIER] = "production"

    outcome = run(metadata_policy, namespace_request(promoted, old, TENANT_OWNER))
    assert outcome.denied
    assert "platform-owned" in outcome.failures[0] and "Namespace payments" in outcome.failures[0]
    for platform in (ADMIN, DEPLOYER, {"username": "kubernetes-admin", "groups": ["system:masters"]}):
        assert not run(metadata_policy, namespace_request(promoted, old, platform)).matched


def test_tenant_cannot_weaken_pod_security_or_claim_another_tenant():
    metadata_policy = policy("ValidatingPolicy", build.POLICY_PLATFORM_METADATA)
    old = namespace_object(namespace_labels()[TENANT])
    for change in ({"pod-security.kubernetes.io/enforce": "privileged"}, {"agentplane.io/tenant": "research"}):
        new = copy.deepcopy(old)
        new["metadata"]["labels"].update(change)
        assert run(metadata_policy, namespace_request(new, old, TENANT_OWNER)).denied
    removed = copy.deepcopy(old)
    del removed["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
    assert run(metadata_policy, namespace_request(removed, old, TENANT_OWNER)).denied
    unrelated = copy.deepcopy(old)
    unrelated["metadata"]["labels"]["cost-center"] = "42"
    assert run(metadata_policy, namespace_request(unrelated, old, TENANT_OWNER)).passed


def test_tenant_cannot_label_its_own_service_account_with_a_tier():
    metadata_policy = policy("ValidatingPolicy", build.POLICY_PLATFORM_METADATA)
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": TENANT, "labels": {TIER: "production"}},
    }
    create = Request("CREATE", "", "v1", "ServiceAccount", "serviceaccounts", TENANT, TENANT_OWNER, sa, None)
    assert run(metadata_policy, create).denied
    plain_sa = copy.deepcopy(sa)
    plain_sa["metadata"]["labels"] = {"app": "builder"}
    assert run(
        metadata_policy,
        Request("CREATE", "", "v1", "ServiceAccount", "serviceaccounts", TENANT, TENANT_OWNER, plain_sa, None),
    ).passed


# --------------------------------------------------------------------------- policies and exceptions


def exception_request(group: str, user, operation: str = "CREATE") -> Request:
    obj = {
        "apiVersion": f"{group}/v1",
        "kind": "PolicyException",
        "metadata": {"name": "skip-provenance", "namespace": TENANT},
        "spec": {"policyRefs": [{"name": "agentplane-provenance-enforce", "kind": "ImageValidatingPolicy"}]},
    }
    return Request(
        operation,
        group,
        "v1",
        "PolicyException",
        "policyexceptions",
        TENANT,
        user,
        None if operation == "DELETE" else obj,
        obj if operation != "CREATE" else None,
    )


@pytest.mark.parametrize("group", ["policies.kyverno.io", "kyverno.io"])
def test_tenant_creating_a_policy_exception_is_denied(group):
    outcome = run(policy("ValidatingPolicy", build.POLICY_GUARD), exception_request(group, TENANT_OWNER))
    assert outcome.denied
    assert outcome.failures == [
        "Kyverno policies and policy exceptions are platform-owned: oidc:bob may not create PolicyException; "
        "ask the platform admins for an exception (they are honoured only in namespace kyverno)"
    ]


@pytest.mark.parametrize("user", [ADMIN, DEPLOYER, KYVERNO_SA])
def test_platform_admins_and_platform_service_accounts_may_manage_exceptions(user):
    for operation in ("CREATE", "UPDATE", "DELETE"):
        assert not run(
            policy("ValidatingPolicy", build.POLICY_GUARD), exception_request("policies.kyverno.io", user, operation)
        ).matched


def test_tenant_cannot_edit_or_delete_platform_policies():
    guard = policy("ValidatingPolicy", build.POLICY_GUARD)
    target = policy("ImageValidatingPolicy", build.provenance_policy_name("enforce"))
    for operation in ("UPDATE", "DELETE"):
        request = Request(
            operation,
            "policies.kyverno.io",
            "v1",
            "ImageValidatingPolicy",
            "imagevalidatingpolicies",
            "",
            TENANT_OWNER,
            None if operation == "DELETE" else target,
            target,
        )
        assert run(guard, request).denied
    legacy = Request(
        "CREATE",
        "kyverno.io",
        "v1",
        "ClusterPolicy",
        "clusterpolicies",
        "",
        TENANT_OWNER,
        {"kind": "ClusterPolicy"},
        None,
    )
    assert run(guard, legacy).denied


def test_guard_does_not_catch_unrelated_kinds():
    guard = policy("ValidatingPolicy", build.POLICY_GUARD)
    configmap = Request(
        "CREATE", "", "v1", "ConfigMap", "configmaps", TENANT, TENANT_OWNER, {"kind": "ConfigMap"}, None
    )
    assert not run(guard, configmap).matched


# --------------------------------------------------------------------------- image provenance

SIGNED = "ghcr.io/acme/invoice-triage@sha256:" + "1" * 64
UNSIGNED = "docker.io/library/python:3.12"
FOREIGN_BUILDER = "ghcr.io/acme/scraper@sha256:" + "2" * 64
FOREIGN_SOURCE = "ghcr.io/acme/forked@sha256:" + "3" * 64
VIA_DEPENDENCIES = "ghcr.io/acme/other-builder@sha256:" + "4" * 64
UNATTESTED = "ghcr.io/acme/no-provenance@sha256:" + "5" * 64
SIGNED_BY_TAG = "ghcr.io/acme/invoice-triage:v1.2.0"
INJECTED = "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-python:0.50b0"


def statement(builder: str, repository: str | None = None, dependency: str | None = None) -> dict:
    definition: dict[str, Any] = {
        "buildType": "https://actions.github.io/buildtypes/workflow/v1",
        "externalParameters": {},
    }
    if repository:
        definition["externalParameters"]["workflow"] = {
            "repository": repository,
            "path": ".github/workflows/release.yml",
            "ref": "refs/tags/v1.2.0",
        }
    if dependency:
        definition["resolvedDependencies"] = [{"uri": dependency, "digest": {"gitCommit": "f" * 40}}]
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {"buildDefinition": definition, "runDetails": {"builder": {"id": builder}}},
    }


GITHUB_HOSTED = "https://github.com/actions/runner/github-hosted"
# image -> (verified signature, verified attestation, in-toto statement)
REGISTRY = {
    SIGNED: (True, True, statement(GITHUB_HOSTED, "https://github.com/acme/invoice-triage")),
    SIGNED_BY_TAG: (True, True, statement(GITHUB_HOSTED, "https://github.com/acme/invoice-triage")),
    FOREIGN_BUILDER: (True, True, statement("https://ci.example.com/jenkins", "https://github.com/acme/scraper")),
    FOREIGN_SOURCE: (True, True, statement(GITHUB_HOSTED, "https://github.com/acme-forks/invoice-triage")),
    VIA_DEPENDENCIES: (
        True,
        True,
        statement(GITHUB_HOSTED, dependency="git+https://github.com/acme/other@refs/heads/main"),
    ),
    UNATTESTED: (True, False, None),
}


def image_functions(calls: list) -> dict[str, Callable]:
    def verify_signatures(image: str, attestors: list) -> int:
        calls.append(("sig", image, tuple(attestors)))
        return len(attestors) if REGISTRY.get(image, (False,))[0] else 0

    def verify_attestations(image: str, attestation: str, attestors: list) -> int:
        calls.append(("att", image, attestation))
        return len(attestors) if REGISTRY.get(image, (False, False))[1] else 0

    def extract_payload(image: str, attestation: str) -> dict:
        # Kyverno refuses to extract before the attestation was verified; so do we.
        assert REGISTRY[image][1], f"extractPayload before verification of {image}"
        return REGISTRY[image][2]

    return {
        "verifyImageSignatures": verify_signatures,
        "verifyAttestationSignatures": verify_attestations,
        "extractPayload": extract_payload,
    }


def verify(
    mode: str,
    obj: dict,
    calls: list | None = None,
    *,
    injected: tuple[str, ...] = (),
    ivpol: dict | None = None,
    request: Request | None = None,
) -> Outcome:
    """Run an ImageValidatingPolicy as Kyverno 1.19 does: extract the pod's images, keep those
    matchImageReferences selects, bind attestors/attestations by name; then apply
    validationConfigurations to those images: `verifyDigest` (checked before the validations)
    and `required` (each must have passed a signature or attestation check).

    `injected`: images another webhook adds after Kyverno's mutating webhook (the
    OpenTelemetry operator's init containers), which `mutateDigest` therefore never pins."""
    ivpol = ivpol or policy("ImageValidatingPolicy", build.provenance_policy_name(mode))
    spec = ivpol["spec"]
    for reference in spec["matchImageReferences"]:  # `expression` references are not modelled
        closed(reference, {"glob"}, "matchImageReferences[]")
    closed(
        spec.get("validationConfigurations") or {},
        {"verifyDigest", "mutateDigest", "required"},
        "validationConfigurations",
    )
    globs = [m["glob"] for m in spec["matchImageReferences"]]
    assert globs, "an ImageValidatingPolicy without image references verifies nothing"
    # Kyverno compiles each glob with gobwas/glob and no separators, so `*` and `?` span `/`
    # like fnmatch's (kyverno/kyverno@v1.19.0:pkg/cel/compiler/compiler.go glob.Compile);
    # gobwas' `{a,b}`, `**` and escapes differ from fnmatch and are not modelled.
    for glob in globs:
        if any(token in glob for token in ("{", "}", "**", "\\", "[!")):
            raise UnknownField(f"matchImageReferences glob {glob!r}: syntax the harness does not model")
    images = {
        key: [c["image"] for c in obj["spec"].get(key, []) if any(fnmatch.fnmatchcase(c["image"], g) for g in globs)]
        for key in ("containers", "initContainers", "ephemeralContainers")
    }
    extra = {
        "images": images,
        "attestors": {a["name"]: a["name"] for a in spec["attestors"]},
        "attestations": {a["name"]: a["name"] for a in spec["attestations"]},
    }
    calls = calls if calls is not None else []
    outcome = run(ivpol, request or pod_request(obj), extra=extra, functions=image_functions(calls))
    if not outcome.matched:
        return outcome
    config = spec.get("validationConfigurations") or {}  # every field defaults to true
    matched = [image for found in images.values() for image in found]
    if config.get("verifyDigest", True):
        pinned_by_kyverno = config.get("mutateDigest", True)
        for image in matched:
            if "@sha256:" not in image and not (pinned_by_kyverno and image not in injected):
                return Outcome(
                    matched=True, failures=[f"image {image} does not have a digest"], variables=outcome.variables
                )
    if outcome.failures or not config.get("required", True):
        return outcome
    verified = {image for kind, image, *_ in calls if REGISTRY.get(image, (False, False))[0 if kind == "sig" else 1]}
    for image in matched:
        if image not in verified:
            return Outcome(matched=True, failures=[f"image {image} is not verified"], variables=outcome.variables)
    return outcome


# staging: the ServiceAccount of a pod at each tier (production: no agent is promoted that far).
SERVICE_ACCOUNT_AT = {"standard": "invoice-triage", "restricted": "refund-drafter"}


def labeled(tier: str, *images: str, init: tuple[str, ...] = (), label: str | None = None) -> dict:
    """A pod of the agent that runs at `tier`, as it reaches the image policy: without a tier
    label (Kyverno calls the image policy's mutating webhook before the MutatingPolicy that sets
    it), or with `label` as the pod template chose it."""
    return pod(
        service_account=SERVICE_ACCOUNT_AT[tier],
        labels={TIER: label} if label else None,
        images=images,
        init_images=init,
    )


def test_enforce_matches_exactly_the_enforce_tiers_and_audit_the_audit_tiers():
    enforced = {t.name for t in example_plan_spec_tiers() if t.provenance == "enforce"}
    audited = {t.name for t in example_plan_spec_tiers() if t.provenance == "audit"}
    assert enforced == {"standard", "production"} and audited == {"restricted"}
    for tier in SERVICE_ACCOUNT_AT:
        assert verify("enforce", labeled(tier, SIGNED)).matched == (tier in enforced)
        assert verify("audit", labeled(tier, SIGNED)).matched == (tier in audited)
    # Any other ServiceAccount (the default one, a team's own) runs at the lowest tier.
    for service_account in (None, "builder", "ticket-router"):  # ticket-router is support's agent, not payments'
        obj = pod(service_account=service_account, images=(SIGNED,))
        assert verify("audit", obj).matched and not verify("enforce", obj).matched


def test_the_tier_does_not_depend_on_the_pod_label_or_webhook_order():
    """Kyverno 1.19 puts the image policy's digest-pinning webhook and the MutatingPolicies in one
    MutatingWebhookConfiguration sorted by name (kyverno/kyverno@v1.19.0:
    pkg/controllers/webhook/controller.go buildResourceMutatingWebhookConfiguration:
    `ivpol.mutate...` sorts before `mpol...`), with no reinvocation: the promoted agent's pod
    arrives without its tier label. Its tier comes from its ServiceAccount all the same, and a
    label the pod template chose (known, unknown or lower) changes nothing."""
    for label in (None, "restricted", "unknown", "production"):
        promoted = labeled("standard", SIGNED, label=label)
        assert verify("enforce", promoted).matched and not verify("audit", promoted).matched, label
        unpromoted = labeled("restricted", SIGNED, label=label)
        assert verify("audit", unpromoted).matched and not verify("enforce", unpromoted).matched, label
    # So an unsigned image of a promoted agent is refused even without the label.
    assert verify("enforce", labeled("standard", UNSIGNED)).denied


def example_plan_spec_tiers():
    from agentplane.config.load import load_from_files
    from tests.support.plans import ROOT

    return load_from_files(STACK, root=ROOT).env.tiers


def test_signed_and_attested_image_from_an_approved_builder_and_source_passes():
    calls: list = []
    outcome = verify("enforce", labeled("standard", SIGNED), calls)
    assert outcome.matched and outcome.failures == []
    assert ("sig", SIGNED, ("signer0",)) in calls and ("att", SIGNED, "slsaProvenance") in calls


def test_unsigned_image_is_rejected_in_enforce_tiers_with_a_clear_message():
    outcome = verify("enforce", labeled("standard", SIGNED, UNSIGNED))
    assert outcome.denied
    assert outcome.failures[0] == (
        "tier standard requires images signed by an approved signer (agentplane:provenance.signers); "
        f"not signed: {UNSIGNED}"
    )
    enforce = policy("ImageValidatingPolicy", build.provenance_policy_name("enforce"))["spec"]
    assert enforce["validationActions"] == ["Deny"] and enforce["failurePolicy"] == "Fail"


def test_unsigned_image_in_an_audit_tier_is_admitted_and_reported():
    outcome = verify("audit", labeled("restricted", UNSIGNED))
    # The violation is reported, as the signature failure the audit is for (not a missing digest)...
    assert outcome.failures == [
        "tier restricted requires images signed by an approved signer (agentplane:provenance.signers); "
        f"not signed: {UNSIGNED}"
    ]
    audit = policy("ImageValidatingPolicy", build.provenance_policy_name("audit"))["spec"]
    # ...as an audit result, never a denial, and a Kyverno outage does not block the pod.
    assert audit["validationActions"] == ["Audit"] and audit["failurePolicy"] == "Ignore"
    assert audit["validationConfigurations"]["mutateDigest"] is False


def test_image_without_provenance_attestation_is_rejected():
    outcome = verify("enforce", labeled("standard", UNATTESTED))
    assert outcome.denied and "SLSA provenance attestation" in outcome.failures[0] and UNATTESTED in outcome.failures[0]


def test_provenance_from_an_unapproved_builder_is_rejected():
    outcome = verify("enforce", labeled("standard", SIGNED, FOREIGN_BUILDER))
    assert outcome.failures == [
        "the SLSA provenance of these images names a builder that is not approved "
        f"(agentplane:provenance.builders): {FOREIGN_BUILDER}"
    ]


def test_provenance_from_an_unapproved_source_repository_is_rejected():
    # https://github.com/acme/* must not admit https://github.com/acme-forks/...
    outcome = verify("enforce", labeled("standard", FOREIGN_SOURCE))
    assert outcome.denied and FOREIGN_SOURCE in outcome.failures[0] and "sourceRepositories" in outcome.failures[0]


def test_source_recorded_as_a_resolved_git_dependency_is_accepted():
    assert verify("enforce", labeled("standard", VIA_DEPENDENCIES)).failures == []


def test_an_exact_source_repository_matches_its_git_dependency_at_any_ref():
    # resolvedDependencies name the ref after the repository (git+<repo>@<ref>), as the
    # signing example in docs/components/provenance.md does; a look-alike repository still fails.
    from dataclasses import replace

    from agentplane.config.load import load_from_files
    from tests.support.plans import ROOT

    spec = load_from_files(STACK, root=ROOT)
    config = spec.env.provenance.model_copy(update={"source_repositories": ("https://github.com/acme/invoice-triage",)})
    ivpol = build.provenance_policy(replace(spec, env=spec.env.model_copy(update={"provenance": config})), "enforce")
    exact = "ghcr.io/acme/exact-source@sha256:" + "6" * 64
    lookalike = "ghcr.io/acme/lookalike-source@sha256:" + "7" * 64
    registry = {
        exact: (
            True,
            True,
            statement(GITHUB_HOSTED, dependency="git+https://github.com/acme/invoice-triage@refs/tags/v1.2.0"),
        ),
        lookalike: (
            True,
            True,
            statement(GITHUB_HOSTED, dependency="git+https://github.com/acme/invoice-triage-fork@refs/tags/v1"),
        ),
    }
    with pytest.MonkeyPatch.context() as patch:
        for image, entry in registry.items():
            patch.setitem(REGISTRY, image, entry)
        assert verify("enforce", labeled("standard", exact), ivpol=ivpol).passed
        outcome = verify("enforce", labeled("standard", lookalike), ivpol=ivpol)
    assert outcome.denied and "sourceRepositories" in outcome.failures[0]


def test_init_containers_are_verified_and_platform_injected_images_are_exempt():
    assert verify("enforce", labeled("standard", SIGNED, init=(UNSIGNED,))).denied
    # The OpenTelemetry operator injects its init container by tag after Kyverno's mutating
    # webhook: neither verified nor pinned, it must still not fail `required`/`verifyDigest`.
    for mode, tier in (("enforce", "standard"), ("audit", "restricted")):
        calls: list = []
        outcome = verify(mode, labeled(tier, SIGNED, init=(INJECTED,)), calls, injected=(INJECTED,))
        assert outcome.passed, (mode, outcome.failures)
        assert all(call[1] != INJECTED for call in calls)


def ephemeral_request(old: dict, image: str) -> tuple[dict, Request]:
    """`kubectl debug`: an UPDATE of the pods/ephemeralcontainers subresource; the object is the Pod."""
    new = copy.deepcopy(old)
    new["spec"]["ephemeralContainers"] = [{"name": "debugger", "image": image}]
    return new, Request(
        "UPDATE",
        "",
        "v1",
        "Pod",
        "pods",
        old["metadata"]["namespace"],
        TENANT_OWNER,
        new,
        old,
        sub_resource="ephemeralcontainers",
    )


def test_ephemeral_containers_are_verified():
    """Kyverno extracts ephemeralContainers' images for pods (kyverno/kyverno@v1.19.0:
    pkg/cel/compiler/images.go podImageExtractors); the policy must match the subresource
    `kubectl debug` writes, and the image-change condition must let it through."""
    running = labeled("standard", SIGNED)
    new, request = ephemeral_request(running, UNSIGNED)
    outcome = verify("enforce", new, request=request)
    assert outcome.denied and UNSIGNED in outcome.failures[0]
    new, request = ephemeral_request(running, SIGNED)
    assert verify("enforce", new, request=request).passed


def test_only_image_changes_re_verify_a_running_pod():
    """A metadata-only UPDATE (a label, a finalizer) is not sent to Kyverno: with the registry or
    Kyverno down, it still goes through (the policy fails closed only where it must). Kyverno
    hands an ImageValidatingPolicy's match conditions to the API server for both of its webhooks,
    the digest-pinning one and the validating one (kyverno/kyverno@v1.19.0:
    pkg/controllers/webhook/controller.go buildForJSONPoliciesMutation and
    pkg/controllers/webhook/validating.go buildWebhookRules)."""
    running = labeled("standard", UNSIGNED)  # admitted before the signer was revoked, say
    relabeled = copy.deepcopy(running)
    relabeled["metadata"]["labels"] = {"app": "x"}
    relabeled["metadata"]["finalizers"] = []
    assert not verify("enforce", relabeled, request=pod_request(relabeled, operation="UPDATE", old=running)).matched
    for key in ("containers", "initContainers"):
        swapped = copy.deepcopy(running)
        swapped["spec"][key] = [{"name": "c0", "image": FOREIGN_BUILDER}]
        if key == "initContainers":
            swapped["spec"]["containers"] = running["spec"]["containers"]
        outcome = verify("enforce", swapped, request=pod_request(swapped, operation="UPDATE", old=running))
        assert outcome.denied, key


def test_image_volumes_are_refused_where_provenance_is_enforced():
    """Kyverno 1.19 neither verifies nor pins spec.volumes[].image (kyverno/kyverno@v1.19.0:
    pkg/cel/compiler/images.go extracts containers, initContainers and ephemeralContainers only)."""
    obj = labeled("standard", SIGNED)
    obj["spec"]["volumes"] = [{"name": "weights", "image": {"reference": UNSIGNED}}, {"name": "tmp", "emptyDir": {}}]
    outcome = verify("enforce", obj)
    assert outcome.denied
    assert outcome.failures[0] == (
        "tier standard runs only verified images, and image volumes (spec.volumes[].image: "
        "weights) are not verified; ship the files in a verified container image instead"
    )
    obj["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    assert verify("enforce", obj).passed


def test_a_signed_image_by_tag_passes_in_every_mode():
    # Enforce pins the digest before validating; audit never changes the pod and must not
    # count the tag itself as a failure.
    assert verify("enforce", labeled("standard", SIGNED_BY_TAG)).passed
    assert verify("audit", labeled("restricted", SIGNED_BY_TAG)).passed


def test_attestors_come_from_the_signers_and_the_attestation_is_slsa_provenance():
    from agentplane.config.load import load_from_files
    from tests.support.plans import ROOT

    signers = load_from_files(STACK, root=ROOT).env.provenance.signers
    for mode in ("enforce", "audit"):
        spec = policy("ImageValidatingPolicy", build.provenance_policy_name(mode))["spec"]
        assert [a["cosign"]["keyless"]["identities"] for a in spec["attestors"]] == [
            [{"issuer": s.keyless.issuer, "subjectRegExp": s.keyless.subject_reg_exp}] for s in signers
        ]
        assert spec["attestations"] == [
            {"name": "slsaProvenance", "intoto": {"type": "https://slsa.dev/provenance/v1"}}
        ]


# --------------------------------------------------------------------------- the platform CA


def platform_ca_name() -> str:
    """The CA ClusterIssuer as the plan registers it (not the builder's constant)."""
    (issuer,) = [
        o["metadata"]["name"]
        for o in kubernetes_objects(example_plan(STACK))
        if o["kind"] == "ClusterIssuer" and "ca" in o["spec"]
    ]
    return issuer


def certificate(issuer_ref: dict, kind: str = "Certificate", namespace: str = TENANT) -> dict:
    spec = (
        {"secretName": "api-tls", "dnsNames": ["keycloak.agentplane.example.com"]}
        if kind == "Certificate"
        else {"request": "LS0tLS1CRUdJTi...", "usages": ["server auth"]}
    )
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": kind,
        "metadata": {"name": "api", "namespace": namespace},
        "spec": {**spec, "issuerRef": issuer_ref},
    }


def certificate_request(obj: dict, user=TENANT_OWNER, operation: str = "CREATE", old: dict | None = None) -> Request:
    resource = {"Certificate": "certificates", "CertificateRequest": "certificaterequests"}[obj["kind"]]
    return Request(
        operation, "cert-manager.io", "v1", obj["kind"], resource, obj["metadata"]["namespace"], user, obj, old
    )


def ingress_like(annotations: dict, kind: str = "Ingress", namespace: str = TENANT) -> Request:
    group, resource = {
        "Ingress": ("networking.k8s.io", "ingresses"),
        "Gateway": ("gateway.networking.k8s.io", "gateways"),
        "ListenerSet": ("gateway.networking.k8s.io", "listenersets"),
    }[kind]
    obj = {
        "apiVersion": f"{group}/v1",
        "kind": kind,
        "metadata": {"name": "web", "namespace": namespace, "annotations": annotations},
        "spec": {},
    }
    return Request("CREATE", group, "v1", kind, resource, namespace, TENANT_OWNER, obj, None)


def ca_policy() -> dict:
    return policy("ValidatingPolicy", build.POLICY_PLATFORM_CA)


@pytest.mark.parametrize("kind", ["Certificate", "CertificateRequest"])
@pytest.mark.parametrize("group", [None, "cert-manager.io"])  # group left out defaults to cert-manager.io
def test_tenant_asking_the_platform_ca_for_a_certificate_is_denied(kind, group):
    ref = {"kind": "ClusterIssuer", "name": platform_ca_name(), **({"group": group} if group else {})}
    outcome = run(ca_policy(), certificate_request(certificate(ref, kind)))
    assert outcome.denied
    assert outcome.failures == [
        f"{kind} in namespace payments asks for a certificate from ClusterIssuer platform-ca: the platform CA signs "
        "certificates for the platform's own components only; create an Issuer in namespace payments and reference it "
        "(issuerRef: {kind: Issuer, name: <your issuer>})"
    ]


@pytest.mark.parametrize(
    "ref",
    [
        {"kind": "Issuer", "name": "payments-ca"},
        {"name": "payments-ca"},  # kind left out: a namespaced Issuer
        {"name": "platform-ca"},  # the tenant's own Issuer may have any name
        {"kind": "Issuer", "name": "platform-ca", "group": "cert-manager.io"},
        {"kind": "ClusterIssuer", "name": "letsencrypt"},  # a ClusterIssuer the program does not create (no acme here)
        {
            "kind": "ClusterIssuer",
            "name": "platform-ca",
            "group": "awspca.cert-manager.io",
        },  # an external issuer's kind
    ],
)
def test_tenant_certificates_from_other_issuers_are_admitted(ref):
    assert run(ca_policy(), certificate_request(certificate(ref))).passed


def test_tenant_may_move_an_existing_certificate_off_the_platform_ca_but_not_onto_it():
    on_ca = certificate({"kind": "ClusterIssuer", "name": platform_ca_name()})
    own = certificate({"kind": "Issuer", "name": "payments-ca"})
    assert run(ca_policy(), certificate_request(own, operation="UPDATE", old=on_ca)).passed
    assert run(ca_policy(), certificate_request(on_ca, operation="UPDATE", old=own)).denied


@pytest.mark.parametrize(
    "user",
    [
        ADMIN,
        DEPLOYER,
        {
            "username": "system:serviceaccount:cert-manager:cert-manager",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:cert-manager"],
        },
    ],
)
def test_platform_admins_and_cert_manager_may_use_the_platform_ca_anywhere(user):
    obj = certificate({"kind": "ClusterIssuer", "name": platform_ca_name()})
    assert not run(ca_policy(), certificate_request(obj, user=user)).matched
    assert run(ca_policy(), certificate_request(obj, user=TENANT_OWNER)).denied  # the same object, a tenant


def test_certificates_in_platform_namespaces_are_not_matched():
    for ns in (namespaces.GATEWAY, namespaces.IDENTITY, namespaces.CERT_MANAGER):
        obj = certificate({"kind": "ClusterIssuer", "name": platform_ca_name()}, namespace=ns)
        assert not run(ca_policy(), certificate_request(obj)).matched


@pytest.mark.parametrize(
    ("kind", "annotations"),
    [
        ("Ingress", {"cert-manager.io/cluster-issuer": "platform-ca"}),
        ("Ingress", {"cert-manager.io/issuer": "platform-ca", "cert-manager.io/issuer-kind": "ClusterIssuer"}),
        ("Gateway", {"cert-manager.io/cluster-issuer": "platform-ca"}),
        (
            "ListenerSet",
            {"cert-manager.io/cluster-issuer": "platform-ca", "cert-manager.io/issuer-group": "cert-manager.io"},
        ),
    ],
)
def test_asking_through_cert_manager_annotations_is_denied_too(kind, annotations):
    # cert-manager creates the Certificate itself (a platform service account), so the request
    # is judged on the object that carries the annotations.
    outcome = run(ca_policy(), ingress_like(annotations, kind))
    assert outcome.denied
    assert outcome.failures[0].startswith(
        f"{kind} in namespace payments asks cert-manager (annotations cert-manager.io/*)"
    )
    assert outcome.failures[0].endswith("or annotation cert-manager.io/issuer: <your issuer>)")


@pytest.mark.parametrize(
    "annotations",
    [
        {},
        {"cert-manager.io/issuer": "payments-ca"},
        {"cert-manager.io/issuer": "platform-ca"},  # the tenant's own Issuer of that name
        {"cert-manager.io/cluster-issuer": "letsencrypt"},
        {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
    ],
)
def test_ingresses_with_other_or_no_issuers_are_admitted(annotations):
    assert run(ca_policy(), ingress_like(annotations)).passed


def _ca_policy_with_acme() -> dict:
    """The policy as a stack with `certificates.acme` (name letsencrypt) renders it."""
    from agentplane.config.files import env_config_from_stack_document
    from agentplane.config.load import build_spec
    from tests.support.plans import ROOT, stack_document

    raw = env_config_from_stack_document(
        stack_document(
            STACK,
            certificates={
                "acme": {"name": "letsencrypt", "email": "platform@example.com", "ingressClassName": "nginx"}
            },
        ),
        f"stacks/Pulumi.{STACK}.yaml",
    )
    return build.platform_ca_validation(
        build_spec(STACK, raw, f"stacks/Pulumi.{STACK}.yaml", [], {STACK}, source="file", root=ROOT)
    )


@pytest.mark.parametrize(
    "request_for",
    [
        lambda: certificate_request(certificate({"kind": "ClusterIssuer", "name": "letsencrypt"})),
        lambda: ingress_like({"cert-manager.io/cluster-issuer": "letsencrypt"}),
    ],
)
def test_the_platforms_acme_issuer_is_not_for_tenants_either(request_for):
    outcome = run(_ca_policy_with_acme(), request_for())
    assert outcome.denied
    assert (
        "from ClusterIssuer letsencrypt: it issues certificates for the platform's own components only"
        in outcome.failures[0]
    )
    # The platform CA stays denied, with its own message; a tenant's own Issuer stays admitted.
    denied = run(
        _ca_policy_with_acme(), certificate_request(certificate({"kind": "ClusterIssuer", "name": "platform-ca"}))
    )
    assert "from ClusterIssuer platform-ca: the platform CA signs" in denied.failures[0]
    assert run(
        _ca_policy_with_acme(), certificate_request(certificate({"kind": "Issuer", "name": "letsencrypt"}))
    ).passed


def test_unrelated_kinds_are_not_matched_by_the_platform_ca_policy():
    secret = Request(
        "CREATE", "", "v1", "Secret", "secrets", TENANT, TENANT_OWNER, {"kind": "Secret", "metadata": {}}, None
    )
    issuer = Request(
        "CREATE", "cert-manager.io", "v1", "Issuer", "issuers", TENANT, TENANT_OWNER, {"kind": "Issuer"}, None
    )
    assert not run(ca_policy(), secret).matched and not run(ca_policy(), issuer).matched


# --------------------------------------------------------------------------- telemetry opt-out

INJECT_PYTHON = "instrumentation.opentelemetry.io/inject-python"


def opt_out(pod_request: Request, stack: str = STACK) -> tuple[dict, Outcome]:
    """The pod as it leaves agentplane-telemetry-opt-out: the apply configuration's annotations
    merged into the pod's (a structured merge of a map of strings overwrites those keys)."""
    (mutation,) = [
        o
        for o in kubernetes_objects(example_plan(stack))
        if o["kind"] == "MutatingPolicy" and o["metadata"]["name"] == build.POLICY_TELEMETRY_OPT_OUT
    ]
    outcome = run(mutation, pod_request)
    stored = copy.deepcopy(pod_request.object)
    if outcome.matched:
        expression = mutation["spec"]["mutations"][0]["applyConfiguration"]["expression"]
        assert expression.strip() == "Object{metadata: Object.metadata{annotations: variables.optOutAnnotations}}"
        stored["metadata"].setdefault("annotations", {}).update(outcome.variables["optOutAnnotations"])
    return stored, outcome


def annotated_pod(namespace: str, service_account: str | None, annotations: dict | None = None) -> dict:
    obj = pod(namespace=namespace, service_account=service_account)
    if annotations:
        obj["metadata"]["annotations"] = dict(annotations)
    return obj


def test_pods_of_an_opted_out_agent_get_the_opt_out_annotation():
    stored, outcome = opt_out(pod_request(annotated_pod("support", "kb-answerer")))
    assert outcome.matched
    assert stored["metadata"]["annotations"] == {INJECT_PYTHON: "false"}


def test_the_team_file_wins_over_the_pod_template():
    # A template asking for the namespace's instrumentation cannot undo the team file's opt-out;
    # other annotations (another language the developer opted into) stay.
    stored, _ = opt_out(
        pod_request(
            annotated_pod(
                "support",
                "kb-answerer",
                {INJECT_PYTHON: "agentplane", "instrumentation.opentelemetry.io/inject-nodejs": "agentplane"},
            )
        )
    )
    assert stored["metadata"]["annotations"] == {
        INJECT_PYTHON: "false",
        "instrumentation.opentelemetry.io/inject-nodejs": "agentplane",
    }


@pytest.mark.parametrize(
    ("namespace", "service_account"),
    [
        ("support", "ticket-router"),  # instrumented agent of the same team
        ("payments", "invoice-triage"),  # instrumented agent of another team
        ("payments", "kb-answerer"),  # a ServiceAccount of that name in another team is not the agent
        ("support", None),  # the default ServiceAccount
        (namespaces.GATEWAY, "kb-answerer"),
    ],
)
def test_pods_of_instrumented_agents_and_other_pods_are_untouched(namespace, service_account):
    request = pod_request(annotated_pod(namespace, service_account, {"team": "x"}))
    stored, outcome = opt_out(request)
    assert not outcome.matched
    assert stored == request.object


def test_the_dev_policy_opts_out_supports_kb_answerer():
    # stacks/teams/support.yaml: kb-answerer says `instrumentation: false`.
    stored, outcome = opt_out(pod_request(annotated_pod("support", "kb-answerer")), stack="dev")
    assert outcome.matched and stored["metadata"]["annotations"][INJECT_PYTHON] == "false"
    _, outcome = opt_out(pod_request(annotated_pod("support", "ticket-router")), stack="dev")
    assert not outcome.matched


def test_an_opted_out_pod_still_passes_the_label_guardrails():
    # The two mutations and the label validation together, in admission order.
    request = pod_request(annotated_pod("support", "kb-answerer"))
    stored, _ = opt_out(request)
    labeled = mutate(pod_request(stored))
    assert labeled["metadata"]["annotations"] == {INJECT_PYTHON: "false"}
    assert run(policy("ValidatingPolicy", build.POLICY_AGENT_LABELS), pod_request(labeled)).passed


# --------------------------------------------------------------------------- Service routing

# kube-controller-manager's controllers, as the API server names them in requests
# (--use-service-account-credentials: one kube-system ServiceAccount per controller).
ENDPOINT_CONTROLLER = {
    "username": "system:serviceaccount:kube-system:endpoint-controller",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
}
ENDPOINTSLICE_CONTROLLER = {
    **ENDPOINT_CONTROLLER,
    "username": "system:serviceaccount:kube-system:endpointslice-controller",
}
MIRRORING_CONTROLLER = {
    **ENDPOINT_CONTROLLER,
    "username": "system:serviceaccount:kube-system:endpointslicemirroring-controller",
}
# Another kube-system ServiceAccount is not an endpoints controller.
OTHER_KUBE_SYSTEM_SA = {**ENDPOINT_CONTROLLER, "username": "system:serviceaccount:kube-system:replicaset-controller"}
# Another team's agent, which the gateway namespace may reach.
FOREIGN_AGENT = "kb-answerer.support.svc.cluster.local"
FOREIGN_POD_IP = "10.42.3.17"


def routing_policy() -> dict:
    return policy("ValidatingPolicy", build.POLICY_SERVICE_ROUTING)


def service(spec: dict, namespace: str = TENANT, name: str = "invoice-triage") -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


OWN_SERVICE = {"selector": {"app": "invoice-triage"}, "ports": [{"port": 8080, "targetPort": 8080}]}
EXTERNAL_NAME = {"type": "ExternalName", "externalName": FOREIGN_AGENT}


def service_request(obj: dict, user=TENANT_OWNER, operation: str = "CREATE", old: dict | None = None) -> Request:
    return Request(operation, "", "v1", "Service", "services", obj["metadata"]["namespace"], user, obj, old)


def endpoints_request(user, namespace: str = TENANT, operation: str = "CREATE") -> Request:
    obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "invoice-triage", "namespace": namespace},
        "subsets": [{"addresses": [{"ip": FOREIGN_POD_IP}], "ports": [{"port": 8080}]}],
    }
    return Request(operation, "", "v1", "Endpoints", "endpoints", namespace, user, obj, None)


def endpoint_slice_request(user, namespace: str = TENANT, operation: str = "CREATE") -> Request:
    # A tenant can copy the control plane's managed-by label; it must not make a difference.
    obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "invoice-triage-x7k2p",
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": "invoice-triage",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [FOREIGN_POD_IP]}],
        "ports": [{"port": 8080}],
    }
    return Request(operation, "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", namespace, user, obj, None)


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_tenant_external_name_service_is_denied(operation):
    old = service(OWN_SERVICE) if operation == "UPDATE" else None
    outcome = run(routing_policy(), service_request(service(EXTERNAL_NAME), operation=operation, old=old))
    assert outcome.denied
    assert outcome.failures == [
        "Service invoice-triage in namespace payments is of type ExternalName: the agent gateway reaches "
        "agents and MCP servers by the name of a Service in the team's namespace, so a Service must select "
        "the team's own pods; use type ClusterIP with a spec.selector"
    ]


@pytest.mark.parametrize(
    "spec",
    [
        OWN_SERVICE,  # type left out: ClusterIP
        {**OWN_SERVICE, "type": "ClusterIP"},
        {**OWN_SERVICE, "type": "NodePort"},
        {**OWN_SERVICE, "clusterIP": "None"},  # headless, still selects the team's pods
    ],
)
def test_tenant_services_selecting_their_own_pods_are_admitted(spec):
    assert run(routing_policy(), service_request(service(spec))).passed


def test_tenant_may_turn_an_external_name_service_into_a_selecting_one():
    outcome = run(
        routing_policy(), service_request(service(OWN_SERVICE), operation="UPDATE", old=service(EXTERNAL_NAME))
    )
    assert outcome.passed


@pytest.mark.parametrize("make", [endpoints_request, endpoint_slice_request])
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_tenant_written_endpoints_and_endpoint_slices_are_denied(make, operation):
    for user in (
        TENANT_OWNER,
        OTHER_KUBE_SYSTEM_SA,
        {
            "username": "system:serviceaccount:payments:invoice-triage",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:payments", "system:authenticated"],
        },
    ):
        request = make(user, operation=operation)
        outcome = run(routing_policy(), request)
        assert outcome.denied, user["username"]
        (message,) = outcome.failures
        assert message.startswith(
            f"{request.kind} {request.object['metadata']['name']} in namespace payments "
            f"is written by {user['username']}: only Kubernetes' endpoint controllers"
        )
        assert message.endswith("a Service must select the team's own pods; give the Service a spec.selector instead")


@pytest.mark.parametrize(
    ("make", "user"),
    [
        (endpoints_request, ENDPOINT_CONTROLLER),
        (endpoint_slice_request, ENDPOINTSLICE_CONTROLLER),
        (endpoint_slice_request, MIRRORING_CONTROLLER),
        (endpoints_request, {"username": "system:kube-controller-manager", "groups": ["system:authenticated"]}),
    ],
)
def test_kubernetes_endpoint_controllers_are_admitted(make, user):
    """The API server skips the webhook for them (a match condition): a Kyverno outage cannot
    stop Services from getting endpoints. Kyverno hands a ValidatingPolicy's match conditions to
    the API server (kyverno/kyverno@v1.19.0:pkg/controllers/webhook/validating.go buildWebhookRules,
    match_conditions.go webhookMatchConditions: only conditions naming namespaceObject stay)."""
    conditions = routing_policy()["spec"]["matchConditions"]
    assert not any("namespaceObject" in c["expression"] for c in conditions)
    for operation in ("CREATE", "UPDATE"):
        assert not run(routing_policy(), make(user, operation=operation)).matched


@pytest.mark.parametrize(
    "user", [ADMIN, DEPLOYER, KYVERNO_SA, {"username": "kubernetes-admin", "groups": ["system:masters"]}]
)
def test_platform_admins_may_write_any_service_or_endpoints(user):
    for request in (
        service_request(service(EXTERNAL_NAME), user=user),
        endpoints_request(user),
        endpoint_slice_request(user),
    ):
        assert not run(routing_policy(), request).matched
        # The same request from the tenant is judged (and denied).
        assert run(routing_policy(), Request(**{**request.__dict__, "user": TENANT_OWNER})).denied


def test_services_and_endpoints_in_platform_namespaces_are_not_matched():
    for ns in (namespaces.GATEWAY, namespaces.IDENTITY, namespaces.POLICY, "kube-system"):
        for request in (
            service_request(service(EXTERNAL_NAME, namespace=ns)),
            endpoints_request(TENANT_OWNER, namespace=ns),
            endpoint_slice_request(TENANT_OWNER, namespace=ns),
        ):
            assert not run(routing_policy(), request).matched, (ns, request.kind)


def test_other_kinds_are_not_matched_by_the_service_routing_policy():
    config_map = Request(
        "CREATE",
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        TENANT,
        TENANT_OWNER,
        {"kind": "ConfigMap", "metadata": {"name": "x"}},
        None,
    )
    assert not run(routing_policy(), config_map).matched
    deletion = Request("DELETE", "", "v1", "Service", "services", TENANT, TENANT_OWNER, None, service(EXTERNAL_NAME))
    assert not run(routing_policy(), deletion).matched
