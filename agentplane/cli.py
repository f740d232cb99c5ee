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
import json
import sys
from importlib import metadata
from pathlib import Path

from agentplane.errors import ConfigError

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_CHANGES, EXIT_BLOCKED = 0, 1, 2, 3, 4
STACKS_DIR = Path("stacks")


def version() -> str:
    try:
        return metadata.version("agentplane")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "unknown"


def _stack_arguments(parser: argparse.ArgumentParser, *, all_stacks: bool = False) -> None:
    if all_stacks:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--stack", help="environment (stack) name, e.g. dev")
        which.add_argument("--all-stacks", action="store_true",
                           help="every stack with a stacks/Pulumi.<stack>.yaml")
    else:
        parser.add_argument("--stack", required=True, help="environment (stack) name, e.g. dev")
    parser.add_argument("--config", type=Path, help="stack config file (default: stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--teams", type=Path, help="team files directory (default: stacks/teams)")


def _report(exc: ConfigError) -> int:
    print(exc.render(), file=sys.stderr)
    return EXIT_INVALID


class UsageError(Exception):
    pass


def _selected_stacks(args: argparse.Namespace) -> list[str]:
    if not getattr(args, "all_stacks", False):
        return [args.stack]
    if args.config is not None:
        raise UsageError("--config names one stack's file; it cannot be combined with --all-stacks")
    from agentplane.config.files import known_environments

    stacks = sorted(known_environments(STACKS_DIR))
    if not stacks:
        raise UsageError(f"no {STACKS_DIR}/Pulumi.<stack>.yaml in {Path.cwd()}: run from the project root")
    return stacks


def _issues_json(exc: ConfigError) -> list[dict[str, str]]:
    return [{"file": i.file, "field": i.field, "message": i.message} for i in exc.issues]


def cmd_validate(args: argparse.Namespace) -> int:
    # The same run as `plan` without writing: every name the program derives is checked too.
    from agentplane.lint import ineffective_settings
    from agentplane.plan import run_program

    try:
        stacks = _selected_stacks(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    results = []
    for stack in stacks:
        try:
            spec = run_program(stack, config=args.config, teams=args.teams).spec
        except ConfigError as exc:
            results.append({"stack": stack, "valid": False, "errors": _issues_json(exc), "warnings": []})
            if not args.json:
                if len(stacks) > 1:  # one stack: the report alone, exactly what `plan` prints
                    print(f"{stack}: invalid", file=sys.stderr)
                _report(exc)
            continue
        warnings = [*spec.warnings, *ineffective_settings(spec)]
        agents = sum(len(t.agents) for t in spec.teams)
        results.append({"stack": stack, "valid": True, "teams": len(spec.teams), "agents": agents,
                        "errors": [], "warnings": warnings})
        if not args.json:
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
            print(f"{stack}: valid ({len(spec.teams)} teams, {agents} agents)")
    valid = all(r["valid"] for r in results)
    if args.json:
        print(json.dumps({"valid": valid, "stacks": results}, indent=2))
    return EXIT_OK if valid else EXIT_INVALID


def cmd_plan(args: argparse.Namespace) -> int:
    from agentplane.plan import run_program, summary, write_plan

    try:
        plan = run_program(args.stack, config=args.config, teams=args.teams)
        out = args.out or Path("build/plan") / args.stack
        files = write_plan(plan, out)
    except ConfigError as exc:
        return _report(exc)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        from agentplane.plan import summary_document

        print(json.dumps({**summary_document(plan), "out": str(out), "objects": len(files)}, indent=2))
        return EXIT_OK
    print(summary(plan))
    if args.summary:
        from agentplane.summary import render_text, summarize

        print("\n" + render_text(summarize(plan.spec)))
    print(f"\nwrote {len(files)} objects and plan.json to {out}")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from agentplane.diff import DiffError, diff_dirs_result, render_markdown, to_json

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
            from agentplane.summary import protected_removal_message

            print(f"error: {protected_removal_message(result.stack, team)}", file=sys.stderr)
        return EXIT_BLOCKED
    if args.exit_code and result.changes:
        return EXIT_CHANGES
    return EXIT_OK


def cmd_catalog(args: argparse.Namespace) -> int:
    from agentplane import catalog
    from agentplane.builders.provenance import provenance_policy_name
    from agentplane.config.load import load_from_files

    try:
        stacks = _selected_stacks(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    table: list[dict] = []
    problems: list[str] = []
    for stack in stacks:
        try:
            spec = load_from_files(stack, args.config, args.teams)
        except ConfigError as exc:
            return _report(exc)
        rows = catalog.rows(spec)
        if args.live:
            cluster = catalog.Cluster(spec.env.cluster.context, spec.env.cluster.kubeconfig)
            try:
                pods, reports = catalog.fetch_live(cluster)
            except catalog.LiveError as exc:
                problems.append(f"{stack}: {exc}")
                rows = [{**r, "workload": "unknown (cluster unreachable)", "image provenance": "unknown"}
                        if r["agent"] else r for r in rows]
            else:
                policies = [provenance_policy_name(mode) for mode in ("audit", "enforce")]
                rows = catalog.add_live(rows, catalog.live_state(pods, reports, policies))
        table += rows
    if args.json:
        print(json.dumps(catalog.to_json(table), indent=2))
    else:
        print(catalog.render_table(table, live=args.live))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_INVALID if problems else EXIT_OK


def cmd_completion(args: argparse.Namespace) -> int:
    from agentplane.completion import script

    print(script(build_parser(), args.shell))
    return EXIT_OK


def cmd_onboard(args: argparse.Namespace) -> int:
    import os

    from agentplane.onboard import starter_team
    from agentplane.config.base import name_problem, team_name_problem
    from agentplane.config.load import load_from_files

    # The team name becomes a file name: check it before touching the file system, so
    # `onboard ../../x` or `onboard /etc/x` never writes outside the teams directory.
    for what, problem in (("team", team_name_problem(args.team)), ("--owner", name_problem(args.owner)), ("--tier", name_problem(args.tier)), ("--env", name_problem(args.env))):
        if problem:
            print(f"error: {what}: {problem}", file=sys.stderr)
            return EXIT_USAGE
    teams_dir: Path = args.teams or Path("stacks/teams")
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
            return _report(ConfigError(ours))
    print(f"wrote {target}; next:\n"
          f"  1. edit it (owners, agents, models, egress: see docs/teams.md)\n"
          f"  2. agentplane validate --stack {args.env}\n"
          f"  3. agentplane plan --stack {args.env}     (what your team gets, offline)\n"
          f"  4. open a pull request with it; CI posts the plan diff and the per-team review summary")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentplane", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"agentplane {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate the stack config and every team file")
    _stack_arguments(p, all_stacks=True)
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="run the program under the mock engine and write every object")
    _stack_arguments(p)
    p.add_argument("--out", type=Path, help="output directory (default: build/plan/<stack>)")
    p.add_argument("--json", action="store_true", help="print the plan summary as JSON")
    p.add_argument("--summary", action="store_true",
                   help="also print the per-team review summary (tier, models, egress, budget, access, ...)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("diff", help="markdown of what changed between two plan directories")
    p.add_argument("old", type=Path, help="plan directory before the change (an empty directory: no plan)")
    p.add_argument("new", type=Path, help="plan directory after the change")
    p.add_argument("--json", action="store_true", help="machine-readable changes on stdout")
    p.add_argument("--exit-code", action="store_true", help=f"exit {EXIT_CHANGES} when the plans differ")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("catalog", help="every team and agent per environment: tier, models, egress, budget, ...")
    _stack_arguments(p, all_stacks=True)
    p.add_argument("--json", action="store_true", help="machine-readable rows on stdout")
    p.add_argument("--live", action="store_true",
                   help="ask the stack's cluster (kubectl) for each agent's workload health and image provenance")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("completion", help="print a shell completion script (bash or zsh)")
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(func=cmd_completion)

    p = sub.add_parser("onboard", help="write a valid starter team file")
    p.add_argument("team")
    p.add_argument("--owner", required=True, help="identity-provider group that administers the team")
    p.add_argument("--env", default="dev", help="first environment (default: dev)")
    p.add_argument("--tier", default=None, help="tier in that environment (default: the lowest)")
    p.add_argument("--config", type=Path, help="stack config file of --env")
    p.add_argument("--teams", type=Path, help="team files directory (default: stacks/teams)")
    p.set_defaults(func=cmd_onboard)

    # Optional subcommands living in their own modules (add_arguments/run).
    for command, module in (("pr-diff", "agentplane.prdiff"),):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        p = sub.add_parser(command, help=(mod.__doc__ or "").strip().splitlines()[0] if mod.__doc__ else None)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "onboard" and not _known_environment(args.env, args.config):
        return EXIT_USAGE
    if args.command == "onboard" and args.tier is None:
        from agentplane.config.base import name_problem

        if problem := name_problem(args.env):
            print(f"error: --env: {problem}", file=sys.stderr)
            return EXIT_USAGE
        args.tier = _lowest_tier(args.env, args.config)
        if args.tier is None:
            return EXIT_USAGE
    return args.func(args)


def _known_environment(env: str, config: Path | None) -> bool:
    """A team file may only name environments that have a stack config; say which exist."""
    from agentplane.config.files import known_environments

    if config is not None or env in known_environments(STACKS_DIR):
        return True
    known = ", ".join(sorted(known_environments(STACKS_DIR))) or "none"
    print(f"error: there is no environment {env!r}: a team file may only name environments that have a "
          f"{STACKS_DIR}/Pulumi.<env>.yaml (here: {known}). Pass --env with one of them; a new "
          f"environment is added by the platform team (docs/operations.md).", file=sys.stderr)
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


if __name__ == "__main__":
    raise SystemExit(main())
