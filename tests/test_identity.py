"""Identity in the plans of the example stacks: Postgres, Keycloak, the realm; schemas, secrets, order, protection."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from agentplane.builders.identity import keycloak as build
from agentplane.builders.identity import postgres
from agentplane.config.files import env_config_from_stack_document
from agentplane.config.load import build_spec, load_from_files, validate_environment
from agentplane.config.sections.identity import KEYCLOAK_SERVICE
from agentplane.engine import PLACEHOLDER, REDACTED
from agentplane.errors import ConfigError
from agentplane.plan import plan_document, run_program
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
        "spec": {
            "volumes": volumes,
            "containers": [{"name": "keycloak", "image": "x", "env": list(env.values()), "volumeMounts": mounts}],
        },
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
    assert certificate["spec"]["issuerRef"] == {
        "group": "cert-manager.io",
        "kind": "ClusterIssuer",
        "name": "platform-ca",
    }
    spec = load_from_files(stack, root=ROOT)
    assert spec.env.identity.hostname in certificate["spec"]["dnsNames"]
    assert f"{KEYCLOAK_SERVICE}.{certificate['metadata']['namespace']}.svc" in certificate["spec"]["dnsNames"]


def test_dev_exposes_keycloak_on_the_node_port_the_kind_cluster_maps() -> None:
    service = _release("dev", "keycloakx")["inputs"]["values"]["service"]
    kind_config = yaml.safe_load((ROOT / "infra" / "kind-cluster.yaml").read_text())
    mapped = {
        m["containerPort"]: m["hostPort"] for node in kind_config["nodes"] for m in node.get("extraPortMappings", [])
    }
    assert service["type"] == "NodePort" and service["httpNodePort"] in mapped
    public = load_from_files("dev", root=ROOT).env.identity.public_url
    assert public is not None and public.endswith(f":{mapped[service['httpNodePort']]}")


@pytest.mark.parametrize("stack", ("staging", "prod"))
def test_shared_environments_serve_https_only_behind_their_ingress(stack: str) -> None:
    values = _release(stack, "keycloakx")["inputs"]["values"]
    env = {e["name"]: e.get("value") for e in yaml.safe_load(values["extraEnv"])}
    # keycloakx emits KC_HTTP_ENABLED from proxy.http.enabled alone (codecentric/helm-charts@
    # keycloakx-7.1.11:charts/keycloakx/templates/statefulset.yaml); extraEnv must not repeat it.
    assert values["proxy"]["http"] == {"enabled": False} and "KC_HTTP_ENABLED" not in env
    assert env["KC_HOSTNAME"].startswith("https://")
    assert values["service"]["type"] == "ClusterIP"
    assert values["ingress"]["enabled"] and values["ingress"]["tls"][0]["hosts"] == [
        env["KC_HOSTNAME"].removeprefix("https://")
    ]
    # Only the public paths: the admin console and API (/admin/) are not published.
    paths = [p["path"] for rule in values["ingress"]["rules"] for p in rule["paths"]]
    assert paths == ["/realms/", "/resources/", "/.well-known/"]
    assert not any(p == "/" or p.startswith("/admin") for p in paths)


@pytest.mark.parametrize("stack", STACKS)
def test_the_http_listener_is_switched_once_through_the_chart(stack: str) -> None:
    values = _release(stack, "keycloakx")["inputs"]["values"]
    env = [e["name"] for e in yaml.safe_load(values["extraEnv"])]
    assert "KC_HTTP_ENABLED" not in env
    assert values["proxy"]["http"]["enabled"] is load_from_files(stack, root=ROOT).env.identity.http_enabled


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
    assert spec.protect and postgres.postgres_cluster(spec)["spec"]["instances"] == 2


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
    issuers = [
        r["urn"]
        for r in example_plan(stack)["resources"]
        if r["inputs"].get("kind") == "ClusterIssuer" and r["inputs"]["metadata"]["name"] == "platform-ca"
    ]
    assert len(issuers) == 1  # the Certificates component registers the platform CA
    assert issuers[0] in certificate["dependsOn"]


ACME = {"name": "letsencrypt", "email": "platform@example.com", "ingressClassName": "nginx"}


def _plan_with(tmp_path, stack: str, identity: dict | None = None, **sections) -> dict:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    if identity is not None:
        doc["config"]["agentplane:identity"] = identity
    doc["config"].update({f"agentplane:{k}": v for k, v in sections.items()})
    config = tmp_path / f"Pulumi.{stack}.yaml"
    config.write_text(yaml.safe_dump(doc))
    return plan_document(run_program(stack, root=ROOT, config=config))


def test_a_public_acme_issuer_certifies_the_ingress_and_the_program_creates_it(tmp_path) -> None:
    staging = yaml.safe_load((ROOT / "stacks" / "Pulumi.staging.yaml").read_text())["config"]["agentplane:identity"]
    plan = _plan_with(tmp_path, "staging", {**staging, "tls": {"issuer": "letsencrypt"}}, certificates={"acme": ACME})
    (cert_manager,) = [r["urn"] for r in plan["resources"] if r["type"] == "kubernetes-cert-manager:index:CertManager"]
    (issuer,) = [
        r
        for r in plan["resources"]
        if r["inputs"].get("kind") == "ClusterIssuer" and r["inputs"]["metadata"]["name"] == "letsencrypt"
    ]
    assert issuer["inputs"]["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    certificates = {
        r["inputs"]["metadata"]["name"]: r
        for r in resources_of(plan, component=COMPONENT)
        if r["inputs"].get("kind") == "Certificate"
    }
    # Keycloak itself keeps its platform-CA certificate (every name it is reached by); the
    # public CA signs only the public hostname, which the Ingress serves.
    assert certificates[build.TLS_CERTIFICATE]["inputs"]["spec"]["issuerRef"]["name"] == "platform-ca"
    public = certificates[build.PUBLIC_TLS_CERTIFICATE]
    assert public["inputs"]["spec"]["issuerRef"]["name"] == "letsencrypt"
    assert public["inputs"]["spec"]["dnsNames"] == [staging["hostname"]]
    assert {cert_manager, issuer["urn"]} <= _closure(plan, public["urn"])
    values = [
        r
        for r in resources_of(plan, component=COMPONENT)
        if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"]["chart"] == "keycloakx"
    ][0]["inputs"]["values"]
    assert values["ingress"]["tls"] == [{"hosts": [staging["hostname"]], "secretName": build.PUBLIC_TLS_SECRET}]


@pytest.mark.parametrize("identity", [{"tls": {"issuer": "letsencrypt"}}, {"tls": {"issuer": "platform-ca-typo"}}])
def test_a_certificate_from_an_issuer_the_program_does_not_create_is_refused(identity: dict) -> None:
    raw = env_config_from_stack_document(
        yaml.safe_load((ROOT / "stacks" / "Pulumi.staging.yaml").read_text()), "staging"
    )
    raw["identity"] = {**raw["identity"], **identity}
    with pytest.raises(ConfigError) as info:
        validate_environment(raw, "stacks/Pulumi.staging.yaml", source="file")
    ((field, message),) = [(i.field, i.message) for i in info.value.issues]
    assert field == "agentplane:identity.tls.issuer"
    assert "is not a ClusterIssuer this program creates (it creates: platform-ca)" in message


def test_an_acme_issuer_needs_the_ingress_it_solves_through() -> None:
    raw = env_config_from_stack_document(yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text()), "dev")
    raw["identity"] = {**raw["identity"], "tls": {"issuer": "letsencrypt"}}
    raw["certificates"] = {"acme": ACME}
    with pytest.raises(ConfigError) as info:
        validate_environment(raw, "stacks/Pulumi.dev.yaml", source="file")
    assert [i.field for i in info.value.issues] == ["agentplane:identity.tls.issuer"]


# --- trust: what `pulumi up` and the gateway verify Keycloak's TLS with ----------------------------

ROOT_CA_TYPE = "tls:index/selfSignedCert:SelfSignedCert"


def _provider(doc: dict) -> dict:
    (provider,) = [r for r in resources_of(doc, component=COMPONENT) if r["type"] == PROVIDER]
    return provider


@pytest.mark.parametrize("stack", ("staging", "prod"))
def test_the_keycloak_provider_trusts_the_platform_root_and_waits_long_enough(stack: str) -> None:
    doc = example_plan(stack)
    provider = _provider(doc)["inputs"]
    (root,) = [r for r in doc["resources"] if r["type"] == ROOT_CA_TYPE]
    # The root's certificate is created at `pulumi up`, so the plan shows it as unknown: that it
    # flows here at all means it is the Pulumi-made root, not a file or the system roots.
    assert provider["rootCaCertificate"] == "[unknown]"
    assert root["urn"] in _closure(doc, _provider(doc)["urn"])
    # The private path: the in-cluster Service, whose certificate names it (platform CA).
    assert provider["url"] == "https://keycloak-http.agentplane-identity.svc:8443"
    assert "keycloak-http.agentplane-identity.svc" in build.certificate_dns_names(
        load_from_files(stack, root=ROOT).env.identity
    )
    assert int(provider["clientTimeout"]) >= 60  # the SDK's 5 s is too short for a cold Keycloak
    assert "tlsInsecureSkipVerify" not in provider


def test_dev_over_plain_http_gets_no_root_and_an_acme_public_url_uses_the_system_roots(tmp_path) -> None:
    assert "rootCaCertificate" not in _provider(example_plan("dev"))["inputs"]
    staging = yaml.safe_load((ROOT / "stacks" / "Pulumi.staging.yaml").read_text())["config"]["agentplane:identity"]
    public = {k: v for k, v in staging.items() if k != "providerUrl"}
    plan = _plan_with(tmp_path, "staging", {**public, "tls": {"issuer": "letsencrypt"}}, certificates={"acme": ACME})
    # root_ca_certificate replaces the provider's system roots: never given for a public CA.
    assert "rootCaCertificate" not in _provider(plan)["inputs"]
    # Without ACME, the public URL is platform-CA signed at the Ingress: the root is needed.
    plan = _plan_with(tmp_path, "staging", public)
    assert _provider(plan)["inputs"]["rootCaCertificate"] == "[unknown]"


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
    namespaces = {
        r["inputs"]["metadata"]["name"]: r["urn"] for r in doc["resources"] if r["inputs"].get("kind") == "Namespace"
    }
    for team in spec.teams:
        secrets = [
            r for r in resources_of(doc, component=COMPONENT, team=team.name) if r["inputs"].get("kind") == "Secret"
        ]
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
        # The spec holds groups by path (/<team>/<group>); Keycloak names each sub-group by its leaf
        # under the team group, so the path in tokens is exactly the spec's.
        assert {f"/{team.name}/{name}" for name in groups} == set(team.owners) | set(team.members)
        for name, group in groups.items():
            role = "owner" if f"/{team.name}/{name}" in team.owners else "member"
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
            # Full paths: a token says /payments/payments-admins, which no other team can produce.
            assert by_type["GroupMembershipProtocolMapper"]["fullPath"] is True
            assert by_type["GroupMembershipProtocolMapper"]["claimName"] == "groups"
            assert by_type["AudienceProtocolMapper"]["includedCustomAudience"] == spec.env.identity.gateway_audience
            membership = next(
                r
                for r in mine
                if r["type"] == "keycloak:index/userGroups:UserGroups" and client["urn"] in r["dependsOn"]
            )
            assert membership["inputs"]["groupIds"] == [f"{team_group['name']}-id"]


def test_the_realm_is_the_configured_one_and_the_provider_does_not_log_in_at_preview() -> None:
    resources = _identity("dev")
    assert _one(resources, REALM)["inputs"]["realm"] == "agentplane"
    provider = _one(resources, PROVIDER)["inputs"]
    assert provider["initialLogin"] in (False, "false")
    assert (
        provider["url"] == "http://keycloak.localtest.me:8080"
    )  # dev's publicUrl, reached through kind's port mapping
    assert (provider["realm"], provider["clientId"], provider["username"]) == (
        "master",
        "admin-cli",
        build.ADMIN_USERNAME,
    )
