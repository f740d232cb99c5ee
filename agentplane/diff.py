"""Compare two offline plans: what a pull request adds, changes and removes, per team and component."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLATFORM = "platform (shared)"
_COMPARED = ("type", "inputs", "protect", "retainOnDelete", "dependsOn", "parent", "provider")


@dataclass(frozen=True)
class Change:
    action: str  # added | changed | removed
    team: str
    component: str
    urn: str
    label: str
    fields: tuple[str, ...] = ()


def load_resources(plan_dir: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    path = plan_dir / "plan.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `agentplane plan --out {plan_dir}` first")
    doc = json.loads(path.read_text(encoding="utf-8"))
    return doc.get("stack", "?"), {r["urn"]: r for r in doc["resources"]}


def changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    """The JSON paths whose values differ, so a reviewer sees where, not just that."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(sub)
            else:
                out += changed_paths(old[key], new[key], sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += changed_paths(a, b, f"{path}[{i}]")
        return out
    return [] if old == new else [path or "(value)"]


def _label(resource: dict[str, Any]) -> str:
    inputs = resource.get("inputs", {})
    if "kind" in inputs and isinstance(inputs.get("metadata"), dict):
        meta = inputs["metadata"]
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{inputs['kind']} {where}{meta.get('name', '?')}"
    return f"{resource['type']} {resource['name']}"


def compare(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[Change]:
    changes = []
    for urn in sorted(set(old) | set(new)):
        before, after = old.get(urn), new.get(urn)
        current = after or before
        assert current is not None
        team = current.get("team") or PLATFORM
        component = current.get("component", "?")
        if before is None:
            changes.append(Change("added", team, component, urn, _label(current)))
        elif after is None:
            changes.append(Change("removed", team, component, urn, _label(current)))
        else:
            fields = []
            for key in _COMPARED:
                fields += changed_paths(before.get(key), after.get(key), key)
            if fields:
                changes.append(Change("changed", team, component, urn, _label(current), tuple(fields)))
    return changes


def render_markdown(stack: str, changes: list[Change]) -> str:
    if not changes:
        return f"### `{stack}`: no changes\n"
    counts = {a: sum(1 for c in changes if c.action == a) for a in ("added", "changed", "removed")}
    lines = [f"### `{stack}`: {counts['added']} to add, {counts['changed']} to change, {counts['removed']} to remove", ""]
    symbol = {"added": "+", "changed": "~", "removed": "-"}
    teams = sorted({c.team for c in changes}, key=lambda t: (t == PLATFORM, t))
    for team in teams:
        lines.append(f"#### {'Team `' + team + '`' if team != PLATFORM else 'Platform (shared)'}")
        for component in sorted({c.component for c in changes if c.team == team}):
            lines += ["", f"**{component}**", ""]
            for change in (c for c in changes if c.team == team and c.component == component):
                detail = f" — {', '.join(f'`{f}`' for f in change.fields[:8])}" if change.fields else ""
                more = f" (+{len(change.fields) - 8} more)" if len(change.fields) > 8 else ""
                lines.append(f"- `{symbol[change.action]}` {change.action} {change.label}{detail}{more}")
        lines.append("")
    return "\n".join(lines)


def diff_dirs(old_dir: Path, new_dir: Path) -> tuple[str, list[Change]]:
    """A side without plan.json is an empty plan: a stack added (or removed) by the change."""
    if not (old_dir / "plan.json").exists() and not (new_dir / "plan.json").exists():
        raise FileNotFoundError(f"neither {old_dir} nor {new_dir} holds a plan.json: run `agentplane plan --out DIR` first")
    old_stack, old = load_resources(old_dir) if (old_dir / "plan.json").exists() else ("", {})
    new_stack, new = load_resources(new_dir) if (new_dir / "plan.json").exists() else ("", {})
    changes = compare(old, new)
    return render_markdown(new_stack or old_stack, changes), changes
