"""`agentplane validate`: the same run as `plan` without writing, so every name the program
derives is checked too; one stack or every stack, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from agentplane.command import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    issues_json,
    report,
    selected_stacks,
    stack_arguments,
)
from agentplane.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    stack_arguments(parser, all_stacks=True)
    parser.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def run(args: argparse.Namespace) -> int:
    from agentplane.lint import ineffective_settings
    from agentplane.plan import run_program

    try:
        stacks = selected_stacks(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    results = []
    for stack in stacks:
        try:
            spec = run_program(stack, config=args.config, teams=args.teams).spec
        except ConfigError as exc:
            results.append({"stack": stack, "valid": False, "errors": issues_json(exc), "warnings": []})
            if not args.json:
                if len(stacks) > 1:  # one stack: the report alone, exactly what `plan` prints
                    print(f"{stack}: invalid", file=sys.stderr)
                report(exc)
            continue
        warnings = [*spec.warnings, *ineffective_settings(spec)]
        agents = sum(len(t.agents) for t in spec.teams)
        results.append(
            {
                "stack": stack,
                "valid": True,
                "teams": len(spec.teams),
                "agents": agents,
                "errors": [],
                "warnings": warnings,
            }
        )
        if not args.json:
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
            print(f"{stack}: valid ({len(spec.teams)} teams, {agents} agents)")
    valid = all(r["valid"] for r in results)
    if args.json:
        print(json.dumps({"valid": valid, "stacks": results}, indent=2))
    return EXIT_OK if valid else EXIT_INVALID
