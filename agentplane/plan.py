"""The offline plan: the real program under Pulumi's in-process mock engine, and what it writes.

No Pulumi CLI, cluster or network: the same `program.main` that `pulumi up` runs registers every
resource with the mock engine (agentplane.engine, the one module on Pulumi SDK internals), which
records what a reviewer needs (URN, parent, options, dependencies, inputs with secrets redacted).
This module validates the inputs, runs the program there, checks every derived name, and writes
the plan document (plan.json), one YAML file per object and the summaries (`agentplane plan`:
add_arguments/run at the end). It complements `pulumi preview`, which diffs against live state;
it does not replace it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentplane.command import EXIT_OK, report, stack_arguments
from agentplane.config.files import TEAMS_DIR, read_stack_config, stack_config_path
from agentplane.config.messages import display
from agentplane.config.platform import PlatformSpec
from agentplane.engine import Registration, engine_config, run_under_mocks
from agentplane.errors import ConfigError, ConfigIssue
from agentplane.review.summary import render_text, summarize


@dataclass
class Plan:
    spec: PlatformSpec
    registrations: list[Registration]
    warnings: list[str] = field(default_factory=list)

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}


def run_program(stack: str, *, config: Path | None = None, teams: Path | None = None, root: Path | None = None) -> Plan:
    """Validate the inputs, run the program under the mock engine, check every name it derived
    (agentplane.derived), and return every registration. `validate` and `plan` both run this,
    so whatever `plan` refuses, `validate` refuses, with the same file and field."""
    from agentplane import program
    from agentplane.config.load import load_from_files
    from agentplane.derived import check_plan
    from components.kube import duplicates_reported_after_run

    root = root or Path.cwd()
    # The files as files first: what only a file can show (a plain-text secret, a symlink).
    load_from_files(stack, config, teams, root)
    config_path = config or stack_config_path(root, stack)
    teams_dir = teams or root / TEAMS_DIR
    config_label = display(config_path, root)
    env_raw = read_stack_config(config_path, stack, config_label)
    config_values, secret_keys = engine_config(env_raw)

    specs: list[PlatformSpec] = []

    def run() -> None:
        # The program validates everything before it registers anything; on invalid input it
        # raises ConfigError here and the registrations list stays empty.
        specs.append(
            program.main(
                teams_dir=teams_dir,
                config_label=config_label,
                offline=True,
                known_root=root,
                config_dir=config_path.parent,
            )
        )

    with duplicates_reported_after_run():
        registrations, warnings = run_under_mocks(stack, config_values, secret_keys, run)
    plan = Plan(spec=specs[0], registrations=registrations, warnings=warnings)
    if issues := check_plan(plan, config_label):
        raise ConfigError(issues)
    return plan


# --- writing -----------------------------------------------------------------------------


def component_of(reg: Registration, by_urn: dict[str, Registration]) -> str:
    """The top-level component (a direct child of the stack) a resource belongs to."""
    current = reg
    while current.parent in by_urn:
        current = by_urn[current.parent]
    return current.name if not current.custom else "_stack"


def team_of(reg: Registration, by_urn: dict[str, Registration]) -> str | None:
    current: Registration | None = reg
    while current is not None:
        # A team's part of a piece is a component whose one input is its team (components/*).
        if not current.custom and "team" in current.inputs:
            return current.inputs["team"]
        current = by_urn.get(current.parent)
    return None


def is_kubernetes_object(reg: Registration) -> bool:
    return reg.custom and reg.type.startswith("kubernetes:") and "kind" in reg.inputs and "metadata" in reg.inputs


def object_path(reg: Registration, component: str) -> str:
    if is_kubernetes_object(reg):
        meta = reg.inputs["metadata"]
        group = reg.inputs["apiVersion"].rpartition("/")[0]
        kind = reg.inputs["kind"].lower() + (f".{group}" if group else "")
        return f"{component}/{meta.get('namespace') or '_cluster'}/{kind}-{meta['name']}.yaml"
    token = reg.type.replace(":", "_").replace("/", "_")
    return f"{component}/_resources/{token}-{reg.name}.yaml"


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True, width=120)


def plan_document(plan: Plan) -> dict[str, Any]:
    by_urn = plan.by_urn()
    resources = []
    for reg in plan.registrations:
        resources.append(
            {
                "urn": reg.urn,
                "type": reg.type,
                "name": reg.name,
                "parent": reg.parent,
                "protect": reg.protect,
                "retainOnDelete": reg.retain_on_delete,
                "dependsOn": list(reg.depends_on),
                "provider": reg.provider,
                "component": component_of(reg, by_urn),
                "team": team_of(reg, by_urn),
                "inputs": reg.inputs,
            }
        )
        if reg.aliases and not reg.custom:
            # A renamed component's earlier type, for reviewers. (Provider SDKs add type aliases
            # of their own to many custom resources; they are recorded but not shown.)
            resources[-1]["aliases"] = list(reg.aliases)
    teams = {
        t.name: {"namespace": t.namespace, "tier": t.tier.name, "agents": {a.name: a.tier.name for a in t.agents}}
        for t in plan.spec.teams
    }
    # The per-team review summary: what `agentplane diff` and `pr-diff` compare in a reviewer's terms.
    review = summarize(plan.spec)
    return {"stack": plan.spec.stack, "teams": teams, "review": review, "resources": resources}


def write_plan(plan: Plan, out: Path) -> dict[str, str]:
    """Write plan.json and one YAML file per object into `out`, replacing an earlier plan there."""
    if out.exists() and any(out.iterdir()) and not (out / "plan.json").exists():
        raise ConfigError(
            [
                ConfigIssue(
                    str(out), "", "output directory is not empty and holds no earlier plan; refusing to overwrite it"
                )
            ]
        )
    document = plan_document(plan)
    by_urn = plan.by_urn()
    files: dict[str, str] = {}
    for reg in plan.registrations:
        if reg.custom:
            body = (
                reg.inputs if is_kubernetes_object(reg) else {"type": reg.type, "name": reg.name, "inputs": reg.inputs}
            )
            files[object_path(reg, component_of(reg, by_urn))] = dump_yaml(body)
    staging = Path(tempfile.mkdtemp(prefix=".plan-", dir=out.parent if out.parent.exists() else None))
    try:
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        (staging / "plan.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return files


def resource_counts(plan: Plan) -> tuple[dict[str, int], dict[str, int]]:
    """Registered resources per component and per team (`summary` and `summary_document`)."""
    by_urn = plan.by_urn()
    per_component: dict[str, int] = {}
    per_team: dict[str, int] = {}
    for reg in plan.registrations:
        if not reg.custom:
            continue
        component = component_of(reg, by_urn)
        per_component[component] = per_component.get(component, 0) + 1
        if team := team_of(reg, by_urn):
            per_team[team] = per_team.get(team, 0) + 1
    return per_component, per_team


def summary(plan: Plan) -> str:
    """A table per component and per team, for the terminal."""
    per_component, per_team = resource_counts(plan)
    lines = [
        f"stack {plan.spec.stack}: {sum(per_component.values())} resources",
        "",
        f"{'component':<24}{'resources':>10}",
    ]
    lines += [f"{name:<24}{count:>10}" for name, count in sorted(per_component.items())]
    lines += ["", f"{'team':<24}{'tier':<14}{'resources':>10}  agents (tier)"]
    for team in plan.spec.teams:
        agents = ", ".join(f"{a.name} ({a.tier.name})" for a in team.agents) or "-"
        lines.append(f"{team.name:<24}{team.tier.name:<14}{per_team.get(team.name, 0):>10}  {agents}")
    return "\n".join(lines)


def summary_document(plan: Plan) -> dict[str, Any]:
    """`plan --json`: resources per component and per team, and the per-team review summary."""
    per_component, per_team = resource_counts(plan)
    return {
        "stack": plan.spec.stack,
        "resources": sum(per_component.values()),
        "components": dict(sorted(per_component.items())),
        "teams": {t.name: {"resources": per_team.get(t.name, 0)} for t in plan.spec.teams},
        "review": summarize(plan.spec),
        "warnings": list(plan.warnings),
    }


# --- the `agentplane plan` command ---------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    stack_arguments(parser)
    parser.add_argument("--out", type=Path, help="output directory (default: build/plan/<stack>)")
    parser.add_argument("--json", action="store_true", help="print the plan summary as JSON")
    parser.add_argument(
        "--summary",
        action="store_true",
        help="also print the per-team review summary (tier, models, egress, budget, access, ...)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        plan = run_program(args.stack, config=args.config, teams=args.teams)
        out = args.out or Path("build/plan") / args.stack
        files = write_plan(plan, out)
    except ConfigError as exc:
        return report(exc)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps({**summary_document(plan), "out": str(out), "objects": len(files)}, indent=2))
        return EXIT_OK
    print(summary(plan))
    if args.summary:
        print("\n" + render_text(summarize(plan.spec)))
    print(f"\nwrote {len(files)} objects and plan.json to {out}")
    return EXIT_OK
