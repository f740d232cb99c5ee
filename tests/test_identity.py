"""Identity in the plans of the example stacks: Postgres, Keycloak, the realm; schemas, secrets, order, protection."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from agentplane.builders import identity as build
from agentplane.plan import PLACEHOLDER, REDACTED, plan_document, run_program
from agentplane.spec.load import build_spec, env_config_from_stack_document, load_from_files
from tests.support.plans import ROOT, STACKS, by_urn, example_plan, resources_of
from tests.support.upstream import validate_chart_values, validate_objects

COMPONENT = "identity"
RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
REALM = "keycloak:index/realm:Realm"
PROVIDER = "pulumi:providers:keycloak"
CHART_PINS = {"keycloakx": "7.1.11", "cloudnative-pg": "0.29.0"}


def _identity(stack: str) -> list[dict]:
    return resources_of(example_plan(stack), component=COMPONENT)


def _one(resources: list[dict], type_: str, name: str | None = None) -> dict:
    found = [r for r in resources if r["type"] == type_ and (name is None or r["name"] == name)]
    assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r['name'] for r in found]}"
    return found[0]


def _release(stack: str, chart: str) -> dict:
    return next(r for r in _identity(stack) if r["type"] == RELEASE and r["inputs"]["chart"].endswith(chart))


def _objects(resources: list[dict]) -> list[dict]:
    return [r["inputs"] for r in resources if r["type"].startswith("kubernetes:") and r["type"] != RELEASE]


def _closure(doc: dict, urn: str) -> set[str]:
    """Everything `urn` waits for: its dependsOn and its ancestors', transitively."""
    resources = by_urn(doc)
    seen: set[str] = set()
    todo = [urn]
    while todo:
        current = resources.get(todo.pop())
        if current is None:
            continue
        for dep in [*current["dependsOn"], current["parent"]]:
            if dep and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


# --- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_identity_object_validates_against_its_upstream_schema(stack: str) -> None:
    objects = _objects(_identity(stack))
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Secret", "Cluster", "Certificate"} <= kinds
    errors = validate_objects(objects)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("stack", STACKS)
def test_chart_values_validate_against_the_pinned_charts(stack: str) -> None:
    for chart, version in CHART_PINS.items():
        release = _release(stack, chart)
        assert release["inputs"]["version"] == version
        free_form = build.KEYCLOAKX_FREE_FORM if chart == "keycloakx" else ()
        errors = validate_chart_values(chart, version, release["inputs"]["values"], free_form=free_form)
        assert not errors, "\n".join(errors)


def test_free_form_keycloakx_paths_are_only_kubernetes_security_contexts() -> None:
    # The chart copies these into the pod spec verbatim; anything else must be a chart option.
    assert all(p.split(".")[-1] in ("securityContext", "podSecurityContext") for p in build.KEYCLOAKX_FREE_FORM)


def test_keycloakx_string_templates_are_valid_kubernetes_lists() -> None:
    values = _release("dev", "keycloakx")["inputs"]["values"]
    env = {e["name"]: e for e in yaml.safe_load(values["extraEnv"])}
    volumes = yaml.safe_load(values["extraVolumes"])
    mounts = yaml.safe_load(values["extraVolumeMounts"])
    # One Pod carrying them validates them as the API server would.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "keycloak-0", "namespace": "agentplane-identity"},
        "spec": {"volumes": volumes, "containers": [{"name": "keycloak", "image": "x", "env": list(env.values()), "volumeMounts": mounts}]},
    }
    assert validate_objects([pod]) == []
    assert "{{" not in values["extraEnv"]  # the chart runs these through `tpl`
    # Admin credentials come from the Secret, never as literal values.
    for name in ("KC_BOOTSTRAP_ADMIN_USERNAME", "KC_BOOTSTRAP_ADMIN_PASSWORD"):
        assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"] == build.ADMIN_SECRET


# --- the pieces fit together ------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_keycloak_uses_the_cnpg_cluster_and_its_credentials(stack: str) -> None:
    resources = _identity(stack)
    cluster = _one(resources, CLUSTER)["inputs"]
    database = _release(stack, "keycloakx")["inputs"]["values"]["database"]
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert database["hostname"].split(".")[0] == f"{cluster['metadata']['name']}-rw"
    assert database["hostname"].split(".")[1] == cluster["metadata"]["namespace"]
    assert database["existingSecret"] == initdb["secret"]["name"]
    assert (database["username"], database["database"]) == (initdb["owner"], initdb["database"])
    secrets = {o["metadata"]["name"]: o for o in _objects(resources) if o["kind"] == "Secret"}
    credentials = secrets[initdb["secret"]["name"]]
    # CloudNativePG reads initdb credentials from a basic-auth Secret in the cluster's namespace.
    assert credentials["type"] == "kubernetes.io/basic-auth"
    assert credentials["metadata"]["namespace"] == cluster["metadata"]["namespace"]
    assert set(credentials["stringData"]) == {"username", "password"}


@pytest.mark.parametrize("stack", STACKS)
def test_keycloak_serves_the_certificate_of_the_platform_ca(stack: str) -> None:
    resources = _identity(stack)
    certificate = next(o for o in _objects(resources) if o["kind"] == "Certificate")
    values = _release(stack, "keycloakx")["inputs"]["values"]
    volumes = yaml.safe_load(values["extraVolumes"])
    assert any(v.get("secret", {}).get("secretName") == certificate["spec"]["secretName"] for v in volumes)
    assert certificate["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "platform-ca"}
    spec = load_from_files(stack, root=ROOT)
    assert spec.env.identity.hostname in certificate["spec"]["dnsNames"]
    assert f"{build.KEYCLOAK_SERVICE}.{certificate['metadata']['namespace']}.svc" in certificate["spec"]["dnsNames"]


def test_dev_exposes_keycloak_on_the_node_port_the_kind_cluster_maps() -> None:
    service = _release("dev", "keycloakx")["inputs"]["values"]["service"]
    kind_config = yaml.safe_load((ROOT / "infra" / "kind-cluster.yaml").read_text())
    mapped = {m["containerPort"]: m["hostPort"] for node in kind_config["nodes"] for m in node.get("extraPortMappings", [])}
    assert service["type"] == "NodePort" and service["httpNodePort"] in mapped
    public = load_from_files("dev", root=ROOT).env.identity.public_url
    assert public is not None and public.endswith(f":{mapped[service['httpNodePort']]}")


@pytest.mark.parametrize("stack", ("staging", "prod"))
def test_shared_environments_serve_https_only_behind_their_ingress(stack: str) -> None:
    values = _release(stack, "keycloakx")["inputs"]["values"]
    env = {e["name"]: e.get("value") for e in yaml.safe_load(values["extraEnv"])}
    assert env["KC_HTTP_ENABLED"] == "false" and env["KC_HOSTNAME"].startswith("https://")
    assert values["service"]["type"] == "ClusterIP"
    assert values["ingress"]["enabled"] and values["ingress"]["tls"][0]["hosts"] == [env["KC_HOSTNAME"].removeprefix("https://")]


# --- instances and protection -----------------------------------------------------------------


@pytest.mark.parametrize("stack, instances", [("dev", 1), ("staging", 1), ("prod", 3)])
def test_postgres_instances_follow_protection(stack: str, instances: int) -> None:
    assert load_from_files(stack, root=ROOT).protect is (stack == "prod")
    assert _one(_identity(stack), CLUSTER)["inputs"]["spec"]["instances"] == instances


def test_instances_can_be_set_explicitly() -> None:
    doc = yaml.safe_load((ROOT / "stacks/Pulumi.prod.yaml").read_text())
    raw = env_config_from_stack_document(doc, "prod")
    raw["identity"] = {**raw.get("identity", {}), "database": {"instances": 2, "backup": {"enabled": False}}}
    spec = build_spec("prod", raw, "prod", [], {"prod"}, source="file")
    assert spec.protect and build.postgres_cluster(spec)["spec"]["instances"] == 2


@pytest.mark.parametrize("stack", STACKS)
def test_data_and_crd_bearing_chart_are_protected_where_the_environment_is(stack: str) -> None:
    protect = load_from_files(stack, root=ROOT).protect
    resources = _identity(stack)
    kept = [
        _one(resources, CLUSTER),
        _release(stack, "cloudnative-pg"),  # its CRDs are templates: uninstalling deletes every Cluster
        _one(resources, REALM),
        *[r for r in resources if r["type"] == "random:index/randomPassword:RandomPassword"],
        *[r for r in resources if r["inputs"].get("kind") == "Namespace"],
    ]
    assert len(kept) == 7
    for resource in kept:
        assert (resource["protect"], resource["retainOnDelete"]) == (protect, protect), resource["name"]
    # Keycloak itself holds no data: it can be replaced freely.
    assert _release(stack, "keycloakx")["protect"] is False


# --- order ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_postgres_before_keycloak_before_the_realm(stack: str) -> None:
    resources = _identity(stack)
    operator, keycloak = _release(stack, "cloudnative-pg"), _release(stack, "keycloakx")
    cluster, realm, provider = _one(resources, CLUSTER), _one(resources, REALM), _one(resources, PROVIDER)
    assert operator["urn"] in cluster["dependsOn"]
    assert cluster["urn"] in keycloak["dependsOn"]
    assert keycloak["urn"] in realm["dependsOn"] and keycloak["urn"] in provider["dependsOn"]
    certificate = next(r for r in resources if r["inputs"].get("kind") == "Certificate")
    assert certificate["urn"] in keycloak["dependsOn"]
    issuers = [r["urn"] for r in example_plan(stack)["resources"] if r["inputs"].get("kind") == "ClusterIssuer" and r["inputs"]["metadata"]["name"] == "platform-ca"]
    assert len(issuers) == 1  # the Certificates component registers the platform CA
    assert issuers[0] in certificate["dependsOn"]


def test_keycloaks_certificate_waits_for_cert_manager_whichever_issuer_signs_it(tmp_path) -> None:
    # With the platform CA the wait is transitive (platform-ca waits for cert-manager); with an
    # issuer of the operator's own, the Certificate must still wait for cert-manager's CRDs.
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    doc["config"]["agentplane:identity"] = {**doc["config"]["agentplane:identity"], "tls": {"issuer": "letsencrypt"}}
    config = tmp_path / "Pulumi.dev.yaml"
    config.write_text(yaml.safe_dump(doc))
    plan = plan_document(run_program("dev", root=ROOT, config=config))
    (cert_manager,) = [r["urn"] for r in plan["resources"] if r["type"] == "kubernetes-cert-manager:index:CertManager"]
    (certificate,) = [r for r in resources_of(plan, component=COMPONENT) if r["inputs"].get("kind") == "Certificate"]
    assert certificate["inputs"]["spec"]["issuerRef"]["name"] == "letsencrypt"
    assert cert_manager in _closure(plan, certificate["urn"])


@pytest.mark.parametrize("stack", STACKS)
def test_every_realm_object_waits_for_the_realm_and_uses_the_explicit_provider(stack: str) -> None:
    doc = example_plan(stack)
    realm, provider = _one(_identity(stack), REALM), _one(_identity(stack), PROVIDER)
    keycloak_objects = [r for r in _identity(stack) if r["type"].startswith("keycloak:")]
    assert len(keycloak_objects) > 1
    for resource in keycloak_objects:
        assert resource["provider"] == provider["name"], resource["name"]
        if resource is not realm:
            assert realm["urn"] in _closure(doc, resource["urn"]), resource["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_agent_secrets_land_in_their_team_namespace_after_it_exists(stack: str) -> None:
    doc = example_plan(stack)
    spec = load_from_files(stack, root=ROOT)
    namespaces = {r["inputs"]["metadata"]["name"]: r["urn"] for r in doc["resources"] if r["inputs"].get("kind") == "Namespace"}
    for team in spec.teams:
        secrets = [r for r in resources_of(doc, component=COMPONENT, team=team.name) if r["inputs"].get("kind") == "Secret"]
        assert sorted(s["inputs"]["metadata"]["name"] for s in secrets) == sorted(f"{a.name}-oidc" for a in team.agents)
        for secret in secrets:
            assert secret["inputs"]["metadata"]["namespace"] == team.namespace
            assert namespaces[team.namespace] in secret["dependsOn"]


# --- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_no_credential_is_in_plain_text_anywhere_in_the_plan(stack: str) -> None:
    doc = example_plan(stack)
    text = json.dumps(doc)
    # Generated passwords and client secrets are placeholders in the plan; none may show.
    assert PLACEHOLDER not in text
    for resource in _identity(stack):
        inputs = resource["inputs"]
        if inputs.get("kind") == "Secret":
            assert inputs["stringData"] and set(inputs["stringData"].values()) == {REDACTED}, resource["name"]
        if resource["type"] == PROVIDER:
            assert inputs["password"] == REDACTED
    assert not re.search(r'"(password|clientSecret|client_secret)": "(?!\[secret\])', text)


# --- the realm --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_each_team_has_its_group_subgroups_and_a_client_per_agent(stack: str) -> None:
    doc = example_plan(stack)
    spec = load_from_files(stack, root=ROOT)
    for team in spec.teams:
        mine = resources_of(doc, component=COMPONENT, team=team.name)
        groups = {r["inputs"]["name"]: r for r in mine if r["type"] == "keycloak:index/group:Group"}
        team_group = groups.pop(team.name)
        assert "parentId" not in team_group["inputs"]
        assert set(groups) == set(team.owners) | set(team.members)
        for name, group in groups.items():
            role = "owner" if name in team.owners else "member"
            assert group["inputs"]["attributes"] == {"agentplane.io/team": team.name, "agentplane.io/role": role}
            assert team_group["urn"] in group["dependsOn"]  # a sub-group of the team group
        clients = {r["inputs"]["clientId"]: r for r in mine if r["type"] == "keycloak:openid/client:Client"}
        assert set(clients) == {f"{team.name}.{a.name}" for a in team.agents}
        for client in clients.values():
            inputs = client["inputs"]
            assert inputs["accessType"] == "CONFIDENTIAL" and inputs["serviceAccountsEnabled"] is True
            assert inputs["standardFlowEnabled"] is False and inputs["standardTokenExchangeEnabled"] is True
            assert inputs["directAccessGrantsEnabled"] is False and inputs["implicitFlowEnabled"] is False
            mappers = [r for r in mine if client["urn"] in r["dependsOn"] and "ProtocolMapper" in r["type"]]
            by_type = {m["type"].rsplit(":", 1)[-1]: m["inputs"] for m in mappers}
            assert by_type["GroupMembershipProtocolMapper"]["fullPath"] is False
            assert by_type["GroupMembershipProtocolMapper"]["claimName"] == "groups"
            assert by_type["AudienceProtocolMapper"]["includedCustomAudience"] == spec.env.identity.gateway_audience
            membership = next(r for r in mine if r["type"] == "keycloak:index/userGroups:UserGroups" and client["urn"] in r["dependsOn"])
            assert membership["inputs"]["groupIds"] == [f"{team_group['name']}-id"]


def test_the_realm_is_the_configured_one_and_the_provider_does_not_log_in_at_preview() -> None:
    resources = _identity("dev")
    assert _one(resources, REALM)["inputs"]["realm"] == "agentplane"
    provider = _one(resources, PROVIDER)["inputs"]
    assert provider["initialLogin"] in (False, "false")
    assert provider["url"] == "http://keycloak.localtest.me:8080"  # dev's publicUrl, reached through kind's port mapping
    assert (provider["realm"], provider["clientId"], provider["username"]) == ("master", "admin-cli", build.ADMIN_USERNAME)
