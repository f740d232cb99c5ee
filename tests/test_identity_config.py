"""`agentplane:identity` validation: every bad value is an error naming the field and what is allowed."""

from __future__ import annotations

import pytest
import yaml

from agentplane.config.files import env_config_from_stack_document
from agentplane.config.load import build_spec, validate_environment
from agentplane.config.sections.identity import IdentityConfig
from agentplane.errors import ConfigError
from tests.support.plans import ROOT

DEV_FILE = "stacks/Pulumi.dev.yaml"


def _dev_raw(**identity) -> dict:
    doc = yaml.safe_load((ROOT / DEV_FILE).read_text())
    raw = env_config_from_stack_document(doc, DEV_FILE)
    raw["identity"] = identity
    return raw


def _issues(identity: dict, *, source: str = "file") -> list[str]:
    try:
        validate_environment(_dev_raw(**identity), DEV_FILE, source=source)
    except ConfigError as exc:
        return [str(i) for i in exc.issues]
    return []


def test_the_defaults_and_every_example_stack_are_valid() -> None:
    assert _issues({}) == []
    config = IdentityConfig()
    assert config.managed and config.hostname == "keycloak.localtest.me" and config.realm == "agentplane"


@pytest.mark.parametrize(
    "identity, field, words",
    [
        ({"hostname": "https://keycloak.example.com"}, "agentplane:identity.hostname", "not a DNS name"),
        ({"hostname": "Keycloak.Example.com"}, "agentplane:identity.hostname", "not a DNS name"),
        ({"hostname": "kc_1.example.com"}, "agentplane:identity.hostname", "not a DNS name"),
        ({"hostname": "keycloak.example.com:8443"}, "agentplane:identity.hostname", "no scheme, port or path"),
        ({"realm": "master"}, "agentplane:identity.realm", "administration realm"),
        ({"realm": "my realm"}, "agentplane:identity.realm", "not a realm name"),
        ({"gatewayAudience": "two words"}, "agentplane:identity.gatewayAudience", "without whitespace"),
        ({"database": {"instances": 0}}, "agentplane:identity.database.instances", "at least 1"),
        ({"database": {"instances": "3"}}, "agentplane:identity.database.instances", "integer"),
        (
            {"database": {"storageSize": "lots"}},
            "agentplane:identity.database.storageSize",
            "not a Kubernetes quantity",
        ),
        ({"database": {"storageSize": "0Gi"}}, "agentplane:identity.database.storageSize", "greater than zero"),
        ({"keycloak": {"replicas": 0}}, "agentplane:identity.keycloak.replicas", "at least 1"),
        ({"service": {"type": "ExternalName"}}, "agentplane:identity.service.type", "ClusterIP"),
        ({"service": {"httpNodePort": 8080}}, "agentplane:identity.service.httpNodePort", "30000-32767"),
        ({"service": {"httpNodePort": 30080, "httpsNodePort": 30080}}, "agentplane:identity.service", "use two ports"),
        ({"httpEnabled": False}, "agentplane:identity", "httpNodePort: null or httpEnabled: true"),
        ({"publicUrl": "https://other.example.com"}, "agentplane:identity", "must use the hostname"),
        ({"publicUrl": "https://keycloak.localtest.me/auth"}, "agentplane:identity", "has a path"),
        ({"publicUrl": "ftp://keycloak.localtest.me"}, "agentplane:identity", "not a base URL"),
        ({"providerUrl": "keycloak.localtest.me:8080"}, "agentplane:identity", "not a base URL"),
        (
            {"charts": {"keycloakx": {"repository": "oci://m", "version": "7.2.0"}}},
            "agentplane:identity.charts.keycloakx",
            "7.1.11",
        ),
        ({"databse": {}}, "agentplane:identity.databse", "allowed here: charts, database"),
    ],
)
def test_bad_identity_config(identity: dict, field: str, words: str) -> None:
    issues = _issues(identity)
    assert any(i.startswith(f"{DEV_FILE}: {field}: ") and words in i for i in issues), issues


@pytest.mark.parametrize(
    "existing, words",
    [
        ({"url": "http://sso.example.com"}, "use https://, or set `insecure: true`"),
        ({"url": "https://sso.example.com", "insecure": True}, "only allows an http:// url"),
        ({"url": "sso.example.com"}, "not a base URL"),
        ({"url": "https://sso.example.com:99999"}, "invalid port"),
        (
            {
                "url": "https://sso.example.com",
                "adminUsername": "a",
                "adminPassword": {"secure": "x"},
                "clientSecret": {"secure": "y"},
            },
            "not both",
        ),
        (
            {"url": "https://sso.example.com", "adminUsername": "a", "clientSecret": {"secure": "y"}},
            "adminUsername goes with adminPassword",
        ),
        ({"url": "https://sso.example.com", "adminPassword": "hunter2"}, "must not be stored in plain text"),
    ],
)
def test_bad_existing_keycloak(existing: dict, words: str) -> None:
    issues = _issues({"existing": existing})
    assert any(i.startswith(f"{DEV_FILE}: agentplane:identity.existing") and words in i for i in issues), issues


@pytest.mark.parametrize(
    "identity",
    [
        {"existing": {"url": "https://admin:hunter2@sso.example.com"}},
        {"providerUrl": "https://admin:hunter2@keycloak.localtest.me"},
        {"publicUrl": "https://admin:hunter2@keycloak.localtest.me"},
    ],
)
def test_a_url_with_credentials_is_an_error_that_does_not_repeat_them(identity: dict) -> None:
    # They would reach the plan (the provider's url), token issuers and the gateway's config.
    issues = _issues(identity)
    assert any("carries credentials" in i for i in issues), issues
    assert not any("hunter2" in i for i in issues)


def test_plain_http_existing_keycloak_needs_the_explicit_insecure_flag() -> None:
    assert _issues({"existing": {"url": "http://localhost:8080", "insecure": True}}) == []


def test_chart_repository_may_point_at_a_mirror() -> None:
    env = validate_environment(
        _dev_raw(charts={"cloudnativePg": {"repository": "oci://mirror.example.com/charts"}}), DEV_FILE, source="file"
    )
    chart = env.identity.charts.cloudnative_pg
    assert (chart.repository, chart.chart, chart.version) == (
        "oci://mirror.example.com/charts",
        "cloudnative-pg",
        "0.29.0",
    )


def _spec(identity: dict, *, source: str = "file", teams: list | None = None):
    return build_spec("dev", _dev_raw(**identity), DEV_FILE, teams or [], {"dev", "staging", "prod"}, source=source)


def test_missing_existing_credentials_are_a_deploy_warning() -> None:
    spec = _spec({"existing": {"url": "https://sso.example.com"}})
    assert any(
        w.startswith("agentplane:identity: existing.adminPassword") and "cannot log in" in w for w in spec.warnings
    )
    # A username without its password is just as unusable.
    spec = _spec({"existing": {"url": "https://sso.example.com", "adminPassword": "s3cret"}}, source="engine")
    assert any("existing.adminUsername is not set" in w for w in spec.warnings)


def test_complete_credentials_and_the_managed_mode_need_nothing_more() -> None:
    engine = _spec(
        {"existing": {"url": "https://sso.example.com", "clientId": "agentplane", "clientSecret": "s3cret"}},
        source="engine",
    )
    assert not [w for w in engine.warnings if "identity" in w]
    assert not [w for w in _spec({}).warnings if "identity" in w]


def _team(**changes) -> dict:
    team = {
        "name": "acme",
        "owners": ["acme-admins"],
        "members": ["acme-devs"],
        "environments": {"dev": {"tier": "standard"}},
    }
    return team | changes


@pytest.mark.parametrize(
    "team, field, words",
    [
        (_team(members=["acme-admins"]), "members[0]", "already in owners"),
        (_team(owners=["acme-admins", "acme-admins"]), "owners[1]", "listed twice"),
        (_team(owners=["org/acme-admins"]), "owners[0]", "is not a name"),
    ],
)
def test_team_groups_must_map_to_distinct_keycloak_groups(tmp_path, team: dict, field: str, words: str) -> None:
    path = tmp_path / "acme.yaml"
    with pytest.raises(ConfigError) as caught:
        _spec({}, teams=[(path, team)])
    assert any(i.field == field and words in i.message for i in caught.value.issues), caught.value.render()


@pytest.mark.parametrize(
    "url",
    [
        "https://keycloak-admin.internal.example.com:8443",  # a name not on Keycloak's certificate
        "https://keycloak-http.other-namespace.svc:8443",  # another namespace's Service
        "https://keycloak.localtest.me.evil.example",  # a lookalike suffix
    ],
)
def test_a_provider_url_keycloaks_certificate_does_not_name_is_an_error(url: str) -> None:
    """The managed Keycloak's certificate names its hostname and its Service
    (builders/identity.certificate_dns_names): any other https host would fail TLS at the
    realm, in the middle of `pulumi up`, instead of here."""
    issues = _issues({"providerUrl": url})
    assert any(i.startswith(f"{DEV_FILE}: agentplane:identity") and "a name on its certificate" in i for i in issues), (
        issues
    )


@pytest.mark.parametrize(
    "identity",
    [
        {"providerUrl": "https://keycloak-http.agentplane-identity.svc:8443"},
        {"providerUrl": "https://keycloak-http.agentplane-identity.svc.cluster.local:8443"},
        {"providerUrl": "https://keycloak.localtest.me:8443"},
        {"providerUrl": "http://localhost:8080"},  # plain http on a local cluster: no certificate to match
    ],
)
def test_a_provider_url_on_keycloaks_certificate_is_accepted(identity: dict) -> None:
    assert _issues(identity) == []


def test_every_accepted_service_name_is_on_keycloaks_certificate() -> None:
    from agentplane.builders.identity.keycloak import certificate_dns_names
    from agentplane.config.sections.identity import keycloak_service_hosts

    assert set(keycloak_service_hosts()) <= set(certificate_dns_names(IdentityConfig()))
