"""A closed-world model of Kubernetes RBAC for computing effective permissions.

What it mirrors, from kubernetes/kubernetes@v1.34.11 (the version infra/kind-cluster.yaml runs):
* the bootstrap ClusterRoles a tenant user or a ServiceAccount can hold without any binding of
  the platform's, and the ClusterRoleBindings that give them to the groups every authenticated
  user and every ServiceAccount is in:
  plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go (ClusterRoles, ClusterRoleBindings),
  rendered by the same package's golden files testdata/cluster-roles.yaml and
  testdata/cluster-role-bindings.yaml (policy_test.go keeps those equal to policy.go). The tables
  below were derived from those files when this module was written, keeping only the roles bound
  to system:authenticated, system:unauthenticated or system:serviceaccounts and the aggregated
  roles admin/edit/view with their aggregate-to-* sources;
* ClusterRole aggregation: a ClusterRole with an aggregationRule holds the rules of every
  ClusterRole whose labels match one of its label selectors (matchLabels and matchExpressions,
  tests/support/admission_match.py)
  (pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go);
* rule matching: a rule grants a request when its apiGroups, resources (`*` is every resource
  and subresource, `*/<sub>` that subresource of every resource, anything else exactly
  `<resource>` or `<resource>/<sub>`) and verbs (`*` any) match, and resourceNames, when
  present, name the object; a non-resource rule grants a path that equals one of its
  nonResourceURLs, or starts with one ending in `*` (pkg/apis/rbac/v1/evaluation_helpers.go:
  VerbMatches, APIGroupMatches, ResourceMatches, ResourceNameMatches, NonResourceURLMatches);
* a RoleBinding grants its role's rules in its own namespace only; a ClusterRoleBinding
  everywhere (pkg/registry/rbac/validation/rule.go VisitRulesFor).

Closed world: a field the model does not know (in a role, a rule, a binding or a subject) is an
error, not something to skip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.admission_match import UnknownField, selector_matches

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
ESCALATION_VERBS = ("impersonate", "bind", "escalate")

BOOTSTRAP_CLUSTER_ROLES = {
    "admin": {"aggregate_from": [{"rbac.authorization.k8s.io/aggregate-to-admin": "true"}], "labels": {}, "rules": []},
    "edit": {
        "aggregate_from": [{"rbac.authorization.k8s.io/aggregate-to-edit": "true"}],
        "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
        "rules": [],
    },
    "system:aggregate-to-admin": {
        "aggregate_from": [],
        "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
        "rules": [
            {"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]},
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["rolebindings", "roles"],
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            },
        ],
    },
    "system:aggregate-to-edit": {
        "aggregate_from": [],
        "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        "rules": [
            {
                "apiGroups": [""],
                "resources": [
                    "pods/attach",
                    "pods/exec",
                    "pods/portforward",
                    "pods/proxy",
                    "secrets",
                    "services/proxy",
                ],
                "verbs": ["get", "list", "watch"],
            },
            {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
            {
                "apiGroups": [""],
                "resources": ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"],
                "verbs": ["create", "delete", "deletecollection", "patch", "update"],
            },
            {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
            {
                "apiGroups": [""],
                "resources": [
                    "configmaps",
                    "events",
                    "persistentvolumeclaims",
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "secrets",
                    "serviceaccounts",
                    "services",
                    "services/proxy",
                ],
                "verbs": ["create", "delete", "deletecollection", "patch", "update"],
            },
            {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
            {
                "apiGroups": ["apps"],
                "resources": [
                    "daemonsets",
                    "deployments",
                    "deployments/rollback",
                    "deployments/scale",
                    "replicasets",
                    "replicasets/scale",
                    "statefulsets",
                    "statefulsets/scale",
                ],
                "verbs": ["create", "delete", "deletecollection", "patch", "update"],
            },
            {
                "apiGroups": ["autoscaling"],
                "resources": ["horizontalpodautoscalers"],
                "verbs": ["create", "delete", "deletecollection", "patch", "update"],
            },
            {
                "apiGroups": ["batch"],
                "resources": ["cronjobs", "jobs"],
                "verbs": ["create", "delete", "deletecollection", "patch", "update"],
            },
            {
                "apiGroups": ["extensions"],
                "resources": [
                    "daemonsets",
                    "deployments",
                    "deployments/rollback",
                    "deployments/scale",
                    "ingresses",
                    "networkpolicies",
                    "replicasets",
                    "replicasets/scale",
                    "replicationcontrollers/scale",
                ],
                "verbs": ["create", "delete", "deletecollection", "patch", "update"],
            },
            {
                "apiGroups": ["policy"],
                "resources": ["poddisruptionbudgets"],
                "verbs": ["create", "delete", "deletecollection", "patch", "update"],
            },
            {
                "apiGroups": ["networking.k8s.io"],
                "resources": ["ingresses", "networkpolicies"],
                "verbs": ["create", "delete", "deletecollection", "patch", "update"],
            },
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            },
            {
                "apiGroups": ["resource.k8s.io"],
                "resources": ["resourceclaims", "resourceclaimtemplates"],
                "verbs": ["create", "delete", "deletecollection", "patch", "update"],
            },
        ],
    },
    "system:aggregate-to-view": {
        "aggregate_from": [],
        "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
        "rules": [
            {
                "apiGroups": [""],
                "resources": [
                    "configmaps",
                    "endpoints",
                    "persistentvolumeclaims",
                    "persistentvolumeclaims/status",
                    "pods",
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "serviceaccounts",
                    "services",
                    "services/status",
                ],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": [""],
                "resources": [
                    "bindings",
                    "events",
                    "limitranges",
                    "namespaces/status",
                    "pods/log",
                    "pods/status",
                    "replicationcontrollers/status",
                    "resourcequotas",
                    "resourcequotas/status",
                ],
                "verbs": ["get", "list", "watch"],
            },
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
            {
                "apiGroups": ["apps"],
                "resources": [
                    "controllerrevisions",
                    "daemonsets",
                    "daemonsets/status",
                    "deployments",
                    "deployments/scale",
                    "deployments/status",
                    "replicasets",
                    "replicasets/scale",
                    "replicasets/status",
                    "statefulsets",
                    "statefulsets/scale",
                    "statefulsets/status",
                ],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["autoscaling"],
                "resources": ["horizontalpodautoscalers", "horizontalpodautoscalers/status"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["batch"],
                "resources": ["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["extensions"],
                "resources": [
                    "daemonsets",
                    "daemonsets/status",
                    "deployments",
                    "deployments/scale",
                    "deployments/status",
                    "ingresses",
                    "ingresses/status",
                    "networkpolicies",
                    "replicasets",
                    "replicasets/scale",
                    "replicasets/status",
                    "replicationcontrollers/scale",
                ],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["policy"],
                "resources": ["poddisruptionbudgets", "poddisruptionbudgets/status"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["networking.k8s.io"],
                "resources": ["ingresses", "ingresses/status", "networkpolicies"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["resource.k8s.io"],
                "resources": ["resourceclaims", "resourceclaims/status", "resourceclaimtemplates"],
                "verbs": ["get", "list", "watch"],
            },
        ],
    },
    "system:basic-user": {
        "aggregate_from": [],
        "labels": {},
        "rules": [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            },
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
        ],
    },
    "system:discovery": {
        "aggregate_from": [],
        "labels": {},
        "rules": [
            {
                "nonResourceURLs": [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                "verbs": ["get"],
            }
        ],
    },
    "system:public-info-viewer": {
        "aggregate_from": [],
        "labels": {},
        "rules": [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
    },
    "system:service-account-issuer-discovery": {
        "aggregate_from": [],
        "labels": {},
        "rules": [
            {
                "nonResourceURLs": [
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
                "verbs": ["get"],
            }
        ],
    },
    "view": {
        "aggregate_from": [{"rbac.authorization.k8s.io/aggregate-to-view": "true"}],
        "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        "rules": [],
    },
}

BOOTSTRAP_GROUP_BINDINGS = [
    ("system:basic-user", "system:basic-user", ("system:authenticated",)),
    ("system:discovery", "system:discovery", ("system:authenticated",)),
    ("system:public-info-viewer", "system:public-info-viewer", ("system:authenticated", "system:unauthenticated")),
    ("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", ("system:serviceaccounts",)),
]

_RULE_FIELDS = {"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"}
_ROLE_FIELDS = {"apiVersion", "kind", "metadata", "rules", "aggregationRule"}
_BINDING_FIELDS = {"apiVersion", "kind", "metadata", "roleRef", "subjects"}
_SUBJECT_FIELDS = {"apiGroup", "kind", "name", "namespace"}


@dataclass(frozen=True)
class Subject:
    """Who asks: a user with groups (a ServiceAccount is the user
    system:serviceaccount:<namespace>:<name> in groups system:serviceaccounts and
    system:serviceaccounts:<namespace>)."""

    username: str
    groups: tuple[str, ...]

    @staticmethod
    def service_account(namespace: str, name: str) -> Subject:
        return Subject(
            f"system:serviceaccount:{namespace}:{name}",
            ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
        )

    @staticmethod
    def user(name: str, *groups: str) -> Subject:
        return Subject(name, (*groups, "system:authenticated"))


def _check_fields(obj: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(obj) - allowed
    if unknown:
        raise UnknownField(f"{what}: fields the RBAC model does not know: {sorted(unknown)}")


def _check_rule(rule: Mapping[str, Any], what: str, namespaced: bool) -> None:
    """A rule names resources or non-resource URLs, never both, and a Role's rules never URLs
    (kubernetes/kubernetes@v1.34.11:pkg/apis/rbac/validation/validation.go ValidatePolicyRule)."""
    _check_fields(rule, _RULE_FIELDS, what)
    if not rule.get("verbs"):
        raise UnknownField(f"{what}: verbs must not be empty")
    if rule.get("nonResourceURLs"):
        if namespaced:
            raise UnknownField(f"{what}: namespaced rules cannot apply to non-resource URLs")
        if rule.get("resources") or rule.get("apiGroups") or rule.get("resourceNames"):
            raise UnknownField(f"{what}: rules cannot apply to both regular resources and non-resource URLs")
    elif not rule.get("resources") or not rule.get("apiGroups"):
        raise UnknownField(f"{what}: resource rules must supply at least one api group and one resource")


def _rule_matches(rule: Mapping[str, Any], group: str, resource: str, verb: str, name: str | None) -> bool:
    if rule.get("nonResourceURLs"):
        return False  # a URL rule grants no resource (ResourceMatches over an empty resources list)
    verbs, groups, resources = rule.get("verbs") or [], rule.get("apiGroups") or [], rule.get("resources") or []
    if "*" not in verbs and verb not in verbs:
        return False
    if "*" not in groups and group not in groups:
        return False
    _, _, sub = resource.partition("/")
    if not ("*" in resources or resource in resources or (sub and f"*/{sub}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or (name is not None and name in names)


def _url_matches(rule: Mapping[str, Any], verb: str, path: str) -> bool:
    """NonResourceURLMatches: `*` every path, an exact path, or a prefix ending in `*`."""
    urls, verbs = rule.get("nonResourceURLs") or [], rule.get("verbs") or []
    if "*" not in verbs and verb not in verbs:
        return False
    return any(url == "*" or url == path or (url.endswith("*") and path.startswith(url.rstrip("*"))) for url in urls)


class Cluster:
    """The bootstrap roles and bindings above, plus the platform's rendered RBAC objects."""

    def __init__(self, objects: Iterable[Mapping[str, Any]]):
        self.cluster_roles: dict[str, dict] = {
            name: {
                "metadata": {"name": name, "labels": role["labels"]},
                "rules": role["rules"],
                "aggregate_from": [{"matchLabels": labels} for labels in role["aggregate_from"]],
            }
            for name, role in BOOTSTRAP_CLUSTER_ROLES.items()
        }
        self.roles: dict[tuple[str, str], dict] = {}
        self.bindings: list[tuple[str | None, dict]] = [  # (namespace or None for cluster-wide, binding)
            (
                None,
                {
                    "roleRef": {"kind": "ClusterRole", "name": role},
                    "subjects": [{"kind": "Group", "name": group} for group in groups],
                },
            )
            for _, role, groups in BOOTSTRAP_GROUP_BINDINGS
        ]
        for obj in objects:
            kind = obj["kind"]
            if kind == "ClusterRole":
                where = f"ClusterRole {obj['metadata']['name']}"
                _check_fields(obj, _ROLE_FIELDS, where)
                for rule in obj.get("rules") or []:
                    _check_rule(rule, f"{where} rule", namespaced=False)
                _check_fields(obj.get("aggregationRule") or {}, {"clusterRoleSelectors"}, f"{where}.aggregationRule")
                selectors = list((obj.get("aggregationRule") or {}).get("clusterRoleSelectors", []))
                for selector in selectors:
                    _check_fields(selector, {"matchLabels", "matchExpressions"}, f"{where}.aggregationRule selector")
                self.cluster_roles[obj["metadata"]["name"]] = {
                    "metadata": obj["metadata"],
                    "rules": obj.get("rules") or [],
                    "aggregate_from": selectors,
                }
            elif kind == "Role":
                _check_fields(obj, _ROLE_FIELDS - {"aggregationRule"}, f"Role {obj['metadata']['name']}")
                for rule in obj.get("rules") or []:
                    _check_rule(rule, f"Role {obj['metadata']['name']} rule", namespaced=True)
                self.roles[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
            elif kind in ("RoleBinding", "ClusterRoleBinding"):
                _check_fields(obj, _BINDING_FIELDS, f"{kind} {obj['metadata']['name']}")
                _check_fields(obj["roleRef"], {"apiGroup", "kind", "name"}, f"{kind} {obj['metadata']['name']}.roleRef")
                for subject in obj.get("subjects") or []:
                    _check_fields(subject, _SUBJECT_FIELDS, f"{kind} {obj['metadata']['name']} subject")
                    if subject["kind"] not in ("User", "Group", "ServiceAccount"):
                        raise UnknownField(f"{kind} {obj['metadata']['name']}: subject kind {subject['kind']!r}")
                    if subject["kind"] == "ServiceAccount" and not subject.get("namespace"):
                        raise UnknownField(
                            f"{kind} {obj['metadata']['name']}: a ServiceAccount subject needs its namespace"
                        )
                self.bindings.append((obj["metadata"]["namespace"] if kind == "RoleBinding" else None, obj))

    def cluster_role_rules(self, name: str) -> list[dict]:
        """A ClusterRole's rules, aggregation included (one level deep is not enough: edit
        aggregates view, admin aggregates edit)."""
        role = self.cluster_roles.get(name)
        if role is None:
            return []  # a binding to a role that does not exist grants nothing
        rules = list(role["rules"])
        if role["aggregate_from"]:
            for other_name, other in self.cluster_roles.items():
                labels = other["metadata"].get("labels") or {}
                if other_name != name and any(
                    selector_matches(selector, labels, f"ClusterRole {name} aggregation")
                    for selector in role["aggregate_from"]
                ):
                    rules += self.cluster_role_rules(other_name)
        return rules

    @staticmethod
    def _binds(binding: Mapping[str, Any], who: Subject) -> bool:
        for subject in binding.get("subjects") or []:
            kind = subject["kind"]
            if kind == "User" and subject["name"] == who.username:
                return True
            if kind == "Group" and subject["name"] in who.groups:
                return True
            if (
                kind == "ServiceAccount"
                and who.username == f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
            ):
                return True
            if kind not in ("User", "Group", "ServiceAccount"):
                raise ValueError(f"subject kind the RBAC model does not know: {kind}")
        return False

    def rules_for(self, who: Subject, namespace: str) -> list[dict]:
        """Every rule that applies to `who` for a request in `namespace` ('' for cluster scope)."""
        rules: list[dict] = []
        for bound_namespace, binding in self.bindings:
            if bound_namespace is not None and bound_namespace != namespace:
                continue
            if not self._binds(binding, who):
                continue
            ref = binding["roleRef"]
            if ref["kind"] == "ClusterRole":
                rules += self.cluster_role_rules(ref["name"])
            elif ref["kind"] == "Role":
                role = self.roles.get((bound_namespace, ref["name"]))
                rules += (role or {}).get("rules") or []
            else:
                raise ValueError(f"roleRef kind the RBAC model does not know: {ref['kind']}")
        return rules

    def allows_url(self, who: Subject, verb: str, path: str) -> bool:
        """A non-resource request (GET /metrics, /healthz, ...): cluster-wide bindings only."""
        return any(_url_matches(rule, verb, path) for rule in self.rules_for(who, ""))

    def allows(
        self, who: Subject, verb: str, group: str, resource: str, namespace: str, name: str | None = None
    ) -> bool:
        return any(_rule_matches(rule, group, resource, verb, name) for rule in self.rules_for(who, namespace))
