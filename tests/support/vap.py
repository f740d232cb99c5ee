"""A ValidatingAdmissionPolicy as the API server applies it, for tests where no API server runs.

What it mirrors, from Kubernetes v1.34 (k8s.io/api@v0.34.11 and k8s.io/apiserver@v0.34.11, the
staging copies of kubernetes/kubernetes@v1.34.11):
* matching: a request matches when a resourceRule matches its group, version, operation and
  resource (`*` every resource but no subresource, `<resource>/*` its subresources, `*/*`
  everything), the rule's scope fits, and the namespaceSelector matches the labels of the
  request's namespace (of the object itself for a Namespace); excludeResourceRules win
  (api admissionregistration/v1/types.go Rule, MatchResources; apiserver
  pkg/admission/plugin/policy/matching/matching.go);
* then every matchCondition must be true (pkg/admission/plugin/webhook/matchconditions);
* then variables in order, then validations; a false validation fails the request where a
  binding of the policy lists Deny in validationActions (Warn and Audit admit it)
  (pkg/admission/plugin/policy/validating/dispatcher.go).
CEL runs on the `common-expression-language` package. Closed world: a policy or binding field
the model does not know (paramKind, auditAnnotations, a binding's matchResources or paramRef)
is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cel
import cel.stdlib

_POLICY_SPEC = {"failurePolicy", "matchConstraints", "matchConditions", "variables", "validations"}
_CONSTRAINTS = {"namespaceSelector", "resourceRules", "excludeResourceRules"}
_RULE = {"apiGroups", "apiVersions", "operations", "resources", "scope"}
_BINDING_SPEC = {"policyName", "validationActions"}


def _closed(obj: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(obj) - allowed
    if unknown:
        raise ValueError(f"{what}: fields the admission model does not know: {sorted(unknown)}")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector; an absent or empty one matches everything."""
    if not selector:
        return True
    _closed(selector, {"matchLabels", "matchExpressions"}, "namespaceSelector")
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            ok = labels.get(key) in values
        elif operator == "NotIn":
            ok = not (key in labels and labels[key] in values)
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"selector operator the admission model does not know: {operator}")
        if not ok:
            return False
    return True


@dataclass
class Request:
    """One admission request; `object`/`old_object` as the API server passes them (None where
    the operation has none: CREATE has no old object, DELETE no object)."""

    operation: str
    group: str
    version: str
    resource: str
    kind: str
    namespace: str
    username: str
    groups: tuple[str, ...]
    object: dict | None = None
    old_object: dict | None = None
    sub_resource: str = ""
    name: str = ""

    def as_cel(self) -> dict:
        return {
            "operation": self.operation,
            "namespace": self.namespace,
            "name": self.name,
            "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            "resource": {"group": self.group, "version": self.version, "resource": self.resource},
            "subResource": self.sub_resource,
            "userInfo": {"username": self.username, "groups": list(self.groups)},
        }


def _rule_matches(rule: Mapping[str, Any], request: Request) -> bool:
    _closed(rule, _RULE, "resourceRule")
    resources = rule.get("resources") or []
    if request.sub_resource:
        combined = f"{request.resource}/{request.sub_resource}"
        resource_ok = (combined in resources or "*/*" in resources or f"{request.resource}/*" in resources
                       or f"*/{request.sub_resource}" in resources)
    else:
        resource_ok = request.resource in resources or "*" in resources or "*/*" in resources
    scope = rule.get("scope", "*")
    scope_ok = scope == "*" or (scope == "Namespaced") == bool(request.namespace)
    return (
        resource_ok
        and scope_ok
        and (request.group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", []))
        and (request.version in rule.get("apiVersions", []) or "*" in rule.get("apiVersions", []))
        and (request.operation in rule.get("operations", []) or "*" in rule.get("operations", []))
    )


def evaluate(expression: str, activation: Mapping[str, Any]) -> Any:
    context = cel.Context()
    cel.stdlib.add_stdlib_to_context(context)
    for name, value in activation.items():
        context.add_variable(name, value)
    return cel.evaluate(expression, context)


@dataclass
class Decision:
    matched: bool
    refused: bool = False
    failures: list[str] = field(default_factory=list)


def decide(policy: Mapping[str, Any], bindings: list[Mapping[str, Any]], request: Request,
           namespace_labels: Mapping[str, Mapping[str, str]]) -> Decision:
    """What the API server does with `request` under `policy` and its `bindings`."""
    spec = policy["spec"]
    _closed(spec, _POLICY_SPEC, f"ValidatingAdmissionPolicy {policy['metadata']['name']}")
    constraints = spec["matchConstraints"]
    _closed(constraints, _CONSTRAINTS, "matchConstraints")
    own = [b for b in bindings if b["spec"]["policyName"] == policy["metadata"]["name"]]
    for binding in own:
        _closed(binding["spec"], _BINDING_SPEC, f"ValidatingAdmissionPolicyBinding {binding['metadata']['name']}")
    if not own:
        return Decision(matched=False)  # a policy without a binding does nothing
    if not any(_rule_matches(rule, request) for rule in constraints.get("resourceRules") or []):
        return Decision(matched=False)
    if any(_rule_matches(rule, request) for rule in constraints.get("excludeResourceRules") or []):
        return Decision(matched=False)
    if request.namespace:
        labels = {**namespace_labels[request.namespace], "kubernetes.io/metadata.name": request.namespace}
        if not selector_matches(constraints.get("namespaceSelector"), labels):
            return Decision(matched=False)
    activation: dict[str, Any] = {"object": request.object, "oldObject": request.old_object, "request": request.as_cel()}
    for condition in spec.get("matchConditions") or []:
        result = evaluate(condition["expression"], activation)
        assert isinstance(result, bool), condition["expression"]
        if not result:
            return Decision(matched=False)
    variables: dict[str, Any] = {}
    for variable in spec.get("variables") or []:
        variables[variable["name"]] = evaluate(variable["expression"], {**activation, "variables": variables})
    activation["variables"] = variables
    failures = []
    for validation in spec.get("validations") or []:
        result = evaluate(validation["expression"], activation)
        assert isinstance(result, bool), validation["expression"]
        if not result:
            message = evaluate(validation["messageExpression"], activation) if "messageExpression" in validation else validation["message"]
            assert isinstance(message, str) and "\n" not in message
            failures.append(message)
    refused = bool(failures) and any("Deny" in b["spec"]["validationActions"] for b in own)
    return Decision(matched=True, refused=refused, failures=failures)
