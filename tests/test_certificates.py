"""Certificates: cert-manager through its Pulumi component, and the self-signed -> root CA -> platform-ca chain."""

from __future__ import annotations

import copy
import json

import pulumi._types
import pulumi_kubernetes_cert_manager as cert_manager_sdk
import pytest

from agentplane import namespaces, safeyaml
from agentplane.config.files import env_config_from_stack_document
from agentplane.config.load import validate_environment
from agentplane.config.sections.certificates import PLATFORM_CA_ISSUER, CertificatesConfig, parse_go_duration
from agentplane.config.sections.charts import ChartSource
from agentplane.errors import ConfigError
from components.certificates import _TYPED_ARGUMENTS, _helm_options
from tests.support.plans import ROOT, STACKS, example_plan, resources_of
from tests.support.upstream import upstream_dir, validate_chart_values, validate_objects

CERT_MANAGER_TYPE = "kubernetes-cert-manager:index:CertManager"
PINNED_CHART, PINNED_VERSION = "cert-manager", "v1.21.0"
# SDK arguments (pulumi-kubernetes-cert-manager 0.2.0) whose names the v1.21.0 chart does not
# know: the chart calls them `volumes`/`volumeMounts`, so these would be silently ignored.
SDK_ARGUMENTS_THE_CHART_IGNORES = {"extraVolumes", "extraVolumeMounts"}


def _certificates(stack: str) -> list[dict]:
    return resources_of(example_plan(stack), component="certificates")


def _cert_manager(stack: str) -> dict:
    (component,) = [r for r in _certificates(stack) if r["type"] == CERT_MANAGER_TYPE]
    return component


def _object(stack: str, kind: str, name: str) -> dict:
    (resource,) = [
        r for r in _certificates(stack) if r["inputs"].get("kind") == kind and r["inputs"]["metadata"]["name"] == name
    ]
    return resource


def _chart_values(component_inputs: dict) -> dict:
    """What the CertManager component hands Helm: its typed arguments written over helmOptions.values."""
    values = copy.deepcopy(component_inputs["helmOptions"].get("values") or {})
    values.update({key: value for key, value in component_inputs.items() if key != "helmOptions"})
    return values


# --- upstream schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_certificates_object_matches_the_cert_manager_crds(stack: str) -> None:
    objects = [r["inputs"] for r in _certificates(stack) if "kind" in r["inputs"]]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ClusterIssuer", "Namespace", "PodDisruptionBudget", "Secret"]
    assert validate_objects(objects) == []


@pytest.mark.parametrize("stack", STACKS)
def test_cert_manager_component_inputs_are_valid_chart_values(stack: str) -> None:
    inputs = _cert_manager(stack)["inputs"]
    values = _chart_values(inputs)
    assert validate_chart_values(PINNED_CHART, PINNED_VERSION, values) == []
    assert values["crds"] == {"enabled": True, "keep": True}  # CRDs on, and kept on uninstall
    assert values["clusterResourceNamespace"] == namespaces.CERT_MANAGER
    options = inputs["helmOptions"]
    assert (options["chart"], options["version"], options["namespace"]) == (
        PINNED_CHART,
        PINNED_VERSION,
        namespaces.CERT_MANAGER,
    )


def test_the_validator_would_catch_a_wrong_key_in_those_values() -> None:
    values = _chart_values(_cert_manager("dev")["inputs"])
    values["global"] = {"leaderElection": {"namspace": "x"}}
    assert validate_chart_values(PINNED_CHART, PINNED_VERSION, values)


def test_sdk_argument_names_versus_the_chart_keys() -> None:
    """The component turns each typed SDK argument into a chart value of the same (wire) name."""
    schema = json.loads(
        (upstream_dir() / "charts" / f"{PINNED_CHART}-{PINNED_VERSION}" / "values.schema.json").read_text()
    )
    chart_keys = set(schema["$defs"]["helm-values"]["properties"])
    sdk_keys = set(pulumi._types.input_type_py_to_pulumi_names(cert_manager_sdk.CertManagerArgs).values()) - {
        "helmOptions"
    }
    assert sdk_keys - chart_keys == SDK_ARGUMENTS_THE_CHART_IGNORES
    used = set(_cert_manager("dev")["inputs"]) - {"helmOptions"}
    assert used and not used & SDK_ARGUMENTS_THE_CHART_IGNORES
    # The mapping the component uses names real SDK arguments.
    py_to_wire = pulumi._types.input_type_py_to_pulumi_names(cert_manager_sdk.CertManagerArgs)
    assert all(py_to_wire[py] == wire for wire, py in _TYPED_ARGUMENTS.items())


@pytest.mark.parametrize("stack", STACKS)
def test_no_helm_options_value_shadows_a_typed_argument(stack: str) -> None:
    # The component writes every typed argument (unset ones too) over helmOptions.values, so a
    # value for such a key in helmOptions would never reach Helm.
    sdk_keys = set(pulumi._types.input_type_py_to_pulumi_names(cert_manager_sdk.CertManagerArgs).values())
    assert not set(_cert_manager(stack)["inputs"]["helmOptions"]["values"]) & sdk_keys


def test_an_air_gapped_mirror_only_changes_where_the_chart_comes_from() -> None:
    https = _helm_options(
        ChartSource(repository="https://mirror.example/jetstack", chart=PINNED_CHART, version=PINNED_VERSION), {}
    )
    assert (https.chart, https.repository_opts.repo, https.version) == (
        PINNED_CHART,
        "https://mirror.example/jetstack",
        PINNED_VERSION,
    )
    oci = _helm_options(
        ChartSource(repository="oci://registry.example/charts/", chart=PINNED_CHART, version=PINNED_VERSION), {}
    )
    assert oci.chart == "oci://registry.example/charts/cert-manager"
    assert oci.repository_opts.repo == ""  # no chart-repository URL next to an OCI reference


# --- the CA chain -------------------------------------------------------------------------


KEY_TYPE = "tls:index/privateKey:PrivateKey"
ROOT_TYPE = "tls:index/selfSignedCert:SelfSignedCert"


def _one_of_type(stack: str, type_: str) -> dict:
    (resource,) = [r for r in _certificates(stack) if r["type"] == type_]
    return resource


def _closure(doc: dict, urn: str) -> set[str]:
    by = {r["urn"]: r for r in doc["resources"]}
    seen, todo = set(), [urn]
    while todo:
        for dep in by[todo.pop()]["dependsOn"]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("stack", STACKS)
def test_the_root_ca_is_made_by_pulumi_and_handed_to_cert_manager(stack: str) -> None:
    doc = example_plan(stack)
    cert_manager = _cert_manager(stack)
    namespace = _object(stack, "Namespace", namespaces.CERT_MANAGER)
    key, root = _one_of_type(stack, KEY_TYPE), _one_of_type(stack, ROOT_TYPE)
    secret = _object(stack, "Secret", "platform-root-ca")
    platform_ca = _object(stack, "ClusterIssuer", PLATFORM_CA_ISSUER)

    # A CA certificate, signed by its own key (the key's PEM reaches it only as a secret).
    assert root["inputs"]["isCaCertificate"] is True
    assert set(root["inputs"]["allowedUses"]) == {"cert_signing", "crl_signing", "digital_signature"}
    assert root["inputs"]["privateKeyPem"] == "[secret]"
    assert key["urn"] in root["dependsOn"]
    assert (key["inputs"]["algorithm"], key["inputs"]["ecdsaCurve"]) == ("ECDSA", "P256")
    # cert-manager's CA issuer signs with tls.crt + tls.key of a Secret in its cluster resource
    # namespace; the plan shows the shape only, every value redacted.
    assert secret["inputs"]["type"] == "kubernetes.io/tls"
    assert secret["inputs"]["stringData"] == {"tls.crt": "[secret]", "tls.key": "[secret]", "ca.crt": "[secret]"}
    assert (
        secret["inputs"]["metadata"]["namespace"]
        == cert_manager["inputs"]["clusterResourceNamespace"]
        == namespaces.CERT_MANAGER
    )
    assert {key["urn"], root["urn"]} <= set(secret["dependsOn"])
    assert platform_ca["inputs"]["spec"] == {"ca": {"secretName": "platform-root-ca"}}
    # Order: namespace -> cert-manager -> Secret -> platform-ca.
    assert namespace["urn"] in cert_manager["dependsOn"]
    assert cert_manager["urn"] in secret["dependsOn"]
    assert {cert_manager["urn"], secret["urn"]} <= set(platform_ca["dependsOn"])
    assert root["urn"] in _closure(doc, platform_ca["urn"])


@pytest.mark.parametrize("stack", STACKS)
def test_root_ca_settings_come_from_config_with_defaults(stack: str) -> None:
    raw = env_config_from_stack_document(safeyaml.load_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml"), stack)
    configured = (raw.get("certificates") or {}).get("rootCa") or {}
    root = _one_of_type(stack, ROOT_TYPE)["inputs"]
    assert (
        root["validityPeriodHours"] == parse_go_duration(configured.get("duration", "87600h")).total_seconds() // 3600
    )
    assert (
        root["earlyRenewalHours"] == parse_go_duration(configured.get("renewBefore", "8760h")).total_seconds() // 3600
    )
    assert root["subject"]["commonName"] == configured.get("commonName", f"agentplane {stack} root CA")
    assert 0 < root["earlyRenewalHours"] < root["validityPeriodHours"]


@pytest.mark.parametrize(("stack", "protected"), [("dev", False), ("staging", False), ("prod", True)])
def test_cert_manager_and_the_ca_are_protected_in_protected_environments(stack: str, protected: bool) -> None:
    kept = [
        _cert_manager(stack),
        _object(stack, "Namespace", namespaces.CERT_MANAGER),
        _object(stack, "ClusterIssuer", PLATFORM_CA_ISSUER),
        _object(stack, "Secret", "platform-root-ca"),
        # Replacing the key would invalidate every certificate the platform issued.
        _one_of_type(stack, KEY_TYPE),
    ]
    for resource in kept:
        assert (resource["protect"], resource["retainOnDelete"]) == (protected, protected), resource["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_root_certificate_can_renew_in_every_environment(stack: str) -> None:
    """pulumi-tls plans a replacement of the root certificate once it is within
    `earlyRenewalHours` of expiry (hashicorp/terraform-provider-tls
    internal/provider/common_cert.go: modifyPlanIfCertificateReadyForRenewal sets
    RequiresReplace), and Pulumi refuses to replace a protected resource ("unable to replace
    resource ... as it is currently marked for protection", pulumi/pulumi
    pkg/resource/deploy/step_generator.go). A protected root would fail every `pulumi up` from
    the renewal date on and then expire, taking every platform TLS connection with it."""
    root, key = _one_of_type(stack, ROOT_TYPE), _one_of_type(stack, KEY_TYPE)
    assert root["inputs"]["earlyRenewalHours"] > 0  # renewal is planned, so replacement happens
    assert root["protect"] is False, f"{stack}: the root certificate is protected and could never renew"
    # The renewed certificate re-signs the same key: certificates issued under the old one still verify.
    assert key["urn"] in root["dependsOn"] and root["inputs"]["privateKeyPem"] == "[secret]"


def test_the_root_ca_key_is_a_secret_in_the_state() -> None:
    """pulumi-tls marks the key's PEM a secret output (encrypted in the state); the program
    never passes it on in the clear (pulumi_tls 5.6.2: PrivateKey's additional_secret_outputs)."""
    import inspect

    import pulumi_tls

    assert (
        '"privateKeyPem"'
        in inspect.getsource(pulumi_tls.PrivateKey._internal_init).split("additional_secret_outputs")[1]
    )


def test_component_exposes_the_issuer_others_depend_on() -> None:
    # Other pieces read Certificates.issuer_name; it must be the ClusterIssuer the plan registers.
    names = {
        r["inputs"]["metadata"]["name"] for r in _certificates("dev") if r["inputs"].get("kind") == "ClusterIssuer"
    }
    assert PLATFORM_CA_ISSUER in names


# --- configuration errors -----------------------------------------------------------------


def _dev_raw() -> dict:
    return env_config_from_stack_document(safeyaml.load_file(ROOT / "stacks" / "Pulumi.dev.yaml"), "dev")


def _issues(certificates: dict) -> list[tuple[str, str]]:
    raw = {**_dev_raw(), "certificates": certificates}
    with pytest.raises(ConfigError) as info:
        validate_environment(raw, "stacks/Pulumi.dev.yaml", source="file")
    return [(issue.field, issue.message) for issue in info.value.issues]


@pytest.mark.parametrize("duration", ["1d", "10 years", "8760", "-1h", "0s", "h", ""])
def test_a_duration_that_is_not_a_go_duration_is_an_error_naming_the_field(duration: str) -> None:
    ((field, message),) = _issues({"rootCa": {"duration": duration}})
    assert field == "agentplane:certificates.rootCa.duration"
    assert "Go duration" in message or "longer than zero" in message


def test_renewal_must_come_before_expiry() -> None:
    ((field, message),) = _issues({"rootCa": {"duration": "720h", "renewBefore": "720h"}})
    assert field == "agentplane:certificates.rootCa"
    assert "renewBefore" in message and "shorter than duration" in message


def test_a_root_shorter_than_cert_managers_minimum_is_an_error() -> None:
    ((field, message),) = _issues({"rootCa": {"duration": "30m", "renewBefore": "10m"}})
    assert field == "agentplane:certificates.rootCa" and "minimum of 1h" in message


def test_an_unknown_field_is_an_error_listing_the_allowed_ones() -> None:
    ((field, message),) = _issues({"rootCA": {"duration": "8760h"}})
    assert field == "agentplane:certificates.rootCA"
    assert "unknown field" in message and "rootCa" in message


def test_a_mirror_may_change_the_repository_but_not_the_pinned_version() -> None:
    ((field, message),) = _issues({"chart": {"repository": "https://mirror.example/jetstack", "version": "v1.20.0"}})
    assert field == "agentplane:certificates.chart"
    assert "v1.21.0" in message and "repository" in message
    config = CertificatesConfig.model_validate({"chart": {"repository": "oci://mirror.example/jetstack"}})
    assert (config.chart.repository, config.chart.chart, config.chart.version) == (
        "oci://mirror.example/jetstack",
        PINNED_CHART,
        PINNED_VERSION,
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("8760h", 8760 * 3600), ("1h30m", 5400), ("1.5h", 5400), ("90s", 90), ("250ms", 0.25)]
)
def test_go_durations_parse_like_go(text: str, seconds: float) -> None:
    assert parse_go_duration(text).total_seconds() == seconds


def test_root_ca_durations_are_whole_hours() -> None:
    ((field, message),) = _issues({"rootCa": {"duration": "8760h30m"}})
    assert field == "agentplane:certificates.rootCa" and "whole number of hours" in message


def test_an_acme_issuer_is_checked() -> None:
    ((field, message),) = _issues({"acme": {"name": "letsencrypt", "email": "nobody", "ingressClassName": "nginx"}})
    assert field == "agentplane:certificates.acme.email" and "e-mail" in message
    ((field, message),) = _issues(
        {
            "acme": {
                "name": "le",
                "email": "a@b.example",
                "ingressClassName": "nginx",
                "server": "http://acme.example/dir",
            }
        }
    )
    assert field == "agentplane:certificates.acme.server" and "https://" in message
    ((field, message),) = _issues(
        {"acme": {"name": "platform-ca", "email": "a@b.example", "ingressClassName": "nginx"}}
    )
    assert "platform CA" in message


# --- adopting what the cluster already runs ---------------------------------------------------


def _plan_with_adopt(tmp_path, adopt: dict) -> dict:
    from agentplane.plan import plan_document, run_program

    doc = safeyaml.load_file(ROOT / "stacks" / "Pulumi.staging.yaml")
    doc["config"]["agentplane:adopt"] = adopt
    config = tmp_path / "Pulumi.staging.yaml"
    config.write_text(__import__("yaml").safe_dump(doc))
    return plan_document(run_program("staging", root=ROOT, config=config))


def test_an_adopted_cert_manager_is_not_installed_and_gets_the_ca_secret_where_it_reads_it(tmp_path) -> None:
    doc = _plan_with_adopt(tmp_path, {"certManager": {"clusterResourceNamespace": "security"}})
    types = [r["type"] for r in doc["resources"]]
    assert CERT_MANAGER_TYPE not in types
    objects = [r["inputs"] for r in doc["resources"] if "kind" in r["inputs"]]
    assert not [
        o
        for o in objects
        if o["kind"] == "Namespace" and o["metadata"]["name"] in (namespaces.CERT_MANAGER, "security")
    ]
    (secret,) = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "platform-root-ca"]
    assert secret["metadata"]["namespace"] == "security"
    assert [o for o in objects if o["kind"] == "ClusterIssuer" and o["metadata"]["name"] == PLATFORM_CA_ISSUER]
    # Everything else is unchanged: the gateway API CRDs are still installed.
    assert "kubernetes:yaml/v2:ConfigFile" in types


def test_adopted_gateway_api_crds_are_not_installed(tmp_path) -> None:
    doc = _plan_with_adopt(tmp_path, {"gatewayApiCrds": True})
    types = [r["type"] for r in doc["resources"]]
    assert "kubernetes:yaml/v2:ConfigFile" not in types
    assert CERT_MANAGER_TYPE in types
    # The Gateway and routes still wait for the agentgateway controller and its CRDs.
    assert [r for r in doc["resources"] if r["inputs"].get("kind") == "Gateway"]


def test_adopt_settings_are_checked() -> None:
    raw = {**_dev_raw(), "adopt": {"certManager": {"clusterResourceNamespace": "Not_A_Namespace"}}}
    with pytest.raises(ConfigError) as info:
        validate_environment(raw, "stacks/Pulumi.dev.yaml", source="file")
    assert [i.field for i in info.value.issues] == ["agentplane:adopt.certManager.clusterResourceNamespace"]
    raw = {**_dev_raw(), "adopt": {"gatewayApiCRDs": True}}
    with pytest.raises(ConfigError):
        validate_environment(raw, "stacks/Pulumi.dev.yaml", source="file")
