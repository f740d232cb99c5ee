"""The test models of upstream components are closed-world: a field they are given and do not
interpret fails with a message naming it, and the fields they do interpret mean what upstream
means (citations in each model's module).

Models: tests/support/admission_match.py (selectors, rules, matchConstraints), the Kyverno
harness (tests/test_provenance_cel.py), tests/support/vap.py, tests/support/netpol.py,
tests/support/kube_rbac.py, tests/support/collector_model.py, tests/support/agentgateway.py
(their own unknown-field tests live in test_telemetry.py and test_gateway_pipeline.py; one
each is repeated here so this file lists every model) and tests/support/upstream.py.
"""

from __future__ import annotations

import copy

import pytest

from agentplane.builders import provenance as build
from tests import test_provenance_cel as k
from tests.support import admission_match as am
from tests.support import collector_model, netpol
from tests.support.kube_rbac import Cluster, Subject
from tests.support.vap import Request as VapRequest
from tests.support.vap import decide

NS_LABELS = {"payments": {"agentplane.io/tenant": "payments"}, "agentplane-gateway": {}}


def attr(
    operation="CREATE",
    group="",
    version="v1",
    resource="pods",
    namespace="payments",
    sub="",
    name="p",
    labels=None,
    old_labels=None,
    generate_name=None,
) -> am.Attributes:
    def obj(lbls):
        meta = {"name": name, "labels": lbls or {}}
        if generate_name:
            meta = {"generateName": generate_name, "labels": lbls or {}}
        return {"metadata": meta}

    return am.Attributes(
        operation,
        group,
        version,
        resource,
        namespace,
        None if operation == "DELETE" else obj(labels),
        obj(old_labels) if old_labels is not None or operation in ("UPDATE", "DELETE") else None,
        sub,
        "" if generate_name else name,
        NS_LABELS,
    )


RULE = {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}


# --------------------------------------------------------------------------- admission matching


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"matchLabel": {"a": "b"}}, "matchLabel"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            "not a valid label selector operator",
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "needs values"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "takes no values"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "value": "x"}]}, "value"),
    ],
)
def test_label_selector_rejects_what_it_does_not_interpret(selector, message):
    with pytest.raises(am.UnknownField, match=message):
        am.selector_matches(selector, {"a": "1"})


def test_label_selector_semantics():
    assert am.selector_matches({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}, {})
    assert not am.selector_matches({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}, {})
    assert am.selector_matches({}, {}) and am.selector_matches(None, {})


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        ({"resourceRules": [{**RULE, "resourceName": ["p"]}]}, "resourceName"),
        ({"resourceRules": [RULE], "namespaceSelectors": {}}, "namespaceSelectors"),
        ({"resourceRules": [{**RULE, "operations": ["PATCH"]}]}, "PATCH"),
        ({"resourceRules": [{**RULE, "scope": "Namespace"}]}, "scope"),
        ({"resourceRules": [{**RULE, "apiVersions": []}]}, "apiVersions is required"),
        ({"resourceRules": [RULE], "matchPolicy": "Fuzzy"}, "Fuzzy"),
        (
            {
                "resourceRules": [{**RULE, "apiGroups": ["apps"], "resources": ["deployments"]}],
                "matchPolicy": "Equivalent",
            },
            "Equivalent",
        ),
    ],
)
def test_match_constraints_reject_what_they_do_not_interpret(constraints, message):
    with pytest.raises(am.UnknownField, match=message):
        am.match_resources(constraints, attr())


def test_rule_resources_and_subresources():
    star = {**RULE, "resources": ["*"]}
    assert am.match_resources({"resourceRules": [star]}, attr())
    assert not am.match_resources({"resourceRules": [star]}, attr(sub="status")), "`*` names no subresource"
    assert am.match_resources({"resourceRules": [{**RULE, "resources": ["pods/*"]}]}, attr(sub="status"))
    # `pods/*` splits into ("pods", "*") and `*` matches the empty subresource too: pods itself
    # (kubernetes/apiserver@v0.34.10:pkg/admission/plugin/webhook/predicates/rules/rules.go resource())
    assert am.match_resources({"resourceRules": [{**RULE, "resources": ["pods/*"]}]}, attr())
    assert not am.match_resources({"resourceRules": [{**RULE, "resources": ["pods/status"]}]}, attr())
    assert am.match_resources({"resourceRules": [{**RULE, "resources": ["*/status"]}]}, attr(sub="status"))
    assert not am.match_resources({"resourceRules": [RULE]}, attr(version="v2"))
    assert not am.match_resources({"resourceRules": [RULE]}, attr(operation="UPDATE"))


def test_scope_excludes_namespaces_from_namespaced_rules():
    namespaced = {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "resources": ["*"],
        "operations": ["*"],
        "scope": "Namespaced",
    }
    assert not am.match_resources({"resourceRules": [namespaced]}, attr(resource="namespaces", namespace="payments"))
    cluster = {**namespaced, "scope": "Cluster"}
    assert am.match_resources({"resourceRules": [cluster]}, attr(resource="namespaces", namespace="payments"))
    assert not am.match_resources({"resourceRules": [cluster]}, attr())


def test_exclusions_win_and_resource_names_narrow():
    assert not am.match_resources({"resourceRules": [RULE], "excludeResourceRules": [RULE]}, attr())
    named = {**RULE, "resourceNames": ["p"]}
    assert am.match_resources({"resourceRules": [named]}, attr(name="p"))
    assert not am.match_resources({"resourceRules": [named]}, attr(name="q"))
    assert am.match_resources({"resourceRules": [named]}, attr(generate_name="p-")), "an unnamed CREATE by generateName"
    assert not am.match_resources(
        {"resourceRules": [RULE], "excludeResourceRules": [{**RULE, "resourceNames": ["p"]}]}, attr(name="p")
    )


def test_namespace_and_object_selectors():
    tenants = {"matchExpressions": [{"key": "agentplane.io/tenant", "operator": "Exists"}]}
    assert am.match_resources({"resourceRules": [RULE], "namespaceSelector": tenants}, attr())
    assert not am.match_resources(
        {"resourceRules": [RULE], "namespaceSelector": tenants}, attr(namespace="agentplane-gateway")
    )
    # a Namespace is matched on its own new labels at CREATE/UPDATE (not the stored ones)
    ns_rule = {**RULE, "resources": ["namespaces"], "operations": ["CREATE", "UPDATE", "DELETE"]}
    claimed = attr(
        resource="namespaces",
        namespace="agentplane-gateway",
        operation="UPDATE",
        labels={"agentplane.io/tenant": "x"},
        old_labels={},
    )
    assert am.match_resources({"resourceRules": [ns_rule], "namespaceSelector": tenants}, claimed)
    deleted = attr(resource="namespaces", namespace="agentplane-gateway", operation="DELETE")
    assert not am.match_resources({"resourceRules": [ns_rule], "namespaceSelector": tenants}, deleted)
    # a cluster-scoped request is never excluded by a namespaceSelector
    cluster_rule = {**RULE, "resources": ["nodes"]}
    assert am.match_resources(
        {"resourceRules": [cluster_rule], "namespaceSelector": tenants}, attr(resource="nodes", namespace="")
    )
    # the objectSelector matches the new or the old object's labels
    selector = {"matchLabels": {"app": "x"}}
    update = {**RULE, "operations": ["UPDATE"]}
    assert am.match_resources(
        {"resourceRules": [update], "objectSelector": selector},
        attr(operation="UPDATE", labels={}, old_labels={"app": "x"}),
    )
    assert not am.match_resources(
        {"resourceRules": [update], "objectSelector": selector}, attr(operation="UPDATE", labels={}, old_labels={})
    )


def test_an_unknown_namespace_is_an_error_only_when_the_rules_select_the_request():
    tenants = {"matchLabels": {"agentplane.io/tenant": "payments"}}
    assert not am.match_resources(
        {"resourceRules": [{**RULE, "resources": ["services"]}], "namespaceSelector": tenants},
        attr(namespace="nowhere"),
    )
    with pytest.raises(am.MissingNamespace):
        am.match_resources({"resourceRules": [RULE], "namespaceSelector": tenants}, attr(namespace="nowhere"))


# --------------------------------------------------------------------------- the Kyverno harness


def _labels_policy() -> dict:
    return copy.deepcopy(k.policy("ValidatingPolicy", build.POLICY_AGENT_LABELS))


def _bad_pod_request() -> k.Request:
    return k.pod_request(k.pod(service_account="refund-drafter", labels={k.TIER: "production"}), user=k.TENANT_OWNER)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("auditAnnotations",), [{"key": "x", "valueExpression": "'y'"}], "auditAnnotations"),
        (("targetMatchConstraints",), {}, "targetMatchConstraints"),
        (("credentials",), {}, "credentials"),
        (("evaluation", "mode"), "JSON", "mode"),
        (("evaluation", "background", "interval"), "1h", "interval"),
        (("webhookConfiguration",), {"timeoutSeconds": 10, "matchPolicy": "Exact"}, "matchPolicy"),
        (("validationActions",), ["Block"], "validationActions"),
        (("validationActions",), [], "validationActions"),
        (("failurePolicy",), "Retry", "failurePolicy"),
        (("matchConstraints", "namespaceSelector", "matchExpression"), [], "matchExpression"),
        (("matchConstraints", "objectSelectors"), {}, "objectSelectors"),
        (("autogen", "podControllers", "controllers"), None, "autogen"),
        (("autogen", "validatingAdmissionPolicy"), {"enabled": True}, "validatingAdmissionPolicy"),
    ],
)
def test_kyverno_harness_rejects_fields_it_does_not_interpret(path, value, message):
    policy_obj = _labels_policy()
    target = policy_obj["spec"]
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    with pytest.raises(am.UnknownField, match=message):
        k.run(policy_obj, _bad_pod_request())


def test_kyverno_harness_rejects_entry_fields_and_mutating_fields():
    policy_obj = _labels_policy()
    policy_obj["spec"]["validations"][0]["warning"] = "x"
    with pytest.raises(am.UnknownField, match="warning"):
        k.run(policy_obj, _bad_pod_request())
    policy_obj = _labels_policy()
    policy_obj["spec"]["matchConditions"][0]["when"] = "x"
    with pytest.raises(am.UnknownField, match="when"):
        k.run(policy_obj, _bad_pod_request())
    mutation = copy.deepcopy(k.policy("MutatingPolicy", build.POLICY_AGENT_LABELS))
    for change, message in (
        ({"reinvocationPolicy": "Always"}, "reinvocationPolicy"),
        ({"mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": "[]"}}]}, "jsonPatch"),
    ):
        broken = copy.deepcopy(mutation)
        broken["spec"].update(change)
        with pytest.raises(am.UnknownField, match=message):
            k.run(broken, k.pod_request(k.pod(service_account="invoice-triage")))
    image_policy = copy.deepcopy(k.policy("ImageValidatingPolicy", build.provenance_policy_name("enforce")))
    image_policy["spec"]["matchImageReferences"] = [{"expression": "true"}]
    with pytest.raises(am.UnknownField, match="expression"):
        k.verify("enforce", k.labeled("standard", k.SIGNED), ivpol=image_policy)


def test_kyverno_harness_interprets_exclusions_selectors_and_admission_switch():
    """The fields the harness accepts change the decision the way Kyverno would."""
    assert k.run(_labels_policy(), _bad_pod_request()).refused
    excluded = _labels_policy()
    excluded["spec"]["matchConstraints"]["excludeResourceRules"] = [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "operations": ["CREATE"],
            "resourceNames": ["p"],
        }
    ]
    assert not k.run(excluded, _bad_pod_request()).matched
    selected = _labels_policy()
    selected["spec"]["matchConstraints"]["objectSelector"] = {"matchLabels": {"app": "x"}}
    assert not k.run(selected, _bad_pod_request()).matched
    off = _labels_policy()
    off["spec"]["evaluation"]["admission"] = {"enabled": False}
    assert not k.run(off, _bad_pod_request()).matched
    audit = _labels_policy()
    audit["spec"]["validationActions"] = ["Audit"]
    outcome = k.run(audit, _bad_pod_request())
    assert outcome.denied and not outcome.refused
    autogen = _labels_policy()
    autogen["spec"]["autogen"]["podControllers"]["controllers"] = ["deployments"]
    with pytest.raises(am.UnknownField, match="pod-controller rules"):
        k.run(autogen, _bad_pod_request())


# --------------------------------------------------------------------------- ValidatingAdmissionPolicy


def _vap() -> tuple[dict, list[dict]]:
    policy = {
        "metadata": {"name": "p"},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [RULE]},
            "validations": [{"expression": "false", "message": "no"}],
        },
    }
    binding = {"metadata": {"name": "b"}, "spec": {"policyName": "p", "validationActions": ["Deny"]}}
    return policy, [binding]


def _vap_request() -> VapRequest:
    return VapRequest(
        "CREATE",
        "",
        "v1",
        "pods",
        "Pod",
        "payments",
        "bob",
        ("system:authenticated",),
        {"metadata": {"name": "p"}},
        None,
        "",
        "p",
    )


@pytest.mark.parametrize(
    ("where", "field", "message"),
    [
        ("policy", {"paramKind": {"kind": "ConfigMap"}}, "paramKind"),
        ("policy", {"auditAnnotations": []}, "auditAnnotations"),
        ("policy", {"failurePolicy": "Retry"}, "failurePolicy"),
        ("binding", {"paramRef": {"name": "x"}}, "paramRef"),
        ("binding", {"matchResources": {}}, "matchResources"),
        ("binding", {"validationActions": ["Block"]}, "validationActions"),
    ],
)
def test_vap_model_rejects_fields_it_does_not_interpret(where, field, message):
    policy, bindings = _vap()
    (policy["spec"] if where == "policy" else bindings[0]["spec"]).update(field)
    with pytest.raises(am.UnknownField, match=message):
        decide(policy, bindings, _vap_request(), NS_LABELS)


def test_vap_model_refuses_only_under_deny():
    policy, bindings = _vap()
    assert decide(policy, bindings, _vap_request(), NS_LABELS).refused
    bindings[0]["spec"]["validationActions"] = ["Warn", "Audit"]
    decision = decide(policy, bindings, _vap_request(), NS_LABELS)
    assert decision.matched and decision.failures == ["no"] and not decision.refused


# --------------------------------------------------------------------------- NetworkPolicy


def _netpol(**rule) -> dict:
    return {
        "metadata": {"name": "np", "namespace": "payments"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]},
    }


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}, "ipBlock"),
        ({"ports": [{"port": "http"}]}, "named ports"),
        ({"ports": [{"endPort": 90}]}, "endPort"),
        ({"ports": [{"port": 90, "endPort": 80}]}, "endPort"),
        ({"ports": [{"port": 80, "protocol": "ICMP"}]}, "protocol"),
        ({"from": [{"podSelector": {}, "namespaceSelectors": {}}]}, "namespaceSelectors"),
        ({"source": []}, "source"),
    ],
)
def test_netpol_model_rejects_what_it_does_not_interpret(rule, message):
    with pytest.raises(am.UnknownField, match=message):
        netpol.Network([_netpol(**rule)], NS_LABELS)


def test_netpol_model_rejects_unknown_policy_types_and_interprets_end_port():
    bad = _netpol()
    bad["spec"]["policyTypes"] = ["Ingres"]
    with pytest.raises(am.UnknownField, match="policyTypes"):
        netpol.Network([bad], NS_LABELS)
    network = netpol.Network([_netpol(ports=[{"port": 8000, "endPort": 8010}])], NS_LABELS)
    a = netpol.pod("payments", "a", {}, [8005])
    assert network.ingress_allowed(a, a, 8010) and not network.ingress_allowed(a, a, 8011)
    assert not network.ingress_allowed(a, a, 8005, "UDP")


# --------------------------------------------------------------------------- RBAC


def _role(rules: list[dict], kind: str = "ClusterRole", **extra) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "r", **({"namespace": "payments"} if kind == "Role" else {})},
        "rules": rules,
        **extra,
    }


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (_role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceName": ["x"]}]), "resourceName"),
        (
            _role([{"apiGroups": [""], "resources": ["pods"], "nonResourceURLs": ["/metrics"], "verbs": ["get"]}]),
            "both",
        ),
        (_role([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}], kind="Role"), "namespaced rules"),
        (_role([{"apiGroups": [""], "resources": ["pods"], "verbs": []}]), "verbs"),
        (_role([], aggregationRule={"clusterRoleSelectors": [{"matchLabel": {"a": "b"}}]}), "matchLabel"),
        (_role([], aggregationRule={"roleSelectors": []}), "roleSelectors"),
        (
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "b", "namespace": "payments"},
                "roleRef": {"kind": "Role", "name": "r"},
                "subjects": [{"kind": "Robot", "name": "x"}],
            },
            "Robot",
        ),
        (
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "b", "namespace": "payments"},
                "roleRef": {"kind": "Role", "name": "r", "namespace": "x"},
                "subjects": [],
            },
            "namespace",
        ),
    ],
)
def test_rbac_model_rejects_what_it_does_not_interpret(obj, message):
    with pytest.raises(am.UnknownField, match=message):
        Cluster([obj])


def test_rbac_model_interprets_urls_names_and_aggregation_expressions():
    bob = Subject.user("bob", "ops")
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "agg"},
        "subjects": [{"kind": "Group", "name": "ops"}],
    }
    agg = _role(
        [],
        aggregationRule={
            "clusterRoleSelectors": [{"matchExpressions": [{"key": "team", "operator": "In", "values": ["ops"]}]}]
        },
    )
    agg["metadata"]["name"] = "agg"
    urls = _role([{"nonResourceURLs": ["/metrics", "/debug/*"], "verbs": ["get"]}])
    urls["metadata"] = {"name": "urls", "labels": {"team": "ops"}}
    named = _role([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"], "verbs": ["update"]}])
    named["metadata"] = {"name": "named", "labels": {"team": "ops"}}
    cluster = Cluster([agg, urls, named, binding])
    assert cluster.allows_url(bob, "get", "/metrics") and cluster.allows_url(bob, "get", "/debug/pprof")
    assert not cluster.allows_url(bob, "get", "/metricsx") and not cluster.allows_url(bob, "post", "/metrics")
    assert cluster.allows(bob, "update", "", "configmaps", "payments", "cfg")
    assert not cluster.allows(bob, "update", "", "configmaps", "payments", "other")
    assert not cluster.allows(bob, "update", "", "configmaps", "payments")  # a create/list names no object


# --------------------------------------------------------------------------- collector


def test_collector_model_rejects_an_unknown_field_and_component():
    config = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317", "keepalive": {}}}}},
        "exporters": {"debug": {}},
        "processors": {},
        "connectors": {},
        "extensions": {},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": [], "exporters": ["debug"]}}},
    }
    problems = collector_model.config_problems(config)
    assert any("keepalive" in p and "unknown field" in p for p in problems), problems
    config["receivers"]["zipkin"] = {}
    assert any("zipkin" in p for p in collector_model.config_problems(config))


def test_collector_routing_model_rejects_what_it_does_not_interpret():
    config = {
        "connectors": {
            "routing/traces": {
                "default_pipelines": ["traces/platform"],
                "table": [{"context": "resource", "condition": 'attributes["team"] == "a"', "pipelines": ["p"]}],
            }
        }
    }
    with pytest.raises(AssertionError, match="error_mode 'propagate'"):
        collector_model._route(config, "routing/traces", {})
    config["connectors"]["routing/traces"]["error_mode"] = "ignore"
    assert collector_model._route(config, "routing/traces", {"team": "a"}) == ["p"]
    assert collector_model._route(config, "routing/traces", {"team": "b"}) == ["traces/platform"]
    config["connectors"]["routing/traces"]["table"] = [
        {"context": "resource", "statement": "route()", "pipelines": ["p"]}
    ]
    with pytest.raises(AssertionError, match="statement"):
        collector_model._route(config, "routing/traces", {})
