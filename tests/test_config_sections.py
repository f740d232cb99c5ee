"""The section registry (agentplane.config.sections.SECTIONS) is the loader's only way to a
piece's checks: a check a section module defines but the registry does not name would never run,
and a settings model's deploy requirements would never be reported."""

from __future__ import annotations

import copy
import importlib
import inspect
import pkgutil

import yaml

from agentplane.config import deploy, sections
from agentplane.config.environment import EnvironmentConfig
from agentplane.config.files import env_config_from_stack_document
from agentplane.config.load import validate_environment
from agentplane.config.sections import HOOKS, SECTIONS
from tests.support.plans import ROOT


def _section_modules() -> list:
    names = [m.name for m in pkgutil.iter_modules(sections.__path__)]
    modules = [importlib.import_module(f"{sections.__name__}.{name}") for name in names]
    assert len(modules) >= len(SECTIONS), modules
    return modules


def test_every_check_a_section_module_defines_is_registered() -> None:
    defined = [
        (module.__name__, hook, getattr(module, hook))
        for module in _section_modules()
        for hook in HOOKS
        if inspect.isfunction(getattr(module, hook, None)) and getattr(module, hook).__module__ == module.__name__
    ]
    assert defined
    registered = {(hook, getattr(section, hook)) for section in SECTIONS for hook in HOOKS if getattr(section, hook)}
    unregistered = [f"{module}.{hook}" for module, hook, function in defined if (hook, function) not in registered]
    assert not unregistered, f"defined but not in SECTIONS (the loader would never run them): {unregistered}"


def test_sections_are_named_once() -> None:
    keys = [section.key for section in SECTIONS]
    assert len(keys) == len(set(keys)), keys


def test_deploy_warnings_name_a_stack_config_key() -> None:
    """`agentplane:<key>: ...` must point the operator at a key they can set."""
    config_keys = {field.alias or name for name, field in EnvironmentConfig.model_fields.items()}
    reporting = [section.key for section in SECTIONS if section.missing_for_deploy is not None]
    assert reporting
    assert set(reporting) <= config_keys, set(reporting) - config_keys


def test_every_settings_model_with_deploy_requirements_is_reported() -> None:
    with_requirements = [
        name
        for name, field in EnvironmentConfig.model_fields.items()
        if inspect.isclass(field.annotation) and hasattr(field.annotation, "missing_for_deploy")
    ]
    assert with_requirements
    by_key = {section.key: section for section in SECTIONS}
    for name in with_requirements:
        assert name in by_key and by_key[name].missing_for_deploy is not None, name


def test_deploy_warnings_keep_their_order() -> None:
    """Warnings list each section's requirements in registry order, after encrypted values;
    `pulumi up` shows them in this order."""
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    raw = copy.deepcopy(env_config_from_stack_document(doc, "prod"))
    assert raw["protect"] is True
    raw.pop("provenance", None)  # no signers: allowed while every tier only audits
    for tier in raw["tiers"]:
        tier["provenance"] = "audit"
    raw["gateway"].pop("providerKeys", None)
    raw.setdefault("images", {}).pop("keycloak", None)
    raw["identity"]["database"]["backup"] = {"enabled": True, "destinationPath": "s3://bucket/keycloak"}
    raw.setdefault("telemetry", {})["tenantHeaders"] = {"payments": {"token": {"secure": "v1:abc"}}}
    warnings = deploy.deploy_warnings(validate_environment(raw, "stacks/Pulumi.prod.yaml", source="file"))
    keys = [w.split(": ", 1)[0] for w in warnings]
    assert keys == [
        "agentplane:identity",
        "agentplane:telemetry",
        "agentplane:provenance",
        "agentplane:gateway",
        "agentplane:gateway",
        "agentplane:images",
    ], warnings
