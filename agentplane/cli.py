"""The `agentplane` command: validate, plan, diff, onboard (and pr-diff for CI)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from agentplane.errors import ConfigError

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="environment (stack) name, e.g. dev")
    parser.add_argument("--config", type=Path, help="stack config file (default: stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--teams", type=Path, help="team files directory (default: stacks/teams)")


def _report(exc: ConfigError) -> int:
    print(exc.render(), file=sys.stderr)
    return EXIT_INVALID


def cmd_validate(args: argparse.Namespace) -> int:
    # The same run as `plan` without writing: every name the program derives is checked too.
    from agentplane.plan import run_program

    try:
        spec = run_program(args.stack, config=args.config, teams=args.teams).spec
    except ConfigError as exc:
        return _report(exc)
    for warning in spec.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    agents = sum(len(t.agents) for t in spec.teams)
    print(f"{args.stack}: valid ({len(spec.teams)} teams, {agents} agents)")
    return EXIT_OK


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
    print(summary(plan))
    print(f"\nwrote {len(files)} objects and plan.json to {out}")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from agentplane.diff import diff_dirs

    try:
        markdown, _ = diff_dirs(args.old, args.new)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(markdown)
    return EXIT_OK


def cmd_onboard(args: argparse.Namespace) -> int:
    import os

    from agentplane.onboard import starter_team
    from agentplane.spec.base import name_problem, team_name_problem
    from agentplane.spec.load import load_from_files

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
    print(f"wrote {target}; next: open a pull request with it")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentplane", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate the stack config and every team file")
    _stack_arguments(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="run the program under the mock engine and write every object")
    _stack_arguments(p)
    p.add_argument("--out", type=Path, help="output directory (default: build/plan/<stack>)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("diff", help="markdown of what changed between two plan directories")
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.set_defaults(func=cmd_diff)

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
    if args.command == "onboard" and args.tier is None:
        from agentplane.spec.base import name_problem

        if problem := name_problem(args.env):
            print(f"error: --env: {problem}", file=sys.stderr)
            return EXIT_USAGE
        args.tier = _lowest_tier(args.env, args.config)
        if args.tier is None:
            return EXIT_USAGE
    return args.func(args)


def _lowest_tier(env: str, config: Path | None) -> str | None:
    from agentplane import safeyaml
    from agentplane.spec.load import env_config_from_stack_document, stack_config_path

    path = config or stack_config_path(Path.cwd(), env)
    try:
        raw = env_config_from_stack_document(safeyaml.load_file(path), str(path))
        return raw["tiers"][0]["name"]
    except (OSError, KeyError, IndexError, TypeError, safeyaml.UnsafeYAML, ConfigError):
        print(f"error: cannot read the tiers of {env} from {path}; pass --tier", file=sys.stderr)
        return None


if __name__ == "__main__":
    raise SystemExit(main())
