"""The `agentplane` command: validate, plan, diff, catalog, onboard (and pr-diff for CI).

Exit status (every subcommand):
  0  success (diff and pr-diff: also when there are changes, unless --exit-code)
  1  invalid configuration, or a plan/comparison that failed
  2  usage error (bad arguments, missing or mistyped directory, plans of two different stacks)
  3  diff/pr-diff with --exit-code: the plans differ
  4  diff/pr-diff: the change deletes a protected team (or protected platform objects); blocked
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata

# The exit statuses above, shared by every subcommand (tests import them from here).
from agentplane.command import EXIT_BLOCKED, EXIT_CHANGES, EXIT_INVALID, EXIT_OK, EXIT_USAGE  # noqa: F401

# Every subcommand: its name, the module that exposes `add_arguments(parser)` and `run(args) -> int`,
# and its one-line help. A module is imported only when its subcommand runs (or for `completion`,
# which describes them all), so `agentplane --help` loads neither pydantic nor Pulumi.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("validate", "agentplane.validate", "validate the stack config and every team file"),
    ("plan", "agentplane.plan", "run the program under the mock engine and write every object"),
    ("diff", "agentplane.review.diff", "markdown of what changed between two plan directories"),
    ("catalog", "agentplane.catalog", "every team and agent per environment: tier, models, egress, budget, ..."),
    ("completion", "agentplane.completion", "print a shell completion script (bash or zsh)"),
    ("onboard", "agentplane.onboard", "write a valid starter team file"),
    (
        "pr-diff",
        "agentplane.review.prdiff",
        "compare two git refs' offline plans per stack, as markdown for a pull-request comment",
    ),
)


def version() -> str:
    try:
        return metadata.version("agentplane")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "unknown"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, the arguments of that subcommand alone (every name is listed)."""
    parser = argparse.ArgumentParser(
        prog="agentplane", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"agentplane {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module, help_text in COMMANDS:
        command = sub.add_parser(name, help=help_text)
        if only is None or only == name:
            command_module = importlib.import_module(module)
            command_module.add_arguments(command)
            command.set_defaults(func=command_module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The top level has options without values only, so the first other word names the subcommand.
    named = next((word for word in argv if not word.startswith("-")), "")
    args = build_parser(only=named).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
