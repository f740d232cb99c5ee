"""Self-tests of tests/support/upstream.py: the validator must accept what the pinned upstream
schemas accept and reject what they reject, or every other schema test means nothing."""

from __future__ import annotations

import copy
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import upstream
from tests.support.upstream import (
    UNEVALUATED_RULES,
    crd_kinds,
    validate_chart_values,
    validate_object,
    validate_objects,
)


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _one_error_containing(errors: list[str], *needles: str) -> str:
    matching = [e for e in errors if all(n in e for n in needles)]
    assert matching, f"no error contains {needles!r}; errors: {errors}"
    return matching[0]


# ---------------------------------------------------------------------------- locating data


def test_missing_upstream_dir_names_path_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(upstream.UPSTREAM_ENV, str(missing))
    with pytest.raises(upstream.UpstreamDataMissing) as excinfo:
        validate_object({"apiVersion": "v1", "kind": "Namespace", "metadata": _meta("a")})
    assert str(missing) in str(excinfo.value)
    assert "AGENTPLANE_UPSTREAM" in str(excinfo.value)


def test_default_upstream_dir_is_next_to_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $AGENTPLANE_UPSTREAM the data is looked for beside the checkout. A checkout that
    has none there (CI fetching the data elsewhere) gets the error naming that place."""
    monkeypatch.delenv(upstream.UPSTREAM_ENV, raising=False)
    repo_root = Path(upstream.__file__).resolve().parents[2]
    default = (repo_root / ".." / "shared" / "upstream").resolve()
    if (default / "crds").is_dir() and (default / "charts").is_dir():
        assert upstream.upstream_dir() == default
    else:
        with pytest.raises(upstream.UpstreamDataMissing, match=re.escape(f"not found at {default} ")):
            upstream.upstream_dir()


# ---------------------------------------------------------------------------- core kinds

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "agents", "labels": {"team": "ai"}}}
QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": _meta("compute", "agents"),
    "spec": {"hard": {"requests.cpu": "4", "limits.memory": "8Gi", "pods": 20}},
}
NETPOL = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": _meta("default-deny", "agents"),
    "spec": {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}}],
                "ports": [{"port": 8080, "protocol": "TCP"}, {"port": "http"}],
            }
        ],
    },
}


@pytest.mark.parametrize("obj", [NAMESPACE, QUOTA, NETPOL], ids=lambda o: o["kind"])
def test_valid_core_objects_pass(obj: dict[str, Any]) -> None:
    assert validate_object(obj) == []


def test_core_typo_field_is_reported_at_its_path() -> None:
    bad = copy.deepcopy(NETPOL)
    bad["spec"]["podSelectr"] = bad["spec"].pop("podSelector")
    errors = validate_object(bad)
    error = _one_error_containing(errors, "spec.podSelectr", "unknown field")
    assert error.startswith("networking.k8s.io/v1 NetworkPolicy agents/default-deny: spec.podSelectr: ")


def test_core_wrong_type_fails() -> None:
    bad = copy.deepcopy(QUOTA)
    bad["spec"]["hard"] = ["cpu"]
    _one_error_containing(validate_object(bad), "v1 ResourceQuota agents/compute: spec.hard:", "not of type")
    bad_port = copy.deepcopy(NETPOL)
    bad_port["spec"]["ingress"][0]["ports"][0]["port"] = 80.5  # int-or-string, not a float
    _one_error_containing(validate_object(bad_port), "spec.ingress[0].ports[0].port")


def test_core_metadata_rules() -> None:
    nameless = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "agents"}, "data": {}}
    _one_error_containing(validate_object(nameless), "metadata.name", "required")
    bad_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Agents_1"}}
    _one_error_containing(validate_object(bad_ns), "metadata.name", "DNS-1123 label")
    bad_label = copy.deepcopy(NAMESPACE)
    bad_label["metadata"]["labels"] = {"team": "-ai-"}
    _one_error_containing(validate_object(bad_label), "metadata.labels.team", "label value")
    # RBAC names are path segments, so the ':' of aggregated roles is fine.
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta("agentplane:view"),
        "rules": [],
    }
    assert validate_object(role) == []


def test_secret_data_must_be_base64() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta("s", "agents"), "data": {"k": "c2VjcmV0"}}
    assert validate_object(secret) == []
    secret["data"]["k"] = "not base64!"
    _one_error_containing(validate_object(secret), "data.k", "byte")


def test_removed_core_api_version_is_unknown() -> None:
    old = {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": _meta("i", "agents")}
    _one_error_containing(validate_object(old), "no known schema for extensions/v1beta1 Ingress")


# ---------------------------------------------------------------------------- custom kinds

CLUSTER_ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "ClusterIssuer",
    "metadata": _meta("agentplane-ca"),
    "spec": {"ca": {"secretName": "agentplane-ca"}},
}


def test_valid_cluster_issuer_passes() -> None:
    assert validate_object(CLUSTER_ISSUER) == []


def test_cluster_issuer_unknown_field_fails() -> None:
    bad = copy.deepcopy(CLUSTER_ISSUER)
    bad["spec"]["ca"]["secretNmae"] = "x"
    _one_error_containing(
        validate_object(bad), "cert-manager.io/v1 ClusterIssuer /agentplane-ca: spec.ca.secretNmae: unknown field"
    )


def test_cluster_issuer_missing_required_field_fails() -> None:
    bad = copy.deepcopy(CLUSTER_ISSUER)
    bad["spec"]["ca"] = {}
    _one_error_containing(validate_object(bad), "spec.ca", "'secretName' is a required property")


def test_custom_metadata_is_validated_as_object_meta() -> None:
    bad = copy.deepcopy(CLUSTER_ISSUER)
    bad["metadata"]["lables"] = {"a": "b"}
    _one_error_containing(validate_object(bad), "metadata.lables", "unknown field")
    bad = copy.deepcopy(CLUSTER_ISSUER)
    bad["metadata"]["name"] = "Agentplane CA"
    _one_error_containing(validate_object(bad), "metadata.name", "DNS-1123 subdomain")
    bad = copy.deepcopy(CLUSTER_ISSUER)
    bad["metadata"]["namespace"] = "agents"
    _one_error_containing(validate_object(bad), "metadata.namespace", "cluster-scoped")


def test_valid_cluster_spiffeid_passes() -> None:
    spiffeid = {
        "apiVersion": "spire.spiffe.io/v1alpha1",
        "kind": "ClusterSPIFFEID",
        "metadata": _meta("agents"),
        "spec": {
            "spiffeIDTemplate": (
                "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
            ),
            "podSelector": {"matchLabels": {"agentplane.io/agent": "true"}},
            "namespaceSelector": {"matchExpressions": [{"key": "agentplane.io/tenant", "operator": "Exists"}]},
        },
    }
    assert validate_object(spiffeid) == []


VALIDATING_POLICY = {
    "apiVersion": "policies.kyverno.io/v1",
    "kind": "ValidatingPolicy",
    "metadata": _meta("require-agent-label"),
    "spec": {
        "validationActions": ["Deny"],
        "matchConstraints": {
            "resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}
            ]
        },
        "validations": [{"expression": "has(object.metadata.labels)", "message": "labels required"}],
    },
}


def test_kyverno_validating_policy_with_bad_field_fails() -> None:
    assert validate_object(VALIDATING_POLICY) == []
    bad = copy.deepcopy(VALIDATING_POLICY)
    bad["spec"]["validations"][0]["expresion"] = bad["spec"]["validations"][0].pop("expression")
    errors = validate_object(bad)
    _one_error_containing(errors, "spec.validations[0].expresion", "unknown field")
    bad = copy.deepcopy(VALIDATING_POLICY)
    bad["spec"]["validationActions"] = ["Block"]
    _one_error_containing(validate_object(bad), "spec.validationActions[0]", "is not one of")


def test_unknown_kind_has_no_known_schema() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": _meta("w", "agents")}
    assert validate_object(widget) == [
        "example.com/v1 Widget agents/w: (root): no known schema for example.com/v1 Widget"
    ]
    # A known group with an unknown kind is no better.
    _one_error_containing(
        validate_object({"apiVersion": "cert-manager.io/v1", "kind": "Widget", "metadata": _meta("w")}),
        "no known schema for cert-manager.io/v1 Widget",
    )


def test_unserved_crd_version_fails() -> None:
    policy = {
        "apiVersion": "gateway.networking.k8s.io/v1alpha3",
        "kind": "BackendTLSPolicy",
        "metadata": _meta("p", "a"),
        "spec": {},
    }
    _one_error_containing(validate_object(policy), "apiVersion", "not served", "served: v1")


def test_int_or_string_and_preserve_unknown_fields_in_real_crds() -> None:
    collector = {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": _meta("gateway", "observability"),
        "spec": {
            # config is x-kubernetes-preserve-unknown-fields: any component config is fine.
            "config": {
                "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}}}},
                "exporters": {"debug": {"verbosity": "basic"}},
                "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}},
            },
            "podDisruptionBudget": {"maxUnavailable": "50%"},
        },
    }
    assert validate_object(collector) == []
    collector["spec"]["podDisruptionBudget"]["maxUnavailable"] = 1
    assert validate_object(collector) == []
    collector["spec"]["podDisruptionBudget"]["maxUnavailable"] = True
    _one_error_containing(validate_object(collector), "spec.podDisruptionBudget.maxUnavailable")


def test_list_type_map_rejects_duplicate_keys() -> None:
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": _meta("agentgateway", "gateway"),
        "spec": {
            "gatewayClassName": "agentgateway",
            "listeners": [
                {"name": "http", "port": 80, "protocol": "HTTP"},
                {"name": "https", "port": 443, "protocol": "HTTP"},
            ],
        },
    }
    assert validate_object(gateway) == []
    gateway["spec"]["listeners"][1]["name"] = "http"
    _one_error_containing(validate_object(gateway), "spec.listeners[1]", "duplicate entry")


# ---------------------------------------------------------------------------- CEL rules

HTTP_ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": _meta("agents", "agents"),
    "spec": {
        "parentRefs": [{"name": "agentgateway", "namespace": "gateway"}],
        "hostnames": ["agents.example.com"],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                "backendRefs": [{"name": "agent", "port": 8080}],
                "timeouts": {"request": "30s", "backendRequest": "10s"},
            }
        ],
    },
}


def test_cel_rule_violation_is_reported() -> None:
    assert validate_object(HTTP_ROUTE) == []
    bad = copy.deepcopy(HTTP_ROUTE)
    bad["spec"]["rules"][0]["matches"][0]["path"]["value"] = "v1"
    error = _one_error_containing(validate_object(bad), "spec.rules[0].matches[0].path:", "x-kubernetes-validations")
    assert "start with '/'" in error  # the CRD's own message


def test_cel_durations_and_defaults() -> None:
    bad = copy.deepcopy(HTTP_ROUTE)
    bad["spec"]["rules"][0]["timeouts"] = {"request": "10s", "backendRequest": "1m"}
    _one_error_containing(validate_object(bad), "spec.rules[0].timeouts", "backendRequest")
    # Route-level rules index rules[i].matches, which only exists through the schema default.
    no_matches = copy.deepcopy(HTTP_ROUTE)
    del no_matches["spec"]["rules"][0]["matches"]
    assert validate_object(no_matches) == []


def test_cel_escapes_reserved_property_names() -> None:
    # The GRPCRoute parentRefs rules read p.__namespace__ (the API server's escaping).
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GRPCRoute",
        "metadata": _meta("tools", "agents"),
        "spec": {
            "parentRefs": [{"name": "gw", "namespace": "a"}, {"name": "gw", "namespace": "b"}],
            "rules": [{"backendRefs": [{"name": "tools", "port": 9000}]}],
        },
    }
    before = set(UNEVALUATED_RULES)
    assert validate_object(route) == []
    route["spec"]["parentRefs"][1]["namespace"] = "a"
    _one_error_containing(validate_object(route), "spec.parentRefs", "sectionName must be unique")
    assert set(UNEVALUATED_RULES) == before


def test_cel_kubernetes_url_and_quantity_libraries() -> None:
    policy = {
        "apiVersion": "agentgateway.dev/v1alpha1",
        "kind": "AgentgatewayPolicy",
        "metadata": _meta("frontend", "gateway"),
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "agentgateway"}],
            "frontend": {"http": {"http2FrameSize": 65536}},
        },
    }
    assert validate_object(policy) == []
    policy["spec"]["frontend"]["http"]["http2FrameSize"] = 1024
    _one_error_containing(validate_object(policy), "spec.frontend.http.http2FrameSize", "16384")

    tls_route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "TLSRoute",
        "metadata": _meta("passthrough", "agents"),
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "hostnames": ["agents.example.com"],
            "rules": [{"backendRefs": [{"name": "s", "port": 443}]}],
        },
    }
    assert validate_object(tls_route) == []
    tls_route["spec"]["hostnames"] = ["10.0.0.1"]
    _one_error_containing(validate_object(tls_route), "spec.hostnames", "IP")


def _write_synthetic_upstream(root: Path) -> None:
    """Two CRDs in one multi-document file, exercising the schema quirks in isolation."""
    (root / "charts").mkdir(parents=True)
    (root / "crds" / "example.com").mkdir(parents=True)
    (root / "crds" / "example.com" / "widgets.example.com.yaml").write_text(
        textwrap.dedent(
            """\
            # A comment before the first document
            ---
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: widgets.example.com}
            spec:
              group: example.com
              scope: Namespaced
              names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
              versions:
              - name: v1
                served: true
                storage: true
                schema:
                  openAPIV3Schema:
                    type: object
                    properties:
                      apiVersion: {type: string}
                      kind: {type: string}
                      metadata: {type: object}
                      spec:
                        type: object
                        required: [size]
                        x-kubernetes-validations:
                        - rule: self.size != 'huge' || has(self.owner)
                          message: huge widgets need an owner
                        - rule: self.size == oldSelf.size
                          message: size is immutable
                        - rule: "!has(self.owner) || self.owner != 'root'"
                          messageExpression: "'owner ' + self.owner + ' is reserved'"
                          fieldPath: .owner
                        properties:
                          size: {type: string, enum: [small, huge]}
                          owner: {type: string, nullable: true}
                          port: {x-kubernetes-int-or-string: true, pattern: '^[a-z]+$'}
                          mode: {type: string, default: fast}
                          extra:
                            type: object
                            x-kubernetes-preserve-unknown-fields: true
                            x-kubernetes-validations:
                            - rule: frobnicate(self)
                              message: uses a function no CEL library here provides
                          tags: {type: object, additionalProperties: {type: string}}
                          marker: {type: object}
              - name: v2
                served: false
                storage: false
                schema:
                  openAPIV3Schema: {type: object}
            ---
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: gadgets.example.com}
            spec:
              group: example.com
              scope: Cluster
              names: {kind: Gadget, plural: gadgets}
              versions:
              - name: v1alpha1
                served: true
                storage: true
                schema:
                  openAPIV3Schema:
                    type: object
                    properties:
                      spec:
                        type: object
                        x-kubernetes-validations:
                        - rule: self.mode == 'on'
                          message: mode must be on
                        properties:
                          mode: {type: string, default: 'on'}
            """
        )
    )


@pytest.fixture
def synthetic_upstream(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "upstream"
    _write_synthetic_upstream(root)
    monkeypatch.setenv(upstream.UPSTREAM_ENV, str(root))
    registry_before = set(UNEVALUATED_RULES)
    yield root
    # Keep the real census report free of the synthetic CRD's deliberately broken rule.
    for key in set(UNEVALUATED_RULES) - registry_before:
        UNEVALUATED_RULES.discard(key)
        upstream.UNEVALUATED_REASONS.pop(key, None)


def test_synthetic_crd_quirks(synthetic_upstream: Path) -> None:
    assert crd_kinds() == {("example.com/v1", "Widget"), ("example.com/v1alpha1", "Gadget")}

    def widget(**spec: Any) -> dict[str, Any]:
        return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": _meta("w", "a"), "spec": spec}

    # A rule the model cannot evaluate fails the object (never counted as passed) and is
    # registered for the census; the oldSelf rule is skipped entirely.
    unevaluated = validate_object(
        widget(size="small", owner=None, port=8080, extra={"any": {"thing": 1}}, tags={"a": "b"}, marker={})
    )
    _one_error_containing(unevaluated, "spec.extra", "not evaluated here")
    assert ("widgets.example.com", "frobnicate(self)") in UNEVALUATED_RULES
    assert not any("oldSelf" in rule for _, rule in UNEVALUATED_RULES)

    assert validate_object(widget(size="small", port="http")) == []
    _one_error_containing(validate_object(widget(size="small", port="HTTP")), "spec.port", "does not match")
    _one_error_containing(validate_object(widget(size="small", port=1.5)), "spec.port", "not of type")
    _one_error_containing(validate_object(widget(size="huge")), "spec:", "huge widgets need an owner")
    _one_error_containing(validate_object(widget(size="tiny")), "spec.size", "is not one of")
    _one_error_containing(validate_object(widget(size="small", owner="root")), "spec.owner: owner root is reserved")
    _one_error_containing(validate_object(widget()), "'size' is a required property")
    _one_error_containing(validate_object(widget(size="small", tags={"a": 1})), "spec.tags.a", "not of type")
    _one_error_containing(validate_object(widget(size="small", marker={"x": 1})), "spec.marker.x", "unknown field")
    assert validate_object(widget(size="small", mode=None)) == []  # null non-nullable field with a default
    unserved = widget(size="small") | {"apiVersion": "example.com/v2"}
    _one_error_containing(validate_object(unserved), "not served")

    gadget = {"apiVersion": "example.com/v1alpha1", "kind": "Gadget", "metadata": _meta("g"), "spec": {}}
    assert validate_object(gadget) == []  # the default makes the rule pass
    gadget["spec"]["mode"] = "off"
    _one_error_containing(validate_object(gadget), "mode must be on")


def test_validate_objects_concatenates_in_order() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": _meta("w")}
    bad_route = copy.deepcopy(HTTP_ROUTE)
    bad_route["spec"]["hostnames"] = ["Not A Hostname"]
    errors = validate_objects([NAMESPACE, widget, CLUSTER_ISSUER, bad_route])
    assert errors[0].startswith("example.com/v1 Widget")
    assert errors[-1].startswith("gateway.networking.k8s.io/v1 HTTPRoute agents/agents: spec.hostnames[0]")


# ---------------------------------------------------------------------------- loader & census


def test_loaded_crd_kinds_match_crd_files() -> None:
    crd_dir = upstream.upstream_dir() / "crds"
    files = sorted(crd_dir.rglob("*.yaml"))
    in_files: set[tuple[str, str]] = set()
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for doc in yaml.load_all(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    in_files.add((doc["spec"]["group"], doc["spec"]["names"]["kind"]))
    loaded = {(api_version.rsplit("/", 1)[0], kind) for api_version, kind in crd_kinds()}
    assert len(files) >= 40
    assert len(in_files) >= len(files)  # at least one CRD per file
    assert loaded == in_files
    assert len({kind for _, kind in crd_kinds()}) == len({kind for _, kind in in_files})


def test_every_converted_crd_schema_is_valid_json_schema() -> None:
    root = upstream.upstream_dir()
    for (group, kind), crd in upstream._crd_index(root).items():
        storage = next(v for v in crd.versions.values() if v.storage)
        validator = upstream._crd_validator(root, group, kind, storage.name)
        upstream._CrdValidator.check_schema(validator.schema)


def test_report_cel_rules_not_evaluated() -> None:
    census = upstream.cel_rule_census()
    print(
        f"\nCEL rules in served upstream CRD versions (distinct crd/rule pairs): {census.total}; "
        f"statically evaluable: {census.evaluable}; transition rules skipped (oldSelf): {len(census.transition)}; "
        f"compile errors: {len(census.compile_errors)}; using functions not provided: {len(census.missing_functions)}"
    )
    for crd, rule, reason in census.compile_errors + census.missing_functions:
        print(f"  not evaluable: {crd}: {reason}: {rule}")
    print(f"rules met so far in this session that could not be evaluated: {len(UNEVALUATED_RULES)}")
    for crd, rule in sorted(UNEVALUATED_RULES):
        print(f"  {crd}: {upstream.UNEVALUATED_REASONS.get((crd, rule))}: {rule}")
    assert census.total > 0


# ---------------------------------------------------------------------------- chart values


@pytest.mark.parametrize(
    ("chart", "version"),
    [
        ("agentgateway", "v1.4.1"),
        ("cert-manager", "v1.21.0"),
        ("cloudnative-pg", "0.29.0"),
        ("keycloakx", "7.1.11"),
        ("kyverno", "3.9.0"),
        ("opentelemetry-collector", "0.170.0"),
        ("opentelemetry-operator", "0.122.0"),
        ("spire", "0.30.0"),
    ],
)
def test_chart_defaults_alone_are_valid(chart: str, version: str) -> None:
    # Schemas with top-level `required` only pass because values are merged over defaults.
    assert validate_chart_values(chart, version, {}) == []


def test_cert_manager_values() -> None:
    assert validate_chart_values("cert-manager", "v1.21.0", {"crds": {"enabled": True}}) == []
    errors = validate_chart_values("cert-manager", "v1.21.0", {"crds": {"enabeld": True}})
    error = _one_error_containing(errors, "crds.enabeld")
    assert error.startswith("chart cert-manager-v1.21.0: crds.enabeld: ")
    # Empty-map defaults are free-form, list defaults take any items.
    assert validate_chart_values("cert-manager", "v1.21.0", {"podLabels": {"x": "y"}, "extraArgs": ["--v=2"]}) == []
    _one_error_containing(
        validate_chart_values("cert-manager", "v1.21.0", {"replicaCount": "two"}), "replicaCount", "not of type"
    )


def test_keycloakx_wrong_type_fails_via_schema() -> None:
    assert (
        validate_chart_values("keycloakx", "7.1.11", {"extraEnv": "- name: KC_PROXY_HEADERS\n  value: xforwarded\n"})
        == []
    )
    errors = validate_chart_values(
        "keycloakx", "7.1.11", {"extraEnv": [{"name": "KC_PROXY_HEADERS", "value": "xforwarded"}]}
    )
    _one_error_containing(errors, "chart keycloakx-7.1.11: extraEnv:", "is not of type 'string'")


def test_spire_subchart_keys_and_schema() -> None:
    ok = {
        "global": {"spire": {"trustDomain": "agentplane.internal", "clusterName": "dev"}},
        "spire-server": {"enabled": True, "controllerManager": {"enabled": True}},
        "spire-agent": {"server": {"port": 8081}},
    }
    assert validate_chart_values("spire", "0.30.0", ok) == []
    _one_error_containing(
        validate_chart_values("spire", "0.30.0", {"spire-server": {"nonexistentKey": 1}}),
        "chart spire-0.30.0: spire-server.nonexistentKey:",
    )
    _one_error_containing(
        validate_chart_values("spire", "0.30.0", {"global": {"spire": {"trustDomian": "x"}}}),
        "global.spire.trustDomian",
    )
    # spire-agent ships a values.schema.json of its own.
    _one_error_containing(
        validate_chart_values("spire", "0.30.0", {"spire-agent": {"server": {"port": 0}}}),
        "spire-agent.server.port",
        "minimum",
    )


def test_free_form_prefixes() -> None:
    values = {"mode": "deployment", "config": {"receivers": {"kafka": {"brokers": ["k:9092"]}}}}
    _one_error_containing(validate_chart_values("opentelemetry-collector", "0.170.0", values), "config.receivers.kafka")
    assert validate_chart_values("opentelemetry-collector", "0.170.0", values, free_form=["config.receivers"]) == []


def test_unknown_chart_raises() -> None:
    with pytest.raises(FileNotFoundError, match="cert-manager-v1.21.0"):
        validate_chart_values("cert-manager", "v9.9.9", {})


def test_core_quantities_follow_the_apimachinery_grammar() -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "team"},
        "spec": {"hard": {"pods": "ten", "requests.cpu": "500m", "requests.memory": "4Gi", "limits.cpu": 2}},
    }
    errors = upstream.validate_object(quota)
    assert len(errors) == 1 and "spec.hard.pods" in errors[0], errors
