"""Planning the example stacks (and variations of them) in tests, under the mock engine."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentplane import program
from agentplane.config.files import env_config_from_stack_document
from agentplane.engine import engine_config, run_under_mocks
from agentplane.plan import Plan, is_kubernetes_object, plan_document, run_program

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")


@functools.cache
def example_run(stack: str) -> Plan:
    """The offline plan of an example stack, every registration as the engine received it. Cached: read-only."""
    return run_program(stack, root=ROOT)


@functools.cache
def example_plan(stack: str) -> dict[str, Any]:
    """plan.json of an example stack, as `agentplane plan` writes it. Cached: treat as read-only."""
    return plan_document(example_run(stack))


# A team whose telemetry endpoint is a Service of its own namespace. Not an example team file:
# the example plans keep the teams without one, which other tests compare against.
BACKEND_TEAM, BACKEND_PORT = "tracers", 4318
BACKEND_TEAM_FILE = f"""name: {BACKEND_TEAM}
owners: [{BACKEND_TEAM}-admins]
environments: {{dev: {{tier: restricted}}}}
agents: [{{name: bot}}]
telemetry: {{endpoint: "http://otel.{BACKEND_TEAM}.svc:{BACKEND_PORT}", protocol: http}}
"""


def plan_with_backend_team() -> dict[str, Any]:
    """The dev plan with BACKEND_TEAM added."""
    return plan_with_teams("dev", add={f"{BACKEND_TEAM}.yaml": BACKEND_TEAM_FILE})


def plan_with_teams(stack: str, add: dict[str, str] | None = None, remove: tuple[str, ...] = ()) -> dict[str, Any]:
    """Plan an example stack with team files added (file name -> YAML text) or removed (file names)."""
    with tempfile.TemporaryDirectory() as tmp:
        teams = Path(tmp) / "teams"
        shutil.copytree(ROOT / "stacks" / "teams", teams)
        for name in remove:
            (teams / name).unlink()
        for name, text in (add or {}).items():
            (teams / name).write_text(text, encoding="utf-8")
        return plan_document(run_program(stack, root=ROOT, teams=teams))


def kubernetes_objects(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r["inputs"]
        for r in doc["resources"]
        if r["type"].startswith("kubernetes:") and "kind" in r["inputs"] and "metadata" in r["inputs"]
    ]


def resources_of(doc: dict[str, Any], *, component: str | None = None, team: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in doc["resources"]
        if (component is None or r["component"] == component) and (team is None or r["team"] == team)
    ]


def by_urn(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in doc["resources"]}


# What the engine would decrypt from `pulumi config set --secret` for the example models.
DECRYPTED_PROVIDER_KEYS = {"openai": "sk-decrypted", "anthropic": "sk-ant-decrypted"}


def stack_document(stack: str, **sections: Any) -> dict[str, Any]:
    """An example stack file as a dict, with `agentplane:<key>` values replaced by `sections`."""
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    for key, value in sections.items():
        doc["config"][f"agentplane:{key}"] = value
    return doc


def engine_config_for_up(doc: dict[str, Any], stack: str = "dev") -> dict[str, str]:
    """A stack file's config as the engine hands it to `pulumi up`: secrets decrypted, and the
    provider keys set (unless the document sets its own), so only what a test changes decides."""
    gateway = doc["config"].setdefault("agentplane:gateway", {})
    gateway.setdefault("providerKeys", dict(DECRYPTED_PROVIDER_KEYS))
    config, _ = engine_config(env_config_from_stack_document(doc, f"stacks/Pulumi.{stack}.yaml"))
    return config


def run_as_pulumi_up(config: dict[str, str], monkeypatch: pytest.MonkeyPatch, stack: str = "dev"):
    """The program as `pulumi up` runs it (not a preview, no offline flag); its registrations and warnings."""
    monkeypatch.chdir(ROOT)
    return run_under_mocks(stack, config, [], lambda: program.main())


__all__ = [
    "ROOT",
    "STACKS",
    "example_plan",
    "plan_with_teams",
    "kubernetes_objects",
    "resources_of",
    "by_urn",
    "is_kubernetes_object",
    "DECRYPTED_PROVIDER_KEYS",
    "stack_document",
    "engine_config_for_up",
    "run_as_pulumi_up",
]
