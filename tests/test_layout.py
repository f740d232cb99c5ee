"""One name per piece: the program's name for a piece is its component module, builder module,
config section, docs page, class and type token. A reader who knows one finds the others."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pulumi
import pytest

import components
from tests.support.plans import ROOT, STACKS, example_run

# Stack-config keys that predate the piece's name; renaming them would break every existing
# stack file (each section module's docstring says so).
STACK_KEY = {"workload_identity": "spire", "tenants": "tenancy"}


def snake(piece: str) -> str:
    return piece.replace("-", "_")


def camel(piece: str) -> str:
    return "".join(part.capitalize() for part in piece.split("-"))


def component_registrations() -> list:
    return [r for stack in STACKS for r in example_run(stack).registrations if not r.custom]


def pieces() -> list[str]:
    top = sorted({r.name for r in component_registrations() if "::pulumi:pulumi:Stack::" in r.parent or not r.parent})
    assert top, "the program registered no component"
    return top


def component_classes() -> dict[str, type]:
    """Every ComponentResource class defined in components/, by name (names are unique)."""
    found: dict[str, type] = {}
    modules = [m.name for m in pkgutil.walk_packages(components.__path__, "components.")]
    assert modules
    for name in modules:
        for cls_name, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if issubclass(cls, pulumi.ComponentResource) and cls.__module__ == name:
                assert cls_name not in found, f"{cls_name} is defined twice"
                found[cls_name] = cls
    return found


def test_the_pieces_are_the_seven_the_program_builds():
    assert pieces() == [
        "certificates",
        "gateway",
        "identity",
        "provenance",
        "telemetry",
        "tenants",
        "workload-identity",
    ]


@pytest.mark.parametrize("piece", pieces())
def test_a_piece_has_one_name_across_layers(piece):
    module = snake(piece)
    component = ROOT / "components" / f"{module}.py"
    component_package = ROOT / "components" / module / "platform.py"
    assert component.is_file() != component_package.is_file(), (
        f"components/{module}.py or components/{module}/platform.py"
    )
    builder = ROOT / "agentplane" / "builders"
    assert (builder / f"{module}.py").is_file() != (builder / module / "__init__.py").is_file()
    assert (ROOT / "agentplane" / "config" / "sections" / f"{module}.py").is_file()
    assert (ROOT / "docs" / "components" / f"{piece}.md").is_file()
    (top,) = {r.type for r in component_registrations() if r.name == piece}
    assert top == f"agentplane:index:{camel(piece)}"
    cls = component_classes()[camel(piece)]
    assert cls.__module__ in (f"components.{module}", f"components.{module}.platform")


def test_the_stack_config_key_is_the_piece_name_or_a_named_exception():
    from agentplane.config.environment import EnvironmentConfig

    for piece in pieces():
        key = STACK_KEY.get(snake(piece), snake(piece))
        assert key in EnvironmentConfig.model_fields, f"{piece}: no stack-config section {key}"


def test_every_part_of_a_piece_is_typed_agentplane_piece_class_and_defined_in_that_piece():
    classes = component_classes()
    registrations = component_registrations()
    by_urn = {r.urn: r for r in registrations}
    # Components of upstream packages (cert-manager's CertManager) keep their own tokens.
    parts = [r for r in registrations if r.parent in by_urn and r.type.startswith("agentplane:")]
    assert parts, "no component below a piece"
    for reg in parts:
        top = reg
        while top.parent in by_urn:
            top = by_urn[top.parent]
        package, module, class_name = reg.type.split(":")
        assert (package, module) == ("agentplane", snake(top.name)), reg.type
        assert class_name in classes, f"{reg.type}: no class {class_name} in components/"
        assert classes[class_name].__module__.startswith(f"components.{module}"), reg.type
