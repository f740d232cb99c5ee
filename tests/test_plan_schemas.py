"""Every object of every example stack's plan, validated against the real upstream schema of the pinned version.

Core kinds go through kubernetes-validate (strict, one pinned Kubernetes minor); custom
resources through the CRDs in ../shared/upstream; Helm values through the chart's values
schema and default values. An object with no known schema fails.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import agentplane.builders
from tests.support.plans import BACKEND_TEAM, STACKS, example_plan, kubernetes_objects, plan_with_backend_team
from tests.support.upstream import upstream_dir, validate_chart_values, validate_objects

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

# Resource types that are not Kubernetes objects, and what checks them instead.
NON_OBJECT_TYPES = {
    HELM_RELEASE: "values validated below against the chart's schema",
    "pulumi:providers:kubernetes": "the stack's one explicit provider (tests/test_tenants.py)",
    "pulumi:providers:keycloak": "the realm provider (tests/test_identity*.py)",
    "kubernetes-cert-manager:index:CertManager": "chart values validated in tests/test_certificates.py",
    "kubernetes:yaml/v2:ConfigFile": "a pinned upstream manifest (tests/test_gateway*.py)",
}
NON_OBJECT_PREFIXES = {
    "keycloak:": "Keycloak realm objects (pulumi-keycloak typed resources)",
    "random:": "generated credentials (pulumi-random)",
    "tls:": "the platform root CA's key and certificate (pulumi-tls; tests/test_certificates.py)",
    "agentplane:": "the platform's own component resources",
}

# Charts the upstream snapshot carries no values for: they only install CRDs.
CHARTS_WITHOUT_VALUES = {
    "spire-crds": "CRDs only; the CRDs themselves are in ../shared/upstream/crds/spire.spiffe.io",
    "agentgateway-crds": "CRDs only; the CRDs themselves are in ../shared/upstream/crds/agentgateway.dev",
}


def chart_free_form() -> dict[str, tuple[str, ...]]:
    """Value paths each chart passes through verbatim (e.g. a securityContext rendered with toYaml).

    Declared by the builder that sets them, as `CHART_FREE_FORM = {chart: (dotted paths)}`,
    so the exception sits next to the values and says why there.
    """
    merged: dict[str, tuple[str, ...]] = {}
    modules = [m.name for m in pkgutil.walk_packages(agentplane.builders.__path__, "agentplane.builders.")]
    assert modules, "no builder modules found"
    for name in modules:
        declared = getattr(importlib.import_module(name), "CHART_FREE_FORM", {})
        for chart, paths in declared.items():
            merged[chart] = merged.get(chart, ()) + tuple(paths)
    return merged


def _releases(stack: str) -> list[dict]:
    return [r for r in example_plan(stack)["resources"] if r["type"] == HELM_RELEASE]


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_object_matches_its_upstream_schema(stack: str) -> None:
    objects = kubernetes_objects(example_plan(stack))
    assert objects, "the plan has no Kubernetes objects"
    errors = validate_objects(objects)
    assert not errors, "\n".join(errors)


def test_the_objects_of_a_team_with_an_in_namespace_backend_match_their_upstream_schema() -> None:
    """The example teams name no in-cluster backend: the NetworkPolicy such a team gets is checked here."""
    objects = [
        o for o in kubernetes_objects(plan_with_backend_team()) if o["metadata"].get("namespace") == BACKEND_TEAM
    ]
    assert "allow-telemetry-backend" in {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"}
    errors = validate_objects(objects)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_type_is_checked_somewhere(stack: str) -> None:
    for resource in example_plan(stack)["resources"]:
        kind = resource["type"]
        if "kind" in resource["inputs"] and kind.startswith("kubernetes:") and kind != HELM_RELEASE:
            continue  # a Kubernetes object: validated above
        known = kind in NON_OBJECT_TYPES or any(kind.startswith(p) for p in NON_OBJECT_PREFIXES)
        assert known, f"{resource['urn']}: type {kind} is validated nowhere; add a schema check"


def _chart_name(release_inputs: dict) -> str:
    return release_inputs["chart"].rstrip("/").rsplit("/", 1)[-1]


@pytest.mark.parametrize("stack", STACKS)
def test_every_helm_release_is_pinned_and_its_values_match_the_chart(stack: str) -> None:
    problems: list[str] = []
    for release in _releases(stack):
        inputs = release["inputs"]
        chart, version = _chart_name(inputs), inputs.get("version", "")
        if not version or any(c in version for c in "^~*><= |x"):
            problems.append(f"{release['name']}: chart {chart} version {version!r} is not an exact pin")
            continue
        if chart in CHARTS_WITHOUT_VALUES:
            continue
        if not (upstream_dir() / "charts" / f"{chart}-{version}").is_dir():
            problems.append(f"{release['name']}: no upstream values for {chart} {version} in ../shared/upstream/charts")
            continue
        problems += validate_chart_values(
            chart, version, inputs.get("values") or {}, free_form=chart_free_form().get(chart, ())
        )
    assert not problems, "\n".join(problems)
