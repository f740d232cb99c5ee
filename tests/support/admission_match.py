"""Which admission requests a policy's matchConstraints select: label selectors, resource rules
and MatchResources, as the Kubernetes API server and Kyverno evaluate them.

Closed world: a field of a selector, a rule or matchConstraints that is not listed here is an
error (`UnknownField`), and so is a value outside an enum; nothing is skipped.

What it mirrors (Kubernetes 1.34, the minor infra/kind-cluster.yaml runs; v0.34.10 is the newest
1.34 tag of the staging repositories checked, and these files are unchanged across 1.34 patches):
* label selectors: kubernetes/apimachinery@v0.34.10:pkg/apis/meta/v1/helpers.go
  LabelSelectorAsSelector (matchLabels are Equals requirements, the four operators, anything
  else an error; an empty selector selects everything) and pkg/labels/selector.go
  NewRequirement (In/NotIn need values, Exists/DoesNotExist none) and Requirement.Matches
  (NotIn matches a missing key);
* one rule: kubernetes/apiserver@v0.34.10:pkg/admission/plugin/webhook/predicates/rules/rules.go
  Matcher.Matches = scope && operation && group && version && resource; `*` in a list matches
  anything; a resource entry splits at the first `/` and `*` in either part matches that part
  whatever it is, the empty subresource included (so `*` alone never matches a subresource,
  `pods/*` matches pods and every subresource of pods); scope
  Namespaced excludes the namespaces resource, Cluster includes it;
* MatchResources: kubernetes/apiserver@v0.34.10:pkg/admission/plugin/policy/matching/matching.go
  Matcher.Matches, and Kyverno's copy kyverno/kyverno@v1.19.0:pkg/cel/matching/matcher.go
  (namespaceSelector, then objectSelector, then excludeResourceRules win, then resourceRules; a
  namespace that cannot be looked up is an error only for a request the rules select;
  no resourceRules matches every resource; a rule with resourceNames matches only those names,
  or an unnamed CREATE whose generateName starts with one);
* namespace labels: kyverno/kyverno@v1.19.0:pkg/cel/matching/predicates/namespace/matcher.go
  (a copy of kubernetes/apiserver@v0.34.10:pkg/admission/plugin/webhook/predicates/namespace/
  matcher.go): a cluster-scoped request other than for a Namespace is never excluded by the
  namespaceSelector; a CREATE or UPDATE of a Namespace is matched on the new object's labels,
  every other request on the labels of the stored namespace;
* objectSelector: kubernetes/apiserver@v0.34.10:pkg/admission/plugin/webhook/predicates/object/
  matcher.go MatchObjectSelector (the new object's labels or the old object's labels match).
matchPolicy `Exact` is interpreted; `Equivalent` (the API server's default) also sends requests
for other versions of the same resource, which needs the cluster's discovery: the model rejects
it unless every rule already lists every version (`*`), where both policies agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NAME_LABEL = "kubernetes.io/metadata.name"
OPERATIONS = {"CREATE", "UPDATE", "DELETE", "CONNECT", "*"}
SCOPES = {"Cluster", "Namespaced", "*"}
_SELECTOR = {"matchLabels", "matchExpressions"}
_EXPRESSION = {"key", "operator", "values"}
_RULE = {"apiGroups", "apiVersions", "operations", "resources", "scope"}
_NAMED_RULE = _RULE | {"resourceNames"}
_MATCH_RESOURCES = {"namespaceSelector", "objectSelector", "resourceRules", "excludeResourceRules", "matchPolicy"}


class UnknownField(AssertionError):
    """A field or value a model of an upstream component does not interpret."""


class MissingNamespace(UnknownField):
    """The request's namespace is not known: the API server answers 404 when the rules select it."""


def closed(obj: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(obj) - allowed
    if unknown:
        raise UnknownField(f"{what}: {sorted(unknown)} not modelled (known: {sorted(allowed)})")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str], what: str = "selector") -> bool:
    """A metav1.LabelSelector; absent or empty selects everything (callers for whom an absent
    selector means nothing decide that themselves)."""
    if not selector:
        return True
    closed(selector, _SELECTOR, what)
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        closed(expression, _EXPRESSION, f"{what}.matchExpressions")
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator in ("In", "NotIn") and not values:
            raise UnknownField(f"{what}: operator {operator} on {key} needs values (NewRequirement rejects it)")
        if operator in ("Exists", "DoesNotExist") and values:
            raise UnknownField(f"{what}: operator {operator} on {key} takes no values (NewRequirement rejects it)")
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise UnknownField(f"{what}: {operator!r} is not a valid label selector operator")
        if not ok:
            return False
    return True


@dataclass
class Attributes:
    """The admission attributes matching reads (admission.Attributes)."""

    operation: str
    group: str
    version: str
    resource: str
    namespace: str
    object: dict | None = None
    old_object: dict | None = None
    sub_resource: str = ""
    name: str = ""
    # labels of the stored namespaces, by name (the API server's namespace lister)
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS - {"*"}:
            raise UnknownField(f"admission operation {self.operation!r} does not exist")


def _exact_or_wildcard(items: list[str], requested: str) -> bool:
    return "*" in items or requested in items


def rule_matches(rule: Mapping[str, Any], attr: Attributes, what: str = "rule") -> bool:
    closed(rule, _NAMED_RULE, what)
    for key in ("apiGroups", "apiVersions", "operations", "resources"):
        if not rule.get(key):
            raise UnknownField(f"{what}: {key} is required and must not be empty")
    if set(rule["operations"]) - OPERATIONS:
        raise UnknownField(f"{what}: operations {sorted(set(rule['operations']) - OPERATIONS)} do not exist")
    scope = rule.get("scope", "*")
    if scope not in SCOPES:
        raise UnknownField(f"{what}: scope {scope!r} is not one of {sorted(SCOPES)}")
    is_namespace = (attr.group, attr.version, attr.resource) == ("", "v1", "namespaces")
    if scope == "Namespaced":
        scope_ok = not is_namespace and bool(attr.namespace)
    elif scope == "Cluster":
        scope_ok = is_namespace or not attr.namespace
    else:
        scope_ok = True

    def resource_ok() -> bool:
        for entry in rule["resources"]:
            res, _, sub = entry.partition("/")
            if (res == "*" or res == attr.resource) and (sub == "*" or sub == attr.sub_resource):
                return True
        return False

    return (
        scope_ok
        and _exact_or_wildcard(rule["operations"], attr.operation)
        and _exact_or_wildcard(rule["apiGroups"], attr.group)
        and _exact_or_wildcard(rule["apiVersions"], attr.version)
        and resource_ok()
    )


def _named_rules_match(rules: list[Mapping[str, Any]], attr: Attributes, what: str) -> bool:
    for rule in rules:
        if not rule_matches(rule, attr, what):
            continue
        names = rule.get("resourceNames") or []
        if not names:
            return True
        if attr.name:
            if attr.name in names:
                return True
            continue
        generate_name = ((attr.object or {}).get("metadata") or {}).get("generateName", "")
        if any(generate_name.startswith(n) for n in names):
            return True
    return False


def _namespace_labels(attr: Attributes) -> Mapping[str, str]:
    if attr.resource == "namespaces" and not attr.sub_resource and attr.operation in ("CREATE", "UPDATE"):
        return ((attr.object or {}).get("metadata") or {}).get("labels") or {}
    if attr.namespace not in attr.namespace_labels:
        raise MissingNamespace(
            f"namespace {attr.namespace!r} is not in the model's namespace list (the API server answers 404)"
        )
    return {**attr.namespace_labels[attr.namespace], NAME_LABEL: attr.namespace}


def match_resources(constraints: Mapping[str, Any], attr: Attributes, what: str = "matchConstraints") -> bool:
    closed(constraints, _MATCH_RESOURCES, what)
    policy = constraints.get("matchPolicy", "Equivalent")
    if policy not in ("Exact", "Equivalent"):
        raise UnknownField(f"{what}.matchPolicy: {policy!r} is not Exact or Equivalent")
    rules = [*(constraints.get("resourceRules") or []), *(constraints.get("excludeResourceRules") or [])]
    if policy == "Equivalent" and any(rule.get("apiVersions") != ["*"] and not _core_only(rule) for rule in rules):
        raise UnknownField(
            f"{what}.matchPolicy Equivalent on a rule naming versions of a group that serves several "
            "needs discovery data the model does not have; set matchPolicy: Exact or apiVersions: ['*']"
        )
    namespace_selector = constraints.get("namespaceSelector")
    namespace_error: UnknownField | None = None
    if namespace_selector and (attr.namespace or attr.resource == "namespaces"):
        try:
            labels = _namespace_labels(attr)
        except MissingNamespace as error:  # reported only if the rules select the request
            namespace_error = error
        else:
            if not selector_matches(namespace_selector, labels, f"{what}.namespaceSelector"):
                return False
    object_selector = constraints.get("objectSelector")
    if object_selector:
        hit = any(
            obj is not None
            and selector_matches(
                object_selector, (obj.get("metadata") or {}).get("labels") or {}, f"{what}.objectSelector"
            )
            for obj in (attr.object, attr.old_object)
        )
        if not hit:
            return False
    if _named_rules_match(constraints.get("excludeResourceRules") or [], attr, f"{what}.excludeResourceRules"):
        return False
    if constraints.get("resourceRules") and not _named_rules_match(
        constraints["resourceRules"], attr, f"{what}.resourceRules"
    ):
        return False
    if namespace_error is not None:
        raise namespace_error
    return True


# Groups with one served version in Kubernetes 1.34 (and the CRD groups the platform matches,
# one version each in the pinned CRDs): Equivalent and Exact select the same requests there.
SINGLE_VERSION_GROUPS = {"", "discovery.k8s.io", "networking.k8s.io", "cert-manager.io", "rbac.authorization.k8s.io"}


def _core_only(rule: Mapping[str, Any]) -> bool:
    return all(group in SINGLE_VERSION_GROUPS for group in rule.get("apiGroups") or ["*"])
