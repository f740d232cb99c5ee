"""Planning the example stacks (and variations of them) in tests, under the mock engine."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from agentplane.plan import is_kubernetes_object, plan_document, run_program

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")


@functools.lru_cache(maxsize=None)
def example_plan(stack: str) -> dict[str, Any]:
    """plan.json of an example stack, as `agentplane plan` writes it. Cached: treat as read-only."""
    return plan_document(run_program(stack, root=ROOT))


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
    return [r["inputs"] for r in doc["resources"] if r["type"].startswith("kubernetes:") and "kind" in r["inputs"] and "metadata" in r["inputs"]]


def resources_of(doc: dict[str, Any], *, component: str | None = None, team: str | None = None) -> list[dict[str, Any]]:
    return [
        r for r in doc["resources"]
        if (component is None or r["component"] == component) and (team is None or r["team"] == team)
    ]


def by_urn(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in doc["resources"]}


__all__ = ["ROOT", "STACKS", "example_plan", "plan_with_teams", "kubernetes_objects", "resources_of", "by_urn", "is_kubernetes_object"]
