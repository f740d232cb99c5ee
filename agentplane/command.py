"""What the subcommands share: exit statuses (agentplane.cli lists them), the stack arguments,
the choice of stacks and the report of invalid configuration. Standard library only, so building
the parser imports nothing heavy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agentplane.errors import ConfigError

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_CHANGES, EXIT_BLOCKED = 0, 1, 2, 3, 4


class UsageError(Exception):
    pass


def stack_arguments(parser: argparse.ArgumentParser, *, all_stacks: bool = False) -> None:
    if all_stacks:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--stack", help="environment (stack) name, e.g. dev")
        which.add_argument("--all-stacks", action="store_true", help="every stack with a stacks/Pulumi.<stack>.yaml")
    else:
        parser.add_argument("--stack", required=True, help="environment (stack) name, e.g. dev")
    parser.add_argument("--config", type=Path, help="stack config file (default: stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--teams", type=Path, help="team files directory (default: stacks/teams)")


def report(exc: ConfigError) -> int:
    print(exc.render(), file=sys.stderr)
    return EXIT_INVALID


def selected_stacks(args: argparse.Namespace) -> list[str]:
    if not getattr(args, "all_stacks", False):
        return [args.stack]
    if args.config is not None:
        raise UsageError("--config names one stack's file; it cannot be combined with --all-stacks")
    from agentplane.config.files import STACKS_DIR, known_environments

    stacks = sorted(known_environments(Path(STACKS_DIR)))
    if not stacks:
        raise UsageError(f"no {STACKS_DIR}/Pulumi.<stack>.yaml in {Path.cwd()}: run from the project root")
    return stacks


def issues_json(exc: ConfigError) -> list[dict[str, str]]:
    return [{"file": i.file, "field": i.field, "message": i.message} for i in exc.issues]
