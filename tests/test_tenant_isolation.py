"""Tenant isolation, judged on the rendered plans: what a team member (kubectl with the RBAC the
platform grants) and code in a team's pod can reach and write.

* Effective permissions: the plan's RBAC plus Kubernetes' bootstrap roles and aggregation
  (tests/support/kube_rbac.py, kubernetes/kubernetes@v1.34.11), then the tenant guard
  ValidatingAdmissionPolicy as the API server applies it (tests/support/vap.py).
* Reachability: every NetworkPolicy of the plan over every tenant pod and every namespace and
  port (tests/support/netpol.py).
docs/threat-model.md names these tests line by line.
"""

from __future__ import annotations

import copy
import functools

import pytest

from agentplane import namespaces
from agentplane.builders import telemetry
from agentplane.builders import tenants as build
from agentplane.builders.identity.keycloak import KEYCLOAK_POD_LABELS
from agentplane.config.load import load_from_files
from agentplane.manifest import LABEL_AGENT, LABEL_PLATFORM_OWNED, LABEL_TIER
from tests.support.kube_rbac import ESCALATION_VERBS, WRITE_VERBS, Cluster, Subject
from tests.support.netpol import Network, Pod, pod
from tests.support.plans import (
    BACKEND_PORT,
    BACKEND_TEAM,
    ROOT,
    STACKS,
    example_plan,
    kubernetes_objects,
    plan_with_backend_team,
)
from tests.support.vap import Request, decide

# --------------------------------------------------------------------------- the plans


@functools.cache
def objects(stack: str) -> tuple[dict, ...]:
    return tuple(kubernetes_objects(example_plan(stack)))


@functools.cache
def spec_of(stack: str):
    return load_from_files(stack, root=ROOT)


def namespace_labels(stack: str) -> dict[str, dict[str, str]]:
    found = {
        o["metadata"]["name"]: dict(o["metadata"].get("labels") or {})
        for o in objects(stack)
        if o["kind"] == "Namespace"
    }
    for extra in ("kube-system", "default"):
        found.setdefault(extra, {})
    return found


def tenant_namespaces(stack: str) -> list[str]:
    found = sorted(team.namespace for team in spec_of(stack).teams)
    assert found
    return found


def guard(stack: str) -> tuple[dict, list[dict]]:
    (policy,) = [
        o
        for o in objects(stack)
        if o["kind"] == "ValidatingAdmissionPolicy" and o["metadata"]["name"] == build.TENANT_GUARD
    ]
    bindings = [o for o in objects(stack) if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert bindings
    return policy, bindings


def cluster(stack: str) -> Cluster:
    return Cluster(
        o for o in objects(stack) if o["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
    )


# (apiVersion, kind) -> resource, for every kind the plans declare. Closed: a new kind must be added.
RESOURCES = {
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): "validatingadmissionpolicies",
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): "validatingadmissionpolicybindings",
    ("agentgateway.dev/v1alpha1", "AgentgatewayBackend"): "agentgatewaybackends",
    ("agentgateway.dev/v1alpha1", "AgentgatewayParameters"): "agentgatewayparameters",
    ("agentgateway.dev/v1alpha1", "AgentgatewayPolicy"): "agentgatewaypolicies",
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "StatefulSet"): "statefulsets",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): "scheduledbackups",
    ("cert-manager.io/v1", "Certificate"): "certificates",
    ("cert-manager.io/v1", "ClusterIssuer"): "clusterissuers",
    ("gateway.networking.k8s.io/v1", "Gateway"): "gateways",
    ("gateway.networking.k8s.io/v1", "GatewayClass"): "gatewayclasses",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproutes",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    ("opentelemetry.io/v1alpha1", "Instrumentation"): "instrumentations",
    ("opentelemetry.io/v1beta1", "OpenTelemetryCollector"): "opentelemetrycollectors",
    ("policies.kyverno.io/v1", "ImageValidatingPolicy"): "imagevalidatingpolicies",
    ("policies.kyverno.io/v1", "MutatingPolicy"): "mutatingpolicies",
    ("policies.kyverno.io/v1", "ValidatingPolicy"): "validatingpolicies",
    ("postgresql.cnpg.io/v1", "Cluster"): "clusters",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "clusterroles",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "clusterrolebindings",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rolebindings",
    ("spire.spiffe.io/v1alpha1", "ClusterSPIFFEID"): "clusterspiffeids",
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "LimitRange"): "limitranges",
    ("v1", "Namespace"): "namespaces",
    ("v1", "ResourceQuota"): "resourcequotas",
    ("v1", "Secret"): "secrets",
    ("v1", "Service"): "services",
    ("v1", "ServiceAccount"): "serviceaccounts",
}


def gvr(obj: dict) -> tuple[str, str, str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    return group, version, RESOURCES[(obj["apiVersion"], obj["kind"])]


def tenant_subjects(stack: str) -> list[tuple[str, Subject]]:
    """Everyone a tenant can be: each team's owners and members (the groups in their tokens,
    with the environment's prefix), each agent's ServiceAccount, each namespace's default one."""
    spec = spec_of(stack)
    prefix = spec.env.tenancy.group_prefix
    found = []
    for team in spec.teams:
        for group in team.owners:
            found.append((f"{team.name} owner", Subject.user(f"oidc:{group}-owner", prefix + group)))
        for group in team.members:
            found.append((f"{team.name} member", Subject.user(f"oidc:{group}-member", prefix + group)))
        for agent in team.agents:
            found.append((f"{team.namespace}/{agent.name}", Subject.service_account(team.namespace, agent.name)))
        found.append((f"{team.namespace}/default", Subject.service_account(team.namespace, "default")))
    assert any("member" in what for what, _ in found) and any("/" in what for what, _ in found)
    return found


def write_requests(obj: dict, verb: str, who: Subject) -> list[Request]:
    """The admission requests a write of `obj` becomes (patch and update are UPDATE at admission;
    a changed object may also try to drop the platform-owned label on the way)."""
    group, version, resource = gvr(obj)
    # The API server sets a Namespace's own name as the namespace of requests for it
    # (kubernetes/apiserver@v0.34.10:pkg/admission/plugin/webhook/predicates/rules/rules.go scope()).
    namespace = obj["metadata"]["name"] if obj["kind"] == "Namespace" else obj["metadata"].get("namespace", "")
    base = dict(
        group=group,
        version=version,
        resource=resource,
        kind=obj["kind"],
        namespace=namespace,
        username=who.username,
        groups=who.groups,
        name=obj["metadata"]["name"],
    )
    if verb == "create":
        return [Request("CREATE", object=obj, **base)]
    if verb in ("update", "patch"):
        relabeled = copy.deepcopy(obj)
        relabeled["metadata"]["labels"].pop(LABEL_PLATFORM_OWNED, None)
        return [
            Request("UPDATE", object=obj, old_object=obj, **base),
            Request("UPDATE", object=relabeled, old_object=obj, **base),
        ]
    return [Request("DELETE", old_object=obj, **base)]


def effective_writes(stack: str, who: Subject, obj: dict, verb: str) -> bool:
    """Whether `who` can `verb` the plan's `obj`: RBAC allows it and the tenant guard lets every
    form of the request through."""
    group, _, resource = gvr(obj)
    namespace = obj["metadata"].get("namespace", "")
    if not cluster(stack).allows(who, verb, group, resource, namespace, obj["metadata"]["name"]):
        return False
    policy, bindings = guard(stack)
    return not all(decide(policy, bindings, r, namespace_labels(stack)).refused for r in write_requests(obj, verb, who))


# --------------------------------------------------------------------------- effective permissions


@pytest.mark.parametrize("stack", STACKS)
def test_no_tenant_can_write_any_object_the_platform_declares(stack):
    """Every object of the plan (tenant namespaces, platform namespaces, cluster scope), every
    write verb, every team owner, member and agent: RBAC refuses, or the tenant guard does."""
    subjects = tenant_subjects(stack)
    declared = [o for o in objects(stack)]
    assert len(declared) > 50
    violations = [
        f"{what} can {verb} {o['kind']} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for what, who in subjects
        for o in declared
        for verb in WRITE_VERBS
        if effective_writes(stack, who, o, verb)
    ]
    assert violations == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_in_a_tenant_namespace_carries_the_platform_owned_label(stack):
    """The tenant guard protects what carries the label: nothing the platform puts in a tenant
    namespace may go without it (a new builder's object included)."""
    in_tenants = [o for o in objects(stack) if o["metadata"].get("namespace") in tenant_namespaces(stack)]
    assert {o["kind"] for o in in_tenants} >= {
        "NetworkPolicy",
        "RoleBinding",
        "ServiceAccount",
        "ResourceQuota",
        "LimitRange",
        "Instrumentation",
        "Secret",
    }
    assert [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in in_tenants
        if (o["metadata"].get("labels") or {}).get(LABEL_PLATFORM_OWNED) != "true"
    ] == []


def test_the_protected_kinds_are_refused_by_rbac_alone():
    """NetworkPolicies, RoleBindings, Instrumentations, quotas and limits: no tenant role writes
    them, so they hold even without the tenant guard."""
    stack = "dev"
    rbac = cluster(stack)
    for what, who in tenant_subjects(stack):
        for namespace in tenant_namespaces(stack):
            for group, resource in (
                ("networking.k8s.io", "networkpolicies"),
                ("rbac.authorization.k8s.io", "rolebindings"),
                ("rbac.authorization.k8s.io", "roles"),
                ("opentelemetry.io", "instrumentations"),
                ("", "resourcequotas"),
                ("", "limitranges"),
                ("", "endpoints"),
                ("discovery.k8s.io", "endpointslices"),
                ("", "namespaces"),
            ):
                for verb in WRITE_VERBS:
                    assert not rbac.allows(who, verb, group, resource, namespace), (what, verb, resource, namespace)


def test_teams_can_do_what_they_need_in_their_own_namespace_and_nothing_in_others():
    stack = "dev"
    rbac = cluster(stack)
    needs = [
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("batch", "jobs"),
        ("", "services"),
        ("", "configmaps"),
        ("", "secrets"),
        ("", "pods"),
        ("", "persistentvolumeclaims"),
        ("autoscaling", "horizontalpodautoscalers"),
    ]
    spec = spec_of(stack)
    prefix = spec.env.tenancy.group_prefix
    checked = 0
    for team in spec.teams:
        for group_name in (*team.owners, *team.members):
            who = Subject.user("oidc:someone", prefix + group_name)
            for group, resource in needs:
                for verb in ("create", "update", "delete", "get", "list"):
                    assert rbac.allows(who, verb, group, resource, team.namespace), (group_name, verb, resource)
                    for other in spec.teams:
                        if other.namespace != team.namespace:
                            assert not rbac.allows(who, verb, group, resource, other.namespace), (
                                group_name,
                                other.name,
                            )
                    checked += 1
            assert rbac.allows(who, "get", "", "pods/log", team.namespace)
            assert rbac.allows(who, "create", "", "pods/exec", team.namespace)
            # Their own objects pass the tenant guard.
            own = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": team.namespace, "labels": {"app": "x"}},
            }
            policy, bindings = guard(stack)
            for request in (
                write_requests(own, "create", who)
                + write_requests(own, "update", who)
                + write_requests(own, "delete", who)
            ):
                assert not decide(policy, bindings, request, namespace_labels(stack)).refused
    assert checked


@pytest.mark.parametrize("stack", STACKS)
def test_no_tenant_holds_an_escalation(stack):
    """No impersonation, no binding or escalating roles, no minting ServiceAccount tokens, no
    path into a pod that bypasses its NetworkPolicies (attach, port-forward, the API server's
    proxy), in any namespace or cluster-wide."""
    rbac = cluster(stack)
    probes = [(verb, "", resource) for verb in ESCALATION_VERBS for resource in ("serviceaccounts", "users", "groups")]
    probes += [
        (verb, "rbac.authorization.k8s.io", resource)
        for verb in ("bind", "escalate", "create", "update")
        for resource in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")
    ]
    probes += [
        ("create", "", "serviceaccounts/token"),
        ("create", "", "pods/attach"),
        ("create", "", "pods/portforward"),
        ("get", "", "pods/proxy"),
        ("create", "", "pods/proxy"),
        ("get", "", "services/proxy"),
        ("get", "", "nodes/proxy"),
        ("create", "", "pods/eviction"),
        ("update", "", "pods/status"),
        ("impersonate", "authentication.k8s.io", "userextras/scopes"),
        ("create", "certificates.k8s.io", "certificatesigningrequests"),
        ("create", "networking.k8s.io", "ingresses"),
        ("create", "gateway.networking.k8s.io", "httproutes"),
        ("create", "cert-manager.io", "issuers"),
        ("create", "policies.kyverno.io", "policyexceptions"),
    ]
    found = [
        (what, verb, group, resource, namespace)
        for what, who in tenant_subjects(stack)
        for namespace in ("", *tenant_namespaces(stack), namespaces.GATEWAY)
        for verb, group, resource in probes
        if rbac.allows(who, verb, group, resource, namespace)
    ]
    assert found == []


def test_tenant_roles_are_closed():
    """No aggregationRule (a chart's aggregate-to-* label cannot widen them) and no wildcard."""
    roles = {r["metadata"]["name"]: r for r in build.tenant_cluster_roles()}
    assert set(roles) == {build.ROLE_OWNER, build.ROLE_MEMBER}
    for name, role in roles.items():
        assert "aggregationRule" not in role, name
        assert not any(k.startswith("rbac.authorization.k8s.io/aggregate-to") for k in role["metadata"]["labels"]), name
        for rule in role["rules"]:
            assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], (name, rule)


def test_the_model_knows_the_built_in_roles_were_the_problem():
    """The same plan with members bound to Kubernetes' `edit` (as before): the bootstrap
    aggregation gives them NetworkPolicy writes (kubernetes/kubernetes@v1.34.11 policy.go
    system:aggregate-to-edit), and only the tenant guard still refuses them: the model is not
    vacuous, and the guard is a lock of its own."""
    stack = "dev"
    edited = []
    for o in objects(stack):
        if o["kind"] == "RoleBinding" and o["roleRef"]["name"] == build.ROLE_MEMBER:
            o = copy.deepcopy(o)
            o["roleRef"]["name"] = "edit"
        edited.append(o)
    rbac = Cluster(o for o in edited if o["kind"] in ("ClusterRole", "ClusterRoleBinding", "RoleBinding"))
    member = next(who for what, who in tenant_subjects(stack) if what == "payments member")
    assert rbac.allows(member, "delete", "networking.k8s.io", "networkpolicies", "payments")
    assert rbac.allows(member, "impersonate", "", "serviceaccounts", "payments")
    assert rbac.allows(member, "create", "", "serviceaccounts/token", "payments")
    deny = next(
        o
        for o in objects(stack)
        if o["kind"] == "NetworkPolicy"
        and o["metadata"] == {**o["metadata"], "name": "default-deny", "namespace": "payments"}
    )
    policy, bindings = guard(stack)
    assert all(
        decide(policy, bindings, r, namespace_labels(stack)).refused for r in write_requests(deny, "delete", member)
    )


@pytest.mark.parametrize("stack", STACKS)
def test_agent_pods_carry_no_kubernetes_credential_and_their_identity_writes_nothing(stack):
    """A shell in an agent's pod finds no ServiceAccount token (the ServiceAccount does not mount
    one), and the ServiceAccount could write nothing anyway (bootstrap bindings only)."""
    accounts = [
        o
        for o in objects(stack)
        if o["kind"] == "ServiceAccount" and o["metadata"].get("namespace") in tenant_namespaces(stack)
    ]
    assert accounts
    for account in accounts:
        assert account.get("automountServiceAccountToken") is False, account["metadata"]
    rbac = cluster(stack)
    for account in accounts:
        who = Subject.service_account(account["metadata"]["namespace"], account["metadata"]["name"])
        rules = rbac.rules_for(who, account["metadata"]["namespace"])
        assert not [
            r
            for r in rules
            if set(r.get("verbs", [])) & {*WRITE_VERBS, *ESCALATION_VERBS, "*"}
            and "selfsubjectreviews" not in r.get("resources", [])
            and "selfsubjectaccessreviews" not in r.get("resources", [])
            and "selfsubjectrulesreviews" not in r.get("resources", [])
        ], account["metadata"]


# --------------------------------------------------------------------------- the tenant guard's CEL

TENANT_OWNER = Subject.user("oidc:bob", "payments-admins")
ADMIN = Subject("oidc:alice", ("platform-admins", "system:authenticated"))
NAMESPACE_CONTROLLER = Subject.service_account("kube-system", "namespace-controller")


def dev_object(kind: str, name: str, namespace: str = "payments") -> dict:
    (found,) = [
        o
        for o in objects("dev")
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
    ]
    return found


def judge(request: Request):
    policy, bindings = guard("dev")
    return decide(policy, bindings, request, namespace_labels("dev"))


def test_guard_refuses_tenant_changes_to_platform_objects_with_a_clear_message():
    agent_sa = dev_object("ServiceAccount", "invoice-triage")
    (delete,) = write_requests(agent_sa, "delete", TENANT_OWNER)
    decision = judge(delete)
    assert decision.refused
    assert decision.failures == [
        "ServiceAccount invoice-triage in namespace payments is declared by the platform "
        "(label agentplane.io/platform-owned): change it in the team file"
    ]
    promoted = copy.deepcopy(agent_sa)
    promoted["metadata"]["labels"][LABEL_TIER] = "production"
    for request in write_requests(promoted, "update", TENANT_OWNER):
        request.old_object = agent_sa
        assert judge(request).refused
    secret = dev_object("Secret", "invoice-triage-oidc")
    assert all(
        judge(r).refused
        for r in write_requests(secret, "delete", TENANT_OWNER) + write_requests(secret, "update", TENANT_OWNER)
    )


def test_guard_refuses_claiming_the_platform_label_on_a_tenant_object():
    own = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "fake", "namespace": "payments", "labels": {LABEL_PLATFORM_OWNED: "true"}},
    }
    (create,) = write_requests(own, "create", TENANT_OWNER)
    decision = judge(create)
    assert decision.refused and decision.failures == [
        "ConfigMap fake in namespace payments may not carry the label agentplane.io/platform-owned, which "
        "marks objects the platform declares"
    ]
    plain = {**own, "metadata": {**own["metadata"], "labels": {"app": "x"}}}
    assert judge(
        Request(
            "UPDATE",
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            "payments",
            TENANT_OWNER.username,
            TENANT_OWNER.groups,
            object=own,
            old_object=plain,
            name="fake",
        )
    ).refused
    # Pods created by a controller on the tenant's behalf are judged too.
    replicaset_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "payments", "labels": {LABEL_PLATFORM_OWNED: "true"}},
    }
    controller = Subject.service_account("kube-system", "replicaset-controller")
    assert judge(
        Request(
            "CREATE",
            "",
            "v1",
            "pods",
            "Pod",
            "payments",
            controller.username,
            controller.groups,
            object=replicaset_pod,
            name="p",
        )
    ).refused


@pytest.mark.parametrize("verb", ["create", "update", "delete"])
def test_guard_refuses_tenant_network_policies_whatever_their_labels(verb):
    allow_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-all", "namespace": "payments", "labels": {}},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
    }
    for request in write_requests(allow_all, verb, TENANT_OWNER):
        decision = judge(request)
        assert decision.refused
        assert decision.failures[0].startswith(
            "NetworkPolicies in tenant namespaces are the platform's: oidc:bob may not "
        )


def test_guard_lets_platform_admins_and_namespace_clean_up_through():
    deny = dev_object("NetworkPolicy", "default-deny")
    for request in write_requests(deny, "update", ADMIN) + write_requests(deny, "delete", ADMIN):
        assert not judge(request).matched
    (delete,) = write_requests(deny, "delete", NAMESPACE_CONTROLLER)
    assert not judge(delete).matched
    # The clean-up exemption is for deletes only.
    (create,) = write_requests(deny, "create", NAMESPACE_CONTROLLER)
    assert judge(create).refused


def test_guard_does_not_reach_platform_namespaces_or_cluster_scope():
    checked = set()
    for o in objects("dev"):
        namespace = o["metadata"].get("namespace", "")
        if namespace in tenant_namespaces("dev"):
            continue
        for request in write_requests(o, "delete", TENANT_OWNER):
            checked.add("cluster" if not namespace else "platform")
            assert not judge(request).matched, (o["kind"], o["metadata"]["name"])
    assert checked == {"cluster", "platform"}, checked


def test_guard_is_enforced_by_the_api_server_and_fails_closed():
    policy, bindings = guard("dev")
    assert policy["apiVersion"] == "admissionregistration.k8s.io/v1" and policy["spec"]["failurePolicy"] == "Fail"
    assert [b["spec"] for b in bindings] == [{"policyName": build.TENANT_GUARD, "validationActions": ["Deny"]}]


# --------------------------------------------------------------------------- reachability

# Pods of the platform and the cluster, labelled as their charts label them.
GATEWAY_PROXY = pod(
    namespaces.GATEWAY,
    "proxy",
    {**build.GATEWAY_PROXY_POD_LABELS, "app.kubernetes.io/name": "agentplane"},
    (*namespaces.GATEWAY_PORTS, 15020),
)
GATEWAY_CONTROLLER = pod(namespaces.GATEWAY, "controller", {"app.kubernetes.io/name": "agentgateway"}, (9978, 8080))
COLLECTOR = pod(
    namespaces.TELEMETRY,
    "collector",
    telemetry.COLLECTOR_POD_LABELS,
    (*namespaces.TELEMETRY_PORTS, *namespaces.TELEMETRY_GATEWAY_PORTS, 13133),
)
OPERATOR = pod(namespaces.TELEMETRY, "operator", {"app.kubernetes.io/name": "opentelemetry-operator"}, (8443, 8080))
KEYCLOAK = pod(
    namespaces.IDENTITY,
    "keycloak",
    {**KEYCLOAK_POD_LABELS, "app.kubernetes.io/instance": "identity-keycloak"},
    (8080, 8443, 9000),
)
# CloudNativePG labels instance pods cnpg.io/cluster and cnpg.io/instanceRole.
POSTGRES = pod(
    namespaces.IDENTITY,
    "keycloak-db-1",
    {"cnpg.io/cluster": "keycloak-db", "cnpg.io/instanceRole": "primary"},
    (5432, 8000, 9187, 8080),
)
KUBE_DNS = pod("kube-system", "coredns", build.DNS_POD_LABELS, ((53, "UDP"), (53, "TCP"), 9153))
OTHER_KUBE_SYSTEM = pod("kube-system", "metrics-server", {"k8s-app": "metrics-server"}, (10250, 443))
DEFAULT_NAMESPACE = pod("default", "web", {"app": "web"}, (80, 8080))


def platform_pods(stack: str) -> list[Pod]:
    found = [
        GATEWAY_PROXY,
        GATEWAY_CONTROLLER,
        COLLECTOR,
        OPERATOR,
        KEYCLOAK,
        POSTGRES,
        KUBE_DNS,
        OTHER_KUBE_SYSTEM,
        DEFAULT_NAMESPACE,
    ]
    # Workloads the plan declares (the budget service and its store), with their own labels and ports.
    for o in objects(stack):
        if o["kind"] in ("Deployment", "StatefulSet"):
            template = o["spec"]["template"]
            ports = [p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])]
            found.append(
                pod(o["metadata"]["namespace"], o["metadata"]["name"], template["metadata"]["labels"], ports or (8080,))
            )
    covered = {p.namespace for p in found}
    for namespace in namespaces.PLATFORM_NAMESPACES:
        if namespace not in covered:
            found.append(pod(namespace, "controller", {"app": namespace}, (443, 8080, 9443)))
    return found


def tenant_pods(stack: str) -> list[Pod]:
    """Each agent's pod, an MCP server, a helper and a pod labelled like the gateway's proxy, of
    each team: any pod a team runs."""
    spec = spec_of(stack)
    found = []
    for team in spec.teams:
        for agent in team.agents:
            found.append(
                pod(
                    team.namespace,
                    agent.name,
                    {LABEL_TIER: agent.tier.name, LABEL_AGENT: agent.name, "app": agent.name},
                    (8080,),
                )
            )
        lowest = {LABEL_TIER: spec.lowest_tier.name}
        found.append(pod(team.namespace, "mcp-server", {**lowest, "app": "crm-mcp"}, (8080, 3000)))
        found.append(pod(team.namespace, "helper", {**lowest, "app": "redis"}, (6379,)))
        # Tenants choose their pods' labels: one of theirs may copy the gateway proxy's.
        found.append(pod(team.namespace, "proxy-lookalike", {**lowest, **build.GATEWAY_PROXY_POD_LABELS}, (8080,)))
    assert found
    return found


def network(stack: str) -> Network:
    policies = [o for o in objects(stack) if o["kind"] == "NetworkPolicy"]
    return Network(policies, namespace_labels(stack))


def intended_egress(destination: Pod, port: int, protocol: str) -> bool:
    """DNS, the gateway's proxy, the collector's workload ports and Keycloak: nothing else."""
    return (
        (destination == KUBE_DNS and port == 53)
        or (destination == GATEWAY_PROXY and port in namespaces.GATEWAY_PORTS and protocol == "TCP")
        or (destination == COLLECTOR and port in namespaces.TELEMETRY_PORTS and protocol == "TCP")
        or (destination == KEYCLOAK and port in namespaces.IDENTITY_PORTS and protocol == "TCP")
    )


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_gateway_proxy_reaches_a_tenant_pod(stack):
    """Ingress matrix: every pod of every namespace (the same team's, other teams', the
    platform's, the cluster's) to every port of every tenant pod, judged by what the tenant
    pod admits (whatever the sender's own egress policies say)."""
    net = network(stack)
    tenants = tenant_pods(stack)
    everyone = tenants + platform_pods(stack)
    reached = {
        (str(src), str(dst), port)
        for dst in tenants
        for src in everyone
        if src != dst
        for port, protocol in dst.ports
        if net.ingress_allowed(src, dst, port, protocol)
    }
    assert reached == {
        (str(src), str(dst), port)
        for dst in tenants
        for src in everyone
        if src != dst
        for port, protocol in dst.ports
        if net.reaches(src, dst, port, protocol)
    }
    expected = {(str(GATEWAY_PROXY), str(dst), port) for dst in tenants for port, _ in dst.ports}
    assert reached == expected


def egress_matrix(net, tenants, everyone) -> tuple[set, set]:
    """(reached, intended): every (tenant pod, pod, port, protocol) the network lets through, and
    every one the isolation promise allows."""
    candidates = [
        (src, dst, port, protocol) for src in tenants for dst in everyone if src != dst for port, protocol in dst.ports
    ]
    reached = {(str(s), str(d), port, pr) for s, d, port, pr in candidates if net.reaches(s, d, port, pr)}
    intended = {(str(s), str(d), port, pr) for s, d, port, pr in candidates if intended_egress(d, port, pr)}
    return reached, intended


@pytest.mark.parametrize("stack", STACKS)
def test_tenant_pods_reach_only_dns_the_gateway_the_collector_and_keycloak(stack):
    """Egress matrix: every tenant pod to every port of every pod."""
    net = network(stack)
    tenants = tenant_pods(stack)
    everyone = tenants + platform_pods(stack)
    reached, expected = egress_matrix(net, tenants, everyone)
    assert expected and reached == expected


@pytest.mark.parametrize("stack", STACKS)
def test_postgres_is_unreachable_from_tenants(stack):
    net = network(stack)
    for src in tenant_pods(stack):
        for port in (5432, 8000, 9187, 8080, 8443):
            assert not net.reaches(src, POSTGRES, port), (str(src), port)
    # Keycloak, on the same ports, is reachable: the selector tells the two apart.
    assert net.reaches(tenant_pods(stack)[0], KEYCLOAK, 8080)


def test_the_gateway_controller_and_the_collector_cannot_call_agents():
    net = network("dev")
    for dst in tenant_pods("dev"):
        for src in (GATEWAY_CONTROLLER, COLLECTOR, KEYCLOAK, OPERATOR):
            assert not net.reaches(src, dst, 8080 if (8080, "TCP") in dst.ports else dst.ports[0][0]), (
                str(src),
                str(dst),
            )


def test_the_model_sees_a_policy_that_admits_every_namespace():
    """Non-vacuous: an allow-platform ingress rule admitting any namespace (the mutant this file
    guards against) opens every tenant pod to every pod of the cluster."""
    policies = []
    for o in objects("dev"):
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "allow-platform":
            o = copy.deepcopy(o)
            o["spec"]["ingress"] = [{"from": [{"namespaceSelector": {}}]}]
        if o["kind"] == "NetworkPolicy":
            policies.append(o)
    net = Network(policies, namespace_labels("dev"))
    victim = next(p for p in tenant_pods("dev") if p.namespace == "payments")
    attacker = next(p for p in tenant_pods("dev") if p.namespace == "support")
    assert net.ingress_allowed(attacker, victim, 8080) and net.reaches(DEFAULT_NAMESPACE, victim, 8080)
    assert not network("dev").ingress_allowed(attacker, victim, 8080)
    assert not network("dev").reaches(DEFAULT_NAMESPACE, victim, 8080)


# --------------------------------------------------------------------------- the threat model


def test_every_line_of_the_threat_model_names_tests_that_exist():
    """docs/threat-model.md backs each line with test names (`file::name`, or `::name` for the
    file named before it in the same cell): each must be a test function of that file, and
    each table row of what a team member can or cannot do must name one."""
    import ast
    import re

    text = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")
    rows = [
        line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| #") and "---" not in line
    ]
    cannot_rows = [r for r in rows if re.match(r"\| \d+ \|", r)]
    assert len(cannot_rows) >= 10
    tests_by_file: dict[str, set[str]] = {}
    named = 0
    for row in cannot_rows:
        assert "test_" in row, row
    for row in rows:
        current = None
        for file, name in re.findall(r"`(?:(test_[a-z_]+\.py))?::([a-z_0-9]+)`", row):
            current = file or current
            assert current, f"{name}: no file named before it in: {row}"
            if current not in tests_by_file:
                tree = ast.parse((ROOT / "tests" / current).read_text(encoding="utf-8"))
                tests_by_file[current] = {
                    n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
                }
            assert name in tests_by_file[current], f"{current}::{name} named in docs/threat-model.md does not exist"
            named += 1
    assert named >= 20


# --------------------------------------------------------------------------- a team's in-cluster telemetry backend


@functools.cache
def backend_objects() -> tuple[dict, ...]:
    """The dev plan with one more team, whose telemetry endpoint is a Service of its own namespace."""
    return tuple(kubernetes_objects(plan_with_backend_team()))


def backend_network() -> Network:
    found = backend_objects()
    labels = {o["metadata"]["name"]: dict(o["metadata"].get("labels") or {}) for o in found if o["kind"] == "Namespace"}
    assert BACKEND_TEAM in labels
    for extra in ("kube-system", "default"):
        labels.setdefault(extra, {})
    return Network([o for o in found if o["kind"] == "NetworkPolicy"], labels)


# The backend team's pods: its OTLP backend (also listening on gRPC and a metrics port), an agent,
# and pods labelled like the collector, in its namespace and in another team's (tenants choose
# their pods' labels).
BACKEND = pod(BACKEND_TEAM, "otel", {"app": "otel"}, (BACKEND_PORT, 4317, 8888))
BACKEND_AGENT = pod(BACKEND_TEAM, "bot", {LABEL_AGENT: "bot", "app": "bot"}, (8080, BACKEND_PORT))
COLLECTOR_LOOKALIKES = [
    pod(namespace, "collector-lookalike", telemetry.COLLECTOR_POD_LABELS, (BACKEND_PORT, 8080))
    for namespace in (BACKEND_TEAM, "payments")
]


def backend_tenant_pods() -> list[Pod]:
    return [*tenant_pods("dev"), BACKEND, BACKEND_AGENT, *COLLECTOR_LOOKALIKES]


def test_a_team_backend_in_its_namespace_is_reached_by_the_collector_on_its_port_only():
    """Ingress matrix with a team file naming http://otel.tracers.svc:4318: the collector reaches
    that team's pods on 4318 (its egress is open), and nothing else; the gateway's proxy still
    reaches every tenant pod on every port; no other pod (another team's, a pod labelled like the
    collector in a tenant namespace, the platform's) reaches anything new."""
    net = backend_network()
    tenants = backend_tenant_pods()
    everyone = tenants + platform_pods("dev")
    reached = {
        (str(src), str(dst), port)
        for dst in tenants
        for src in everyone
        if src != dst
        for port, protocol in dst.ports
        if net.ingress_allowed(src, dst, port, protocol)
    }
    from_collector = {
        (str(COLLECTOR), str(dst), BACKEND_PORT)
        for dst in tenants
        if dst.namespace == BACKEND_TEAM and (BACKEND_PORT, "TCP") in dst.ports
    }
    assert from_collector == {
        (str(COLLECTOR), str(p), BACKEND_PORT) for p in (BACKEND, BACKEND_AGENT, COLLECTOR_LOOKALIKES[0])
    }
    proxy = {(str(GATEWAY_PROXY), str(dst), port) for dst in tenants for port, _ in dst.ports}
    assert reached == proxy | from_collector
    # Delivered: the collector's own egress lets it out, not just the team's ingress in.
    assert net.reaches(COLLECTOR, BACKEND, BACKEND_PORT)
    # Over TCP only, and not on the backend's other ports.
    assert not net.reaches(COLLECTOR, BACKEND, BACKEND_PORT, "UDP")
    assert not net.reaches(COLLECTOR, BACKEND, 4317) and not net.reaches(COLLECTOR, BACKEND, 8888)


def test_a_team_backend_opens_nothing_between_tenants():
    """Egress matrix of every tenant pod with the backend team present: the same intended
    destinations as without it (DNS, the gateway's proxy, the collector, Keycloak), so neither
    the backend team nor anyone else reaches the backend or gains a destination."""
    net = backend_network()
    tenants = backend_tenant_pods()
    everyone = tenants + platform_pods("dev")
    reached, expected = egress_matrix(net, tenants, everyone)
    assert expected and reached == expected
    for lookalike in COLLECTOR_LOOKALIKES:
        assert not net.ingress_allowed(lookalike, BACKEND, BACKEND_PORT), str(lookalike)


def test_a_team_backend_adds_one_policy_to_the_plan_and_other_teams_get_none():
    """The only new object is the backend team's `allow-telemetry-backend`; the example teams
    (no in-cluster endpoint) keep exactly the policies they had."""
    before = {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in objects("dev")
        if o["kind"] == "NetworkPolicy"
    }
    after = {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in backend_objects()
        if o["kind"] == "NetworkPolicy"
    }
    added = {key for key in after if key not in before}
    assert added == {
        ("NetworkPolicy", BACKEND_TEAM, name) for name in ("default-deny", "allow-dns", "allow-platform")
    } | {("NetworkPolicy", BACKEND_TEAM, "allow-telemetry-backend")}
    assert {key: after[key] for key in before} == before
    assert not [key for key in before if key[2] == "allow-telemetry-backend"]
