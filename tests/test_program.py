"""The Pulumi program as `pulumi up` runs it: config from the engine, refusal paths, nothing half-registered."""

from __future__ import annotations

import json

import pulumi
import pytest

from agentplane.config import deploy as config_deploy
from agentplane.config.files import env_config_from_engine, env_config_from_stack_document
from tests.support.plans import ROOT, engine_config_for_up, run_as_pulumi_up, stack_document


def _dev_engine_config() -> dict[str, str]:
    return engine_config_for_up(stack_document("dev"))


def _run_as_pulumi_up(config: dict[str, str], monkeypatch: pytest.MonkeyPatch, *, via_environment: bool = False):
    if via_environment:
        # How the Python language host hands config to a real program.
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
        config = {}
    return run_as_pulumi_up(config, monkeypatch)


def test_engine_config_is_decoded_like_the_stack_file() -> None:
    raw = env_config_from_engine(
        {
            "agentplane:protect": "true",
            "agentplane:tiers": '[{"name": "t"}]',
            "agentplane:cluster": '{"context": "kind-agentplane"}',
            "agentplane:note": "plain words",
            "kubernetes:context": "ignored",
        }
    )
    assert raw == {
        "protect": True,
        "tiers": [{"name": "t"}],
        "cluster": {"context": "kind-agentplane"},
        "note": "plain words",
    }


def test_stack_file_keys_without_namespace_belong_to_the_project() -> None:
    raw = env_config_from_stack_document({"config": {"protect": True, "agentplane:egress": [], "aws:region": "x"}}, "f")
    assert raw == {"protect": True, "egress": []}


def test_pulumi_up_reads_config_from_the_language_host(monkeypatch: pytest.MonkeyPatch) -> None:
    registrations, _ = _run_as_pulumi_up(_dev_engine_config(), monkeypatch, via_environment=True)
    namespaces = {r.inputs["metadata"]["name"] for r in registrations if r.inputs.get("kind") == "Namespace"}
    assert {"payments", "research", "support"} <= namespaces


@pytest.fixture
def monitors(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every recording monitor created, so a test can look at it after the program raised."""
    import agentplane.engine as engine_module

    created: list = []
    make = engine_module._make_monitor_class

    def recording_class():
        cls = make()

        class Captured(cls):
            def __init__(self, mocks):
                super().__init__(mocks)
                created.append(self)

        return Captured

    monkeypatch.setattr(engine_module, "_make_monitor_class", recording_class)
    return created


def test_invalid_config_registers_nothing(monkeypatch: pytest.MonkeyPatch, monitors: list) -> None:
    config = _dev_engine_config()
    config["agentplane:protect"] = '"sometimes"'
    with pytest.raises(pulumi.RunError, match=r"stacks/Pulumi.dev.yaml: agentplane:protect: must be true or false"):
        _run_as_pulumi_up(config, monkeypatch)
    assert len(monitors) == 1 and monitors[0].registrations == []


def test_pulumi_up_refuses_what_only_the_plan_may_skip(monkeypatch: pytest.MonkeyPatch, monitors: list) -> None:
    """A setting `pulumi up` needs (e.g. a provider credential) is a warning in plan, an error in up."""
    monkeypatch.setattr(
        config_deploy, "deploy_warnings", lambda env: ["agentplane:gateway: providerKeys.openai is not set"]
    )
    with pytest.raises(pulumi.RunError, match="providerKeys.openai is not set"):
        _run_as_pulumi_up(_dev_engine_config(), monkeypatch)
    assert monitors[0].registrations == []


def test_the_example_plan_warns_that_provider_keys_are_not_set() -> None:
    from agentplane.plan import run_program

    warnings = run_program("dev", root=ROOT).warnings
    assert any("providerKeys.openai is not set" in w for w in warnings), warnings


def test_pulumi_up_without_provider_keys_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _dev_engine_config()
    gateway = json.loads(config["agentplane:gateway"])
    del gateway["providerKeys"]
    config["agentplane:gateway"] = json.dumps(gateway)
    with pytest.raises(pulumi.RunError, match="providerKeys.openai is not set"):
        _run_as_pulumi_up(config, monkeypatch)


def test_the_offline_plan_only_warns_about_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentplane.plan import run_program

    monkeypatch.setattr(
        config_deploy, "deploy_warnings", lambda env: ["agentplane:gateway: providerKeys.openai is not set"]
    )
    plan = run_program("dev", root=ROOT)
    assert any("providerKeys.openai is not set" in w for w in plan.warnings)
    assert plan.registrations
