"""The real Kubernetes API server judges every object the platform generates.

kube-apiserver and etcd built from Go modules (tests/oracles/build.py), the pinned CRDs from the
upstream data installed for real, then:

- every Kubernetes object of every shipped stack's offline plan is server-side dry-run applied
  with strict field validation: the API server itself checks core and CRD schemas, CEL rules,
  defaults and Pod Security labels. Objects that Helm releases render are not in the plan (the
  charts are not reachable here), so they are not checked;
- the plan is then applied for real, and an RBAC matrix of SubjectAccessReviews (the real
  authorizer, with the ``admin``/``edit`` ClusterRoles filled by kube-controller-manager's
  clusterrole-aggregation controller) asserts what each tenant group (owners, members) and each
  agent ServiceAccount can and cannot do in its namespace, in other teams' namespaces, in platform
  namespaces and on platform-owned objects;
- every native ValidatingAdmissionPolicy (+ binding) in the plan is installed with it and a
  tenant's write it must refuse is tried for real.

Everything is derived from the plan and the team files: no object lists are written here.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.oracles.kube import ApiError, Client
from tests.support.plans import BACKEND_TEAM, ROOT, STACKS, example_plan, kubernetes_objects, plan_with_backend_team
from tests.support.upstream import upstream_dir

pytestmark = pytest.mark.oracle

ORACLE = "kubernetes"
TEAMS_DIR = ROOT / "stacks" / "teams"


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{obj['apiVersion']} {obj['kind']} {meta.get('namespace', '')}/{meta['name']}"


@functools.cache
def team_files() -> dict[str, dict[str, Any]]:
    teams = {path.stem: yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(TEAMS_DIR.glob("*.yaml"))}
    assert teams, f"no team files in {TEAMS_DIR}"
    return teams


def crd_documents() -> list[dict[str, Any]]:
    crds = []
    for path in sorted((upstream_dir() / "crds").glob("*/*.yaml")):
        crds += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    assert crds, "no CRDs in the upstream data"
    return crds


def _wait_established(client: Client, names: list[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            crd = client.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            if any(
                c["type"] == "Established" and c["status"] == "True"
                for c in crd.get("status", {}).get("conditions", [])
            ):
                pending.discard(name)
        time.sleep(0.2)
    assert not pending, f"CRDs not Established after {timeout} s: {sorted(pending)}"


@pytest.fixture(scope="module")
def cluster(kube_cluster: Client, oracle_record) -> Client:
    """The API server with every pinned upstream CRD installed for real."""
    crds = crd_documents()
    for crd in crds:
        kube_cluster.apply(crd)
    _wait_established(kube_cluster, [crd["metadata"]["name"] for crd in crds])
    oracle_record(ORACLE, "upstream CRDs installed", True)
    return kube_cluster


def _namespaces_first(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(objects, key=lambda o: 0 if o["kind"] == "Namespace" else 1)


@pytest.mark.parametrize("stack", STACKS)
def test_api_server_accepts_every_plan_object_by_server_side_dry_run(
    cluster: Client, oracle_record, stack: str
) -> None:
    objects = kubernetes_objects(example_plan(stack))
    assert len(objects) > 20, f"{stack}: the plan has only {len(objects)} Kubernetes objects"
    refused = _dry_run_apply(cluster, objects, oracle_record)
    assert not refused, f"{stack}: the API server refused {len(refused)} object(s):\n" + "\n".join(refused)


def _dry_run_apply(cluster: Client, objects: list[dict], oracle_record) -> list[str]:
    """Server-side dry-run apply of `objects`; the refusals, one line each. Dry-run creates are
    checked against existing namespaces (NamespaceLifecycle admission): the namespaces are
    dry-run first, then created."""
    refused: list[str] = []
    for obj in _namespaces_first(objects):
        try:
            cluster.apply(obj, dry_run=True)
            if obj["kind"] == "Namespace":
                cluster.apply(obj)
            oracle_record(ORACLE, "server-side dry-run apply of plan objects", True)
        except (ApiError, KeyError) as error:
            oracle_record(ORACLE, "server-side dry-run apply of plan objects", False)
            refused.append(f"{_key(obj)}: {error}")
    return refused


def test_api_server_accepts_the_objects_of_a_team_with_an_in_namespace_backend(cluster: Client, oracle_record) -> None:
    """The example teams name no in-cluster backend: the NetworkPolicy such a team gets, dry-run here."""
    objects = [
        o
        for o in kubernetes_objects(plan_with_backend_team())
        if o["metadata"].get("namespace") == BACKEND_TEAM
        or (o["kind"] == "Namespace" and o["metadata"]["name"] == BACKEND_TEAM)
    ]
    assert "allow-telemetry-backend" in {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"}
    refused = _dry_run_apply(cluster, objects, oracle_record)
    assert not refused, "the API server refused:\n" + "\n".join(refused)


# --------------------------------------------------------------------------------------------
# The plan applied for real: RBAC matrix and native admission policies
# --------------------------------------------------------------------------------------------


def _delete_and_wait(client: Client, obj: dict[str, Any], timeout: float = 120.0) -> None:
    try:
        client.delete(obj)
    except ApiError as error:
        if error.status != 404:
            raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.get(obj)
        except ApiError as error:
            if error.status == 404:
                return
            raise
        time.sleep(0.3)
    raise AssertionError(f"{_key(obj)} still present {timeout} s after delete")


_APPLIED: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module", params=STACKS)
def applied(request, cluster: Client) -> Iterator[tuple[str, dict[str, Any], Client]]:
    """(stack, plan, client) with the stack's objects applied for real; the previous stack's leftovers pruned."""
    stack = request.param
    plan = example_plan(stack)
    objects = kubernetes_objects(plan)
    wanted = {_key(o) for o in objects}
    for key, obj in list(_APPLIED.items()):
        if key not in wanted and obj["kind"] != "Namespace":
            _delete_and_wait(cluster, obj)
            del _APPLIED[key]
    # Policies last: a ValidatingAdmissionPolicy must not judge the platform's own install here
    # (the admin identity is system:masters, as the installer's is).
    for obj in sorted(_namespaces_first(objects), key=lambda o: o["kind"].startswith("ValidatingAdmissionPolicy")):
        cluster.apply(obj)
        _APPLIED[_key(obj)] = obj
    _wait_policies_ready(cluster, objects)
    yield stack, plan, cluster


def _vap_objects(objects: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    policies = [
        o
        for o in objects
        if o["apiVersion"].startswith("admissionregistration.k8s.io/") and o["kind"] == "ValidatingAdmissionPolicy"
    ]
    bindings = [
        o
        for o in objects
        if o["apiVersion"].startswith("admissionregistration.k8s.io/")
        and o["kind"] == "ValidatingAdmissionPolicyBinding"
    ]
    return policies, bindings


def _wait_policies_ready(client: Client, objects: list[dict[str, Any]], timeout: float = 60.0) -> None:
    """A VAP is enforced once the API server's policy source has loaded it; its typeChecking status
    is written by the type checker at about the same time: wait for it, then a short settle."""
    policies, _bindings = _vap_objects(objects)
    deadline = time.monotonic() + timeout
    for policy in policies:
        while time.monotonic() < deadline:
            status = client.get(policy).get("status", {})
            if status.get("observedGeneration") == client.get(policy)["metadata"]["generation"]:
                break
            time.sleep(0.3)
        warnings = client.get(policy).get("status", {}).get("typeChecking", {}).get("expressionWarnings", [])
        assert not warnings, f"ValidatingAdmissionPolicy {policy['metadata']['name']}: type-check warnings {warnings}"
    if policies:
        time.sleep(2)


def _tenant_subjects(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """team -> {namespace, owners, members, agents}: the groups as the plan's RoleBindings name them
    (with any configured prefix), sorted into owners and members by the team file."""
    files = team_files()
    teams = plan["teams"]
    assert teams, "the plan has no teams"
    objects = kubernetes_objects(plan)
    subjects = {}
    for team, info in teams.items():
        namespace = info["namespace"]
        spec = files[team]
        roles = {"owners": [], "members": []}
        bound = [
            s["name"]
            for o in objects
            if o["kind"] == "RoleBinding" and o["metadata"].get("namespace") == namespace
            for s in o.get("subjects", [])
            if s["kind"] == "Group"
        ]
        assert bound, f"the plan binds no group in {namespace}"
        for group in bound:
            # The team file's name for it: the longest one the bound name ends with (a prefix may be configured).
            matches = [(len(g), role) for role in roles for g in spec.get(role) or [] if group.endswith(g)]
            assert matches, f"group {group} bound in {namespace} is neither an owner nor a member in team file {team}"
            roles[max(matches)[1]].append(group)
        subjects[team] = {"namespace": namespace, **roles, "agents": sorted(info["agents"])}
        assert subjects[team]["owners"], f"team {team} has no owners bound"
    return subjects


def _group_identity(group: str) -> tuple[str, tuple[str, ...]]:
    return f"oracle-user-of-{group}", (group, "system:authenticated")


def _sa_identity(namespace: str, name: str) -> tuple[str, tuple[str, ...]]:
    return (
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


def _platform_namespaces(plan: dict[str, Any]) -> list[str]:
    tenant_namespaces = {t["namespace"] for t in plan["teams"].values()}
    names = sorted(
        o["metadata"]["name"]
        for o in kubernetes_objects(plan)
        if o["kind"] == "Namespace" and o["metadata"]["name"] not in tenant_namespaces
    )
    assert names, "the plan has no platform namespaces"
    return names


def _resource(client: Client, obj: dict[str, Any]) -> tuple[str, str, bool]:
    """(API group, resource plural, namespaced) of an object's kind, from discovery."""
    found = client.resource_for(obj["apiVersion"], obj["kind"])
    group = obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else ""
    return group, found["name"], found["namespaced"]


# What nobody outside a namespace's team may do there (read workloads' secrets, run code, grant access).
FOREIGN_ACTIONS = (
    ("get", "", "secrets"),
    ("list", "", "secrets"),
    ("list", "", "pods"),
    ("create", "", "pods"),
    ("create", "", "pods/exec"),
    ("create", "apps", "deployments"),
    ("create", "rbac.authorization.k8s.io", "rolebindings"),
    ("list", "", "configmaps"),
)


def _split(resource: str) -> tuple[str, str | None]:
    return (resource.split("/", 1)[0], resource.split("/", 1)[1]) if "/" in resource else (resource, None)


def test_rbac_matrix(applied, oracle_record) -> None:
    stack, plan, client = applied
    teams = _tenant_subjects(plan)
    platform_namespaces = _platform_namespaces(plan)
    objects = kubernetes_objects(plan)
    failures: list[str] = []

    def expect(allowed_expected: bool, user: str, groups, verb, group, resource, namespace=None, name=None, why=""):
        res, sub = _split(resource)
        allowed = client.can(
            user, groups, verb, group=group, resource=res, namespace=namespace, name=name, subresource=sub
        )
        ok = allowed == allowed_expected
        oracle_record(ORACLE, "RBAC matrix (SubjectAccessReview)", ok)
        if not ok:
            where = f"{namespace}/" if namespace else ""
            failures.append(
                f"{user} {'may' if allowed else 'may not'} {verb} {group or 'core'}/{resource} "
                f"{where}{name or '*'} ({why})"
            )

    cluster_scoped = []
    for obj in objects:
        group, plural, namespaced = _resource(client, obj)
        if not namespaced:
            cluster_scoped.append((group, plural, obj["metadata"]["name"]))
    assert cluster_scoped, "the plan has no cluster-scoped objects"

    for team, info in teams.items():
        namespace = info["namespace"]
        others = [t["namespace"] for name, t in teams.items() if name != team]
        identities = [("owner", g, _group_identity(g)) for g in info["owners"]]
        identities += [("member", g, _group_identity(g)) for g in info["members"]]
        for role, group_name, (user, groups) in identities:
            why = f"{role} group {group_name} of team {team}"
            # In their own namespace: see and run workloads.
            for verb, group, resource in (
                ("list", "", "pods"),
                ("create", "apps", "deployments"),
                ("get", "", "configmaps"),
            ):
                expect(True, user, groups, verb, group, resource, namespace, why=why + ", own namespace")
            # Members never grant access, nor does anyone in a team grant roles it does not hold.
            if role == "member":
                expect(
                    False,
                    user,
                    groups,
                    "create",
                    "rbac.authorization.k8s.io",
                    "rolebindings",
                    namespace,
                    why=why + ", own namespace: members grant no access",
                )
            for verb in ("bind", "escalate"):
                expect(
                    False,
                    user,
                    groups,
                    verb,
                    "rbac.authorization.k8s.io",
                    "clusterroles",
                    namespace,
                    "cluster-admin",
                    why=why + ", own namespace: no binding of roles beyond their own",
                )
            # The quota and limits the platform sets are not theirs to change.
            for resource in ("resourcequotas", "limitranges"):
                for verb in ("create", "update", "delete"):
                    expect(
                        False,
                        user,
                        groups,
                        verb,
                        "",
                        resource,
                        namespace,
                        why=why + ", own namespace: platform-set limits",
                    )
            # Their Namespace object, and any other.
            for verb in ("update", "patch", "delete"):
                expect(False, user, groups, verb, "", "namespaces", None, namespace, why=why + ", own Namespace object")
            expect(False, user, groups, "create", "", "namespaces", why=why)
            # Other teams' namespaces and platform namespaces: nothing.
            for foreign in [*others, *platform_namespaces]:
                for verb, group, resource in FOREIGN_ACTIONS:
                    expect(
                        False, user, groups, verb, group, resource, foreign, why=why + f", foreign namespace {foreign}"
                    )
            # Every cluster-scoped object the platform owns.
            for group, plural, name in cluster_scoped:
                for verb in ("update", "patch", "delete"):
                    expect(
                        False,
                        user,
                        groups,
                        verb,
                        group,
                        plural,
                        None,
                        name,
                        why=why + ", platform-owned cluster object",
                    )
            for verb, group, resource in (
                ("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
                ("escalate", "rbac.authorization.k8s.io", "clusterroles"),
                ("impersonate", "", "users"),
                ("impersonate", "", "groups"),
            ):
                expect(False, user, groups, verb, group, resource, why=why)
        assert info["agents"], f"team {team} has no agents"
        for agent in info["agents"]:
            user, groups = _sa_identity(namespace, agent)
            why = f"agent ServiceAccount {namespace}/{agent}"
            for verb, group, resource in FOREIGN_ACTIONS:
                expect(False, user, groups, verb, group, resource, namespace, why=why + ", own namespace")
                for foreign in [*others, *platform_namespaces]:
                    expect(False, user, groups, verb, group, resource, foreign, why=why + f", namespace {foreign}")
            for group, plural, name in cluster_scoped:
                expect(
                    False,
                    user,
                    groups,
                    "delete",
                    group,
                    plural,
                    None,
                    name,
                    why=why + ", platform-owned cluster object",
                )
    assert not failures, f"{stack}: {len(failures)} RBAC expectation(s) failed:\n" + "\n".join(failures[:80])


def test_platform_objects_in_tenant_namespaces_resist_tenant_writes(applied, oracle_record) -> None:
    """Every object the platform puts in a team's namespace survives that team's delete and patch:
    the real API server refuses it (RBAC or a ValidatingAdmissionPolicy), tried by dry run."""
    stack, plan, client = applied
    teams = _tenant_subjects(plan)
    objects = kubernetes_objects(plan)
    failures: list[str] = []
    checked = 0
    for team, info in teams.items():
        namespace = info["namespace"]
        owned = [o for o in objects if o["metadata"].get("namespace") == namespace]
        assert owned, f"{stack}: the platform puts nothing in {namespace}"
        for group_name in [*info["owners"], *info["members"]]:
            user, groups = _group_identity(group_name)
            tenant = client.as_user(user, groups)
            # Control: the same identity may write its own objects there, so a refusal below is
            # the platform's doing, not a broken impersonation.
            tenant.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "oracle-control", "namespace": namespace},
                    "data": {"k": "v"},
                },
                dry_run=True,
                manager=f"tenant-{team}",
            )
            for obj in owned:
                for action in ("delete", "label"):
                    checked += 1
                    try:
                        if action == "delete":
                            tenant.delete(obj, dry_run=True)
                        else:
                            tenant.request(
                                "PATCH",
                                client.path_for(obj),
                                {"metadata": {"labels": {"agentplane.io/tenant": "tampered"}}},
                                "application/merge-patch+json",
                                {"dryRun": "All"},
                            )
                    except ApiError as error:
                        ok = error.status in (403, 422)
                        oracle_record(ORACLE, "platform objects refuse tenant writes (dry run)", ok)
                        if not ok:
                            failures.append(f"{group_name} {action} {_key(obj)}: unexpected {error}")
                        continue
                    oracle_record(ORACLE, "platform objects refuse tenant writes (dry run)", False)
                    failures.append(f"{group_name} ({team}) may {action} platform-owned {_key(obj)}")
    assert checked
    assert not failures, f"{stack}: {len(failures)} tenant write(s) to platform-owned objects accepted:\n" + "\n".join(
        failures[:60]
    )


def test_native_admission_policies_refuse_a_tenant_write(applied, oracle_record) -> None:
    """Each ValidatingAdmissionPolicy in the plan is loaded by the API server and refuses, for real,
    a write by a tenant group that it exists to stop (the write a policy's binding matches)."""
    stack, plan, client = applied
    policies, bindings = _vap_objects(kubernetes_objects(plan))
    if not policies:
        pytest.skip(f"{stack}: the plan has no ValidatingAdmissionPolicy (none to exercise)")
    assert bindings, f"{stack}: ValidatingAdmissionPolicies without a binding are never enforced"
    bound = {b["spec"]["policyName"] for b in bindings}
    unbound = sorted(p["metadata"]["name"] for p in policies if p["metadata"]["name"] not in bound)
    assert not unbound, f"{stack}: ValidatingAdmissionPolicies with no binding: {unbound}"
    for binding in bindings:
        actions = binding["spec"].get("validationActions", [])
        assert "Deny" in actions, f"binding {binding['metadata']['name']}: validationActions {actions} do not deny"
    # A tenant label write on its own namespace's platform objects: the policies' reason to exist.
    teams = _tenant_subjects(plan)
    refused_by_policy = 0
    for team, info in teams.items():
        user, groups = _group_identity(info["owners"][0])
        tenant = client.as_user(user, groups)
        for obj in kubernetes_objects(plan):
            if obj["metadata"].get("namespace") != info["namespace"]:
                continue
            mutated = copy.deepcopy(obj)
            mutated.setdefault("metadata", {}).setdefault("labels", {})["agentplane.io/tenant"] = "tampered"
            try:
                tenant.apply(mutated, dry_run=True, manager=f"tenant-{team}")
            except ApiError as error:
                if "ValidatingAdmissionPolicy" in error.message:
                    refused_by_policy += 1
    oracle_record(ORACLE, "native ValidatingAdmissionPolicy refusals", refused_by_policy > 0)
    assert refused_by_policy, f"{stack}: no ValidatingAdmissionPolicy refused any tenant write to platform objects"
