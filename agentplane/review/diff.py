"""Compare two offline plans: what a pull request adds, changes and removes, per team and component.

Besides the resources, a plan holds the per-team review summary (`review`, see
agentplane/review/summary.py); the comparison of the two summaries comes first, in a reviewer's terms.
Changed fields show their old and new values (secrets are redacted in the plan itself, so they
stay redacted here). A platform (shared) object whose only change is entries for a team this
change adds or removes is listed as extended for that team, not as a shared change in meaning.

Resources are paired as the Pulumi engine pairs a program with a stack's state
(agentplane/review/matching.py): by URN in the engine's form (recomputed from the `parent` chain,
so plans written before the offline plan used that form compare too), then through aliases,
declared or inherited from a renamed parent. A resource that keeps its state under a new URN is
moved, not removed and added.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentplane.command import EXIT_BLOCKED, EXIT_CHANGES, EXIT_OK, EXIT_USAGE
from agentplane.review import matching
from agentplane.review import summary as review

PLATFORM = "platform (shared)"
_COMPARED = ("type", "inputs", "protect", "retainOnDelete", "dependsOn", "parent", "provider")
MAX_FIELDS_SHOWN = 8
MAX_VALUE_CHARS = 80
REVIEW_START, REVIEW_END = "<!-- agentplane:review:start -->", "<!-- agentplane:review:end -->"


class DiffError(Exception):
    """The request cannot be answered (missing directory, not a plan, plans of two stacks)."""


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


@dataclass(frozen=True)
class Change:
    action: str  # added | changed | removed | moved (a new URN, the state kept, nothing else changed)
    team: str
    component: str
    urn: str
    label: str
    fields: tuple[str, ...] = ()
    values: tuple[tuple[str, Any, Any], ...] = ()  # (path, old, new) per changed field
    protect: bool = False
    # Platform objects whose only change is entries for these added/removed teams.
    extended_for: tuple[str, ...] = ()
    # The URN the resource had in the old plan, when it takes that state over under a new one.
    moved_from: str = ""


@dataclass
class DiffResult:
    stack: str
    changes: list[Change]
    old_review: dict[str, Any] | None
    new_review: dict[str, Any] | None
    review_note: str = ""
    team_changes: list[review.TeamChange] = field(default_factory=list)
    # The new side is no plan at all: the stack's file is deleted. Merging destroys nothing
    # (tearing a stack down is a deliberate `pulumi destroy`), so nothing is blocked.
    stack_removed: bool = False

    @property
    def blocked_teams(self) -> list[str]:
        """Teams whose protected objects this change deletes (from the summary or the resources)."""
        if self.stack_removed:
            return []
        teams = set(review.protected_removals(self.team_changes))
        teams |= {c.team for c in self.changes if c.action == "removed" and c.protect and c.team != PLATFORM}
        return sorted(teams)

    @property
    def blocked_platform(self) -> bool:
        return not self.stack_removed and any(
            c.action == "removed" and c.protect and c.team == PLATFORM for c in self.changes
        )


def load_plan(plan_dir: Path) -> dict[str, Any]:
    path = plan_dir / "plan.json"
    if not path.is_file():
        raise DiffError(f"{path} not found: run `agentplane plan --out {plan_dir}` first")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DiffError(f"{path} is not a plan written by `agentplane plan`: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
        raise DiffError(f"{path} is not a plan written by `agentplane plan` (no resources list)")
    return doc


def value_changes(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf that differs, so a reviewer sees what, not just where."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append((sub, ABSENT, new[key]))
            elif key not in new:
                out.append((sub, old[key], ABSENT))
            else:
                out += value_changes(old[key], new[key], sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += value_changes(a, b, f"{path}[{i}]")
        return out
    return [] if old == new else [(path or "(value)", old, new)]


# --------------------------------------------------------------------------- shared objects


def _mentions(value: Any, teams: set[str]) -> set[str]:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return {t for t in teams if re.search(rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])", text)}


_TOKEN = re.compile(r"[A-Za-z0-9_]+|\S")


def entries_only_for(old: Any, new: Any, teams: set[str]) -> set[str] | None:
    """The teams whose entries are all that differs between `old` and `new`; None when something
    else differs (a change in meaning for everyone). An empty set: no difference at all."""
    if old == new:
        return set()
    if not teams:
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        found: set[str] = set()
        for key in set(old) | set(new):
            if key in old and key in new:
                sub = entries_only_for(old[key], new[key], teams)
            else:
                sub = _mentions(key, teams) | _mentions(old.get(key, new.get(key)), teams) or None
            if sub is None:
                return None
            found |= sub
        return found
    if isinstance(old, list) and isinstance(new, list):
        if len(old) == len(new):  # entries changed in place
            found = set()
            for a, b in zip(old, new, strict=True):
                sub = entries_only_for(a, b, teams)
                if sub is None:
                    return None
                found |= sub
            return found
        # Entries added or removed: each must name a team, and the others keep their order.
        olds = [json.dumps(v, sort_keys=True) for v in old]
        news = [json.dumps(v, sort_keys=True) for v in new]
        gone, came = [v for v in olds if v not in news], [v for v in news if v not in olds]
        if [v for v in olds if v not in gone] != [v for v in news if v not in came]:
            return None
        found = set()
        for item in gone + came:
            mentioned = _mentions(item, teams)
            if not mentioned:
                return None
            found |= mentioned
        return found
    if isinstance(old, str) and isinstance(new, str):
        a, b = _TOKEN.findall(old), _TOKEN.findall(new)
        found = set()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            # The changed run, with a little context, must name an added/removed team.
            chunk = " ".join(a[max(0, i1 - 3) : i2 + 3]) + " " + " ".join(b[max(0, j1 - 3) : j2 + 3])
            mentioned = _mentions(chunk, teams)
            if not mentioned:
                return None
            found |= mentioned
        return found
    return None


# --------------------------------------------------------------------------- pairing


def canonical_resources(doc: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """The plan's resources by URN in the engine's form; `parent` and `dependsOn` name them so too."""
    resources = doc.get("resources", [])
    for resource in resources:
        if not (isinstance(resource, dict) and all(isinstance(resource.get(k), str) for k in ("urn", "type", "name"))):
            raise DiffError(
                f"{where}: a resource without a string urn, type and name: not a plan written by agentplane"
            )
    try:
        canonical = matching.canonical_urns(resources)
    except matching.UnknownParent as exc:
        raise DiffError(f"{where}: {exc}") from None
    if len(set(canonical.values())) != len(resources):
        twice = sorted({u for u in canonical.values() if list(canonical.values()).count(u) > 1})
        raise DiffError(f"{where}: two resources have the URN {twice[0]}: not a plan `pulumi up` accepts")

    def ref(urn: str, field: str, owner: str) -> str:
        if urn in canonical:
            return canonical[urn]
        if field == "parent" and matching.is_root_stack(urn):
            return urn
        raise DiffError(f"{where}: {owner}: {field} {urn} is not in the plan")

    out: dict[str, dict[str, Any]] = {}
    for resource in resources:
        urn = canonical[resource["urn"]]
        copy = dict(resource, urn=urn)
        if resource.get("parent"):
            copy["parent"] = ref(resource["parent"], "parent", urn)
        if resource.get("dependsOn"):
            copy["dependsOn"] = sorted(ref(d, "dependsOn", urn) for d in resource["dependsOn"])
        out[urn] = copy
    return out


def pair_moves(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], where: str) -> dict[str, str]:
    """New URN -> the old URN whose state it takes over, for the resources whose URN changed:
    the engine's matching (URN first, then declared and inherited aliases)."""
    if not old or not new:
        return {}
    stack, project = matching.urn_parts(next(iter(new)))[:2]
    goals = []
    for urn, resource in new.items():
        aliases = resource.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, dict) for a in aliases):
            raise DiffError(f"{where}: {urn}: aliases must be a list of alias specs (objects)")
        goals.append(
            matching.Goal(urn, resource["type"], resource["name"], resource.get("parent") or "", tuple(aliases))
        )
    try:
        outcome = matching.Engine(stack, project).match(matching.parents_first(goals), old)
    except matching.UnknownAliasField as exc:
        raise DiffError(f"{where}: {exc}") from None
    if outcome.claimed_twice:
        taken, first, second = outcome.claimed_twice[0]
        raise DiffError(
            f"{where}: {second} claims the state of {taken}, which {first} already takes over: "
            "`pulumi up` refuses two resources aliased to the same URN (give each its own alias)"
        )
    return {new_urn: old_urn for new_urn, old_urn in outcome.matched.items() if new_urn != old_urn}


# --------------------------------------------------------------------------- comparing


def _label(resource: dict[str, Any]) -> str:
    inputs = resource.get("inputs", {})
    if "kind" in inputs and isinstance(inputs.get("metadata"), dict):
        meta = inputs["metadata"]
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{inputs['kind']} {where}{meta.get('name', '?')}"
    return f"{resource['type']} {resource['name']}"


def _moved_old_side(old: dict[str, dict[str, Any]], moves: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The old resources under the URNs that take them over, their references renamed alike."""
    renamed = {old_urn: new_urn for new_urn, old_urn in moves.items()}
    out: dict[str, dict[str, Any]] = {}
    for urn, resource in old.items():
        copy = dict(resource, urn=renamed.get(urn, urn))
        if resource.get("parent"):
            copy["parent"] = renamed.get(resource["parent"], resource["parent"])
        if resource.get("dependsOn"):
            copy["dependsOn"] = sorted(renamed.get(d, d) for d in resource["dependsOn"])
        assert copy["urn"] not in out, f"two old resources end up as {copy['urn']}"
        out[copy["urn"]] = copy
    return out


def compare(
    old: dict[str, dict[str, Any]],
    new: dict[str, dict[str, Any]],
    teams_delta: set[str] | None = None,
    moves: dict[str, str] | None = None,
) -> list[Change]:
    """`moves`: new URN -> old URN, the resources that keep their state under a new URN. Their
    type and parent are part of the move; everything else is compared as for any resource."""
    moves = moves or {}
    old = _moved_old_side(old, moves) if moves else old
    changes = []
    for urn in sorted(set(old) | set(new)):
        before, after = old.get(urn), new.get(urn)
        moved_from = moves.get(urn, "")
        current = after or before
        assert current is not None
        team = current.get("team") or PLATFORM
        component = current.get("component", "?")
        label = _label(current)
        if before is None:
            changes.append(Change("added", team, component, urn, label))
        elif after is None:
            changes.append(Change("removed", team, component, urn, label, protect=bool(before.get("protect"))))
        else:
            values = []
            for key in _COMPARED:
                if moved_from and key in ("type", "parent"):
                    continue
                values += value_changes(before.get(key), after.get(key), key)
            if moved_from and not values:
                changes.append(Change("moved", team, component, urn, label, moved_from=moved_from))
            elif values:
                extended: tuple[str, ...] = ()
                if team == PLATFORM and teams_delta:
                    only = entries_only_for(
                        {k: before.get(k) for k in _COMPARED}, {k: after.get(k) for k in _COMPARED}, teams_delta
                    )
                    extended = tuple(sorted(only)) if only else ()
                changes.append(
                    Change(
                        "changed",
                        team,
                        component,
                        urn,
                        label,
                        tuple(p for p, _, _ in values),
                        tuple(values),
                        extended_for=extended,
                        moved_from=moved_from,
                    )
                )
    return changes


def diff_plans(
    old_doc: dict[str, Any] | None,
    new_doc: dict[str, Any] | None,
    old_name: str = "the old plan",
    new_name: str = "the new plan",
) -> DiffResult:
    old_doc, new_doc = old_doc or {}, new_doc or {}
    old_teams, new_teams = set(old_doc.get("teams") or {}), set(new_doc.get("teams") or {})
    old_res = canonical_resources(old_doc, old_name)
    new_res = canonical_resources(new_doc, new_name)
    changes = compare(old_res, new_res, old_teams ^ new_teams, pair_moves(old_res, new_res, new_name))
    stack = new_doc.get("stack") or old_doc.get("stack") or "?"
    old_review = old_doc.get("review") if old_doc else None
    new_review = new_doc.get("review") if new_doc else None
    note = ""
    if (old_doc and old_review is None) or (new_doc and new_review is None):
        note = (
            "A plan written by an older agentplane holds no review summary; the summary below "
            "compares only the side(s) that have one."
        )
    result = DiffResult(stack, changes, old_review, new_review, note, stack_removed=bool(old_doc) and not new_doc)
    if old_review is not None or new_review is not None:
        result.team_changes = review.compare_summaries(old_review, new_review)
    return result


def _check_dir(path: Path) -> bool:
    """Whether `path` holds a plan; an existing empty directory is an empty plan (a stack added or removed)."""
    if not path.exists():
        raise DiffError(f"{path} does not exist: pass a directory written by `agentplane plan --out DIR`")
    if not path.is_dir():
        raise DiffError(f"{path} is not a directory: pass a directory written by `agentplane plan --out DIR`")
    if (path / "plan.json").is_file():
        return True
    if any(path.iterdir()):
        raise DiffError(f"{path} holds no plan.json: is it a plan directory? (`agentplane plan --out DIR` writes one)")
    return False


def diff_dirs_result(old_dir: Path, new_dir: Path) -> DiffResult:
    has_old, has_new = _check_dir(old_dir), _check_dir(new_dir)
    if not has_old and not has_new:
        raise DiffError(f"neither {old_dir} nor {new_dir} holds a plan.json: run `agentplane plan --out DIR` first")
    old_doc = load_plan(old_dir) if has_old else None
    new_doc = load_plan(new_dir) if has_new else None
    if old_doc and new_doc and old_doc.get("stack") != new_doc.get("stack"):
        raise DiffError(
            f"{old_dir} is a plan of stack {old_doc.get('stack')!r} and {new_dir} one of "
            f"{new_doc.get('stack')!r}: compare plans of the same stack"
        )
    return diff_plans(old_doc, new_doc, str(old_dir / "plan.json"), str(new_dir / "plan.json"))


# --------------------------------------------------------------------------- rendering


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def show_value(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return _cut(json.dumps(value, sort_keys=True, ensure_ascii=False))


def describe_value_change(path: str, old: Any, new: Any) -> str:
    if isinstance(old, list) and isinstance(new, list):
        olds = [json.dumps(v, sort_keys=True, ensure_ascii=False) for v in old]
        news = [json.dumps(v, sort_keys=True, ensure_ascii=False) for v in new]
        edits = [f"+ {_cut(v)}" for v in news if v not in olds] + [f"- {_cut(v)}" for v in olds if v not in news]
        if edits:
            more = f" (+{len(edits) - 3} more)" if len(edits) > 3 else ""
            return f"`{path}`: " + "; ".join(f"`{e}`" for e in edits[:3]) + more
    if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
        lines = [
            line
            for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        shown = "; ".join(f"{line[0]} {line[1:].strip()}" for line in lines[:3])
        more = f" (+{len(lines) - 3} more lines)" if len(lines) > 3 else ""
        return f"`{path}`: {shown}{more}"
    return f"`{path}`: `{show_value(old)}` → `{show_value(new)}`"


def _change_lines(change: Change) -> list[str]:
    symbol = {"added": "+", "changed": "~", "removed": "-"}[change.action]
    moved = f" (moved from `{_type_and_name(change.moved_from)}`, state kept)" if change.moved_from else ""
    lines = [f"- `{symbol}` {change.action} {change.label}{moved}"]
    for path, old, new in change.values[:MAX_FIELDS_SHOWN]:
        lines.append(f"  - {describe_value_change(path, old, new)}")
    if len(change.values) > MAX_FIELDS_SHOWN:
        lines.append(f"  - (+{len(change.values) - MAX_FIELDS_SHOWN} more fields)")
    return lines


def _type_and_name(urn: str) -> str:
    _, _, qualified_type, name = matching.urn_parts(urn)
    return f"{qualified_type.split('$')[-1]}::{name}"


def counts(changes: list[Change]) -> dict[str, int]:
    """added, changed, removed; moved counts every resource under a new URN (changed ones too)."""
    out = {a: sum(1 for c in changes if c.action == a) for a in ("added", "changed", "removed")}
    out["moved"] = sum(1 for c in changes if c.moved_from)
    return out


def summary_line(changes: list[Change]) -> str:
    n = counts(changes)
    line = f"{n['added']} to add, {n['changed']} to change, {n['removed']} to remove"
    return line + (f", {n['moved']} moved to a new URN, state kept" if n["moved"] else "")


def _moved_lines(changes: list[Change]) -> list[str]:
    """The renames behind the moves, once each: a resource whose own type or name changed; the
    resources under it moved with it."""
    moved = [c for c in changes if c.moved_from]
    if not moved:
        return []
    renames: dict[tuple[str, str], list[Change]] = {}
    for change in moved:
        before, after = _type_and_name(change.moved_from), _type_and_name(change.urn)
        if before != after:
            old_type, new_type = before.split("::")[0], after.split("::")[0]
            renames.setdefault((old_type, new_type), []).append(change)
    lines = [
        "#### Moved, state kept",
        "",
        f"{len(moved)} resource(s) take over their state under a new URN through aliases: `pulumi up` "
        "replaces and deletes none of them.",
        "",
    ]
    for (old_type, new_type), group in sorted(renames.items()):
        teams = sorted({c.team for c in group if c.team != PLATFORM})
        where = f" (teams {', '.join(f'`{t}`' for t in teams)})" if teams else ""
        renamed = f"`{old_type}` → `{new_type}`" if old_type != new_type else f"`{new_type}` (renamed)"
        lines.append(f"- {renamed}: {len(group)}{where}")
    listed = sum(len(g) for g in renames.values())
    if listed < len(moved):
        lines.append(f"- {len(moved) - listed} resource(s) under them, moved with their parent")
    return [*lines, ""]


def render_markdown(result: DiffResult | str, changes: list[Change] | None = None) -> str:
    if isinstance(result, str):  # (stack, changes): the resources only
        result = DiffResult(result, changes or [], None, None)
    stack, changes = result.stack, result.changes
    lines: list[str] = []
    if not changes:
        lines += [f"### `{stack}`: no changes", ""]
    else:
        lines += [f"### `{stack}`: {summary_line(changes)}", ""]
    for team in result.blocked_teams:
        lines += [f"> ❌ **{review.protected_removal_message(stack, team)}**", ""]
    if result.blocked_platform:
        lines += [
            "> ❌ **BLOCKED: this change deletes protected platform objects; `pulumi up` would refuse "
            "(a protected stack is torn down only by a deliberate `pulumi destroy`).**",
            "",
        ]
    if result.old_review is not None or result.new_review is not None:
        body = review.render_markdown(stack, result.old_review, result.new_review)
        # The blocked lines are already above. The markers let pr-diff lift the summary out.
        lines.append(REVIEW_START)
        lines += [line for line in body.splitlines() if not line.startswith("> ❌")]
        if result.review_note:
            lines += ["", f"_{result.review_note}_"]
        lines += [REVIEW_END, ""]
    if not changes:
        return "\n".join(lines)
    moves = _moved_lines(changes)
    changes = [c for c in changes if c.action != "moved"]  # counted above, listed once below
    shared = [c for c in changes if c.team == PLATFORM and not c.extended_for]
    extended = [c for c in changes if c.team == PLATFORM and c.extended_for]
    if shared:
        lines += [f"⚠️ **{len(shared)} platform (shared) object(s) change in meaning**: they affect every team.", ""]
    elif extended:
        teams = sorted({t for c in extended for t in c.extended_for})
        lines += [
            f"Platform (shared) objects: only entries for {', '.join(f'`{t}`' for t in teams)} "
            "(no change in meaning for other teams).",
            "",
        ]
    for team in sorted({c.team for c in changes if c.team != PLATFORM}):
        lines.append(f"#### Team `{team}`")
        for component in sorted({c.component for c in changes if c.team == team}):
            lines += ["", f"**{component}**", ""]
            for change in (c for c in changes if c.team == team and c.component == component):
                lines += _change_lines(change)
        lines.append("")
    for title, group in (
        ("Platform (shared)", shared),
        ("Platform (shared), entries for added or removed teams only", extended),
    ):
        if not group:
            continue
        lines.append(f"#### {title}")
        for component in sorted({c.component for c in group}):
            lines += ["", f"**{component}**", ""]
            for change in (c for c in group if c.component == component):
                lines += _change_lines(change)
        lines.append("")
    return "\n".join(lines + moves)


def _json_value(value: Any) -> Any:
    return None if value is ABSENT else value


def to_json(result: DiffResult) -> dict[str, Any]:
    return {
        "stack": result.stack,
        "counts": counts(result.changes),
        "blocked": {"teams": result.blocked_teams, "platform": result.blocked_platform},
        "review": {
            "old": result.old_review,
            "new": result.new_review,
            "teams": [
                {
                    "team": t.team,
                    "status": t.status,
                    "fields": [{"field": f.field, "old": f.old, "new": f.new} for f in t.fields],
                    "agentsAdded": list(t.agents_added),
                    "agentsRemoved": list(t.agents_removed),
                    "agentsChanged": {
                        a: [{"field": f.field, "old": f.old, "new": f.new} for f in fs] for a, fs in t.agents_changed
                    },
                    "protectedRemoval": t.protected_removal,
                }
                for t in result.team_changes
                if t.changed
            ],
        },
        "changes": [
            {
                "action": c.action,
                "team": None if c.team == PLATFORM else c.team,
                "component": c.component,
                "urn": c.urn,
                "label": c.label,
                "movedFrom": c.moved_from or None,
                "extendedFor": list(c.extended_for),
                "fields": [
                    {
                        "path": p,
                        "old": _json_value(o),
                        "new": _json_value(n),
                        "absentBefore": o is ABSENT,
                        "absentAfter": n is ABSENT,
                    }
                    for p, o, n in c.values
                ],
            }
            for c in result.changes
        ],
    }


# --------------------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", type=Path, help="plan directory before the change (an empty directory: no plan)")
    parser.add_argument("new", type=Path, help="plan directory after the change")
    parser.add_argument("--json", action="store_true", help="machine-readable changes on stdout")
    parser.add_argument("--exit-code", action="store_true", help=f"exit {EXIT_CHANGES} when the plans differ")


def run(args: argparse.Namespace) -> int:
    try:
        result = diff_dirs_result(args.old, args.new)
    except DiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(to_json(result), indent=2, sort_keys=True))
    else:
        print(render_markdown(result))
    if result.blocked_teams or result.blocked_platform:
        for team in result.blocked_teams:
            print(f"error: {review.protected_removal_message(result.stack, team)}", file=sys.stderr)
        return EXIT_BLOCKED
    if args.exit_code and result.changes:
        return EXIT_CHANGES
    return EXIT_OK
