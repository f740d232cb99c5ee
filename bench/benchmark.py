"""Plan cost per team, against a floor measured in the same run.

For N synthetic teams (default 10, 100, 1000) the whole offline plan of a stack is timed
(validation, builders, components, mock engine). The floor is the same number of bare
resources registered under the same recording mock engine: what the engine alone costs.
A second reference, `replay`, registers the very same resources with the same inputs but
flat, with no validation, builders or components: plan/replay is the project's own
overhead, replay/floor what the Pulumi SDK spends serializing real inputs.
Reported: ms per team, resources per team, the ratios, and plan(1000)/plan(100) for
linearity. Figures are ratios from one run: machines are noisy, absolute times are not.

    .venv/bin/python bench/benchmark.py [--teams 10 100 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentplane.engine import Registration, engine_config, run_under_mocks  # noqa: E402
from agentplane.plan import run_program  # noqa: E402

STACK = "dev"


def synthetic_team(index: int) -> str:
    name = f"team-{index:04d}"
    return (
        f"name: {name}\n"
        f"owners: [{name}-admins]\n"
        f"members: [{name}-devs]\n"
        "environments:\n"
        "  dev: {tier: standard}\n"
        "agents:\n"
        "  - name: planner\n"
        "    promote: {dev: standard}\n"
        f"    access: [{name}-devs]\n"
        "  - name: worker\n"
        "models: [gpt-4o-mini, gpt-4o]\n"
        "egress: [api.github.com]\n"
    )


def make_project(teams: int, into: Path) -> Path:
    (into / "stacks" / "teams").mkdir(parents=True)
    shutil.copy(ROOT / "stacks" / f"Pulumi.{STACK}.yaml", into / "stacks")
    for i in range(teams):
        (into / "stacks" / "teams" / f"team-{i:04d}.yaml").write_text(synthetic_team(i), encoding="utf-8")
    return into


def time_plan(project: Path) -> tuple[float, list[Registration]]:
    started = time.perf_counter()
    plan = run_program(STACK, root=project)
    elapsed = time.perf_counter() - started
    return elapsed, [r for r in plan.registrations if r.custom]


def time_replay(resources: list[Registration]) -> float:
    """The plan's own resources and inputs, registered flat: no validation, builders or components."""
    import pulumi

    def register_flat() -> None:
        for i, r in enumerate(resources):
            pulumi.CustomResource(r.type, f"replay-{i}", r.inputs)

    config, secret_keys = engine_config({})
    started = time.perf_counter()
    run_under_mocks(STACK, config, secret_keys, register_flat)
    return time.perf_counter() - started


def time_floor(resources: int) -> float:
    """The same number of bare custom resources through the same mock engine."""
    import pulumi

    def register_bare() -> None:
        for i in range(resources):
            pulumi.CustomResource("agentplane:bench:Bare", f"bare-{i}", {})

    config, secret_keys = engine_config({})
    started = time.perf_counter()
    run_under_mocks(STACK, config, secret_keys, register_bare)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the best is kept")
    args = parser.parse_args()

    results: dict[int, tuple[float, float, int]] = {}
    print(
        f"{'teams':>6} {'resources':>10} {'res/team':>9} {'plan ms':>9} {'ms/team':>8}"
        f" {'floor ms':>9} {'replay ms':>10} {'plan/floor':>11} {'plan/replay':>12} {'replay/floor':>13}"
    )
    for teams in args.teams:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(teams, Path(tmp))
            runs = [time_plan(project) for _ in range(args.repeat)]
        plan_s = min(t for t, _ in runs)
        registered = runs[0][1]
        resources = len(registered)
        floor_s = min(time_floor(resources) for _ in range(args.repeat))
        replay_s = min(time_replay(registered) for _ in range(args.repeat))
        results[teams] = (plan_s, floor_s, resources)
        print(
            f"{teams:>6} {resources:>10} {resources / teams:>9.1f} {plan_s * 1e3:>9.0f} {plan_s * 1e3 / teams:>8.2f}"
            f" {floor_s * 1e3:>9.0f} {replay_s * 1e3:>10.0f} {plan_s / floor_s:>11.2f} {plan_s / replay_s:>12.2f}"
            f" {replay_s / floor_s:>13.2f}"
        )
    if 100 in results and 1000 in results:
        ratio = results[1000][0] / results[100][0]
        resources_ratio = results[1000][2] / results[100][2]
        print(
            f"plan(1000)/plan(100) = {ratio:.2f} (resources grew {resources_ratio:.2f}x; linear is "
            f"~{resources_ratio:.1f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
