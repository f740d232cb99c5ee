"""`agentplane onboard`: a valid, commented starter team file, so a team's first pull request is small."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from agentplane.command import EXIT_OK, EXIT_USAGE, report
from agentplane.errors import ConfigError

# The editor schema, relative to stacks/teams/<team>.yaml (python -m agentplane.schema --write).
SCHEMA_LINE = "# yaml-language-server: $schema=../../schemas/team.schema.json"
EXAMPLE_AGENT = "assistant"
_PLAIN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _scalar(value: str) -> str:
    """A YAML scalar for `value`: plain when it is a simple name, else double-quoted (JSON is YAML)."""
    return value if _PLAIN.match(value) else json.dumps(value)


def starter_team(team: str, owner: str, environment: str, tier: str) -> str:
    name, group, env, tier_name = (_scalar(v) for v in (team, owner, environment, tier))
    return f"""{SCHEMA_LINE}
# Team {team}: changed by pull request and reviewed by the platform team. Reference: docs/teams.md.
# Check it before opening the pull request:
#   agentplane validate --stack {environment}
#   agentplane plan --stack {environment}

# Must equal the file name (a DNS label, at most 40 characters).
name: {name}
# Identity-provider groups that administer the team's namespace, and groups that may edit in it.
owners: [{group}]
members: []
# Only these environments get the team; the tier is the team's ceiling there.
environments:
  {env}: {{tier: {tier_name}}}
# Each agent is a ServiceAccount of that name in the team's namespace: its workload identity.
# Rename it, and run the agent's pods with `serviceAccountName: {EXAMPLE_AGENT}`.
agents:
  - name: {EXAMPLE_AGENT}
    # New agents run at the environment's lowest tier until promoted (never above the team's tier):
    # promote: {{{environment}: {tier}}}
    # Who may call the agent (absent: the owners only), and its own daily token budget:
    # access: [{team}-devs]
    # dailyTokenBudget: 100000
# Absent: every model the team's tier allows.
# models: [gpt-4o-mini]
# External domains; only agents at a tier with egress reach them.
# egress: [api.example.com]
# Absent: the tier's default.
# dailyTokenBudget: 1000000
"""


# --------------------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("team")
    parser.add_argument("--owner", required=True, help="identity-provider group that administers the team")
    parser.add_argument("--env", default="dev", help="first environment (default: dev)")
    parser.add_argument("--tier", default=None, help="tier in that environment (default: the lowest)")
    parser.add_argument("--config", type=Path, help="stack config file of --env")
    parser.add_argument("--teams", type=Path, help="team files directory (default: stacks/teams)")


def run(args: argparse.Namespace) -> int:
    from agentplane.config.base import name_problem, team_name_problem
    from agentplane.config.files import TEAMS_DIR
    from agentplane.config.load import load_from_files

    if not _known_environment(args.env, args.config):
        return EXIT_USAGE
    if args.tier is None:
        if problem := name_problem(args.env):
            print(f"error: --env: {problem}", file=sys.stderr)
            return EXIT_USAGE
        args.tier = _lowest_tier(args.env, args.config)
        if args.tier is None:
            return EXIT_USAGE
    # The team name becomes a file name: check it before touching the file system, so
    # `onboard ../../x` or `onboard /etc/x` never writes outside the teams directory.
    for what, problem in (
        ("team", team_name_problem(args.team)),
        ("--owner", name_problem(args.owner)),
        ("--tier", name_problem(args.tier)),
        ("--env", name_problem(args.env)),
    ):
        if problem:
            print(f"error: {what}: {problem}", file=sys.stderr)
            return EXIT_USAGE
    teams_dir: Path = args.teams or Path(TEAMS_DIR)
    target = teams_dir / f"{args.team}.yaml"
    text = starter_team(args.team, args.owner, args.env, args.tier)
    teams_dir.mkdir(parents=True, exist_ok=True)
    try:
        # Never overwrite, never follow a symlink planted at the target.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        print(f"error: {target} already exists; edit it instead", file=sys.stderr)
        return EXIT_USAGE
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    # The starter must pass the same validation a pull request will; never leave an invalid file.
    try:
        load_from_files(args.env, args.config, teams_dir)
    except ConfigError as exc:
        ours = [i for i in exc.issues if Path(i.file).name == target.name]
        if ours:
            target.unlink()
            return report(ConfigError(ours))
    print(
        f"wrote {target}; next:\n"
        f"  1. edit it (owners, agents, models, egress: see docs/teams.md)\n"
        f"  2. agentplane validate --stack {args.env}\n"
        f"  3. agentplane plan --stack {args.env}     (what your team gets, offline)\n"
        f"  4. open a pull request with it; CI posts the plan diff and the per-team review summary"
    )
    return EXIT_OK


def _known_environment(env: str, config: Path | None) -> bool:
    """A team file may only name environments that have a stack config; say which exist."""
    from agentplane.config.files import STACKS_DIR, known_environments

    if config is not None or env in known_environments(Path(STACKS_DIR)):
        return True
    known = ", ".join(sorted(known_environments(Path(STACKS_DIR)))) or "none"
    print(
        f"error: there is no environment {env!r}: a team file may only name environments that have a "
        f"{STACKS_DIR}/Pulumi.<env>.yaml (here: {known}). Pass --env with one of them; a new "
        f"environment is added by the platform team (docs/operations.md).",
        file=sys.stderr,
    )
    return False


def _lowest_tier(env: str, config: Path | None) -> str | None:
    from agentplane import safeyaml
    from agentplane.config.files import env_config_from_stack_document, stack_config_path

    path = config or stack_config_path(Path.cwd(), env)
    try:
        raw = env_config_from_stack_document(safeyaml.load_file(path), str(path))
        return raw["tiers"][0]["name"]
    except (OSError, KeyError, IndexError, TypeError, safeyaml.UnsafeYAML, ConfigError):
        print(f"error: cannot read the tiers of {env} from {path}; pass --tier", file=sys.stderr)
        return None
