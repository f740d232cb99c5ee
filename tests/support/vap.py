"""A ValidatingAdmissionPolicy as the API server applies it, for tests where no API server runs.

What it mirrors, from Kubernetes 1.34 (kind runs v1.34.11; kubernetes/apiserver@v0.34.10 is the
newest 1.34 tag of the staging repository checked, these files unchanged across the patches):
* matching: matchConstraints through tests/support/admission_match.py (namespaceSelector, on the
  Namespace's own labels for a CREATE/UPDATE of a Namespace; objectSelector; excludeResourceRules
  win; resourceRules with scope, subresources and resourceNames), which cites
  kubernetes/apiserver@v0.34.10:pkg/admission/plugin/policy/matching/matching.go and the rule,
  namespace and object predicates under pkg/admission/plugin/webhook/predicates/;
* then every matchCondition must be true
  (kubernetes/apiserver@v0.34.10:pkg/admission/plugin/webhook/matchconditions/matcher.go);
* then variables in order, then every validation (all failures are collected); a failure refuses
  the request where a binding of the policy lists Deny in validationActions (Warn and Audit
  admit it) (kubernetes/apiserver@v0.34.10:pkg/admission/plugin/policy/validating/dispatcher.go).
CEL runs on the `common-expression-language` package. Closed world: a policy or binding field
the model does not know (paramKind, auditAnnotations, a binding's matchResources or paramRef),
or a value outside its enum, raises UnknownField.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cel
import cel.stdlib

from tests.support.admission_match import Attributes, UnknownField, closed, match_resources, selector_matches

__all__ = ["Decision", "Request", "decide", "selector_matches"]

_POLICY_SPEC = {"failurePolicy", "matchConstraints", "matchConditions", "variables", "validations"}
_BINDING_SPEC = {"policyName", "validationActions"}
VALIDATION_ACTIONS = {"Deny", "Warn", "Audit"}


def _closed(obj: Mapping[str, Any], allowed: set[str], what: str) -> None:
    closed(obj, allowed, f"{what} (admission model)")


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


def decide(
    policy: Mapping[str, Any],
    bindings: list[Mapping[str, Any]],
    request: Request,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> Decision:
    """What the API server does with `request` under `policy` and its `bindings`."""
    spec = policy["spec"]
    _closed(spec, _POLICY_SPEC, f"ValidatingAdmissionPolicy {policy['metadata']['name']}")
    if spec.get("failurePolicy", "Fail") not in ("Fail", "Ignore"):
        raise UnknownField(
            f"ValidatingAdmissionPolicy {policy['metadata']['name']}.failurePolicy: {spec['failurePolicy']!r}"
        )
    for entry_key, allowed in (
        ("matchConditions", {"name", "expression"}),
        ("variables", {"name", "expression"}),
        ("validations", {"expression", "message", "messageExpression", "reason"}),
    ):
        for entry in spec.get(entry_key) or []:
            _closed(entry, allowed, f"ValidatingAdmissionPolicy {policy['metadata']['name']}.{entry_key}[]")
    constraints = spec["matchConstraints"]
    own = [b for b in bindings if b["spec"]["policyName"] == policy["metadata"]["name"]]
    for binding in own:
        _closed(binding["spec"], _BINDING_SPEC, f"ValidatingAdmissionPolicyBinding {binding['metadata']['name']}")
        actions = binding["spec"]["validationActions"]
        if not actions or set(actions) - VALIDATION_ACTIONS:
            raise UnknownField(
                f"ValidatingAdmissionPolicyBinding {binding['metadata']['name']}.validationActions: {actions!r}"
            )
    if not own:
        return Decision(matched=False)  # a policy without a binding does nothing
    attributes = Attributes(
        request.operation,
        request.group,
        request.version,
        request.resource,
        request.namespace,
        request.object,
        request.old_object,
        request.sub_resource,
        request.name,
        namespace_labels,
    )
    if not match_resources(
        constraints, attributes, f"ValidatingAdmissionPolicy {policy['metadata']['name']}.matchConstraints"
    ):
        return Decision(matched=False)
    activation: dict[str, Any] = {
        "object": request.object,
        "oldObject": request.old_object,
        "request": request.as_cel(),
    }
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
            message = (
                evaluate(validation["messageExpression"], activation)
                if "messageExpression" in validation
                else validation["message"]
            )
            assert isinstance(message, str) and "\n" not in message
            failures.append(message)
    refused = bool(failures) and any("Deny" in b["spec"]["validationActions"] for b in own)
    return Decision(matched=True, refused=refused, failures=failures)
