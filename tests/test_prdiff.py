"""`agentplane pr-diff`: pure helpers, the worktree mechanics, and the real program end to end."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from agentplane.review import prdiff
from agentplane.review.prdiff import BASE, HEAD, Failure, RefInfo, StackResult

ROOT = Path(__file__).resolve().parents[1]
# What a checkout needs to plan: the program, its inputs and its packaging.
PROJECT_PARTS = ("agentplane", "components", "policies", "stacks", "Pulumi.yaml", "pyproject.toml", "__main__.py")
NEW_TEAM = "prdiff-probe"
BROKEN_TEAM = "prdiff-broken"

BASE_REF = RefInfo("main", "a" * 40)
HEAD_REF = RefInfo("HEAD", "b" * 40)


# --------------------------------------------------------------------------- helpers


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=agentplane tests",
            "-c",
            "user.email=tests@agentplane.invalid",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def args_for(repo: Path, base: str, head: str = "HEAD", stacks=None, out: Path | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    prdiff.add_arguments(parser)
    argv = ["--base", base, "--head", head, "--repo", str(repo)]
    for stack in stacks or ():
        argv += ["--stack", stack]
    if out:
        argv += ["--out", str(out)]
    return parser.parse_args(argv)


def worktrees(repo: Path) -> list[str]:
    return [line for line in git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def plan_files(plan: Path | None) -> dict[str, bytes]:
    if plan is None:
        return {}
    return {
        str(p.relative_to(plan)): p.read_bytes()
        for p in sorted(plan.rglob("*"))
        if p.is_file() and p.name != "plan.json"
    }


# --------------------------------------------------------------------------- pure helpers


def test_argument_defaults():
    parser = argparse.ArgumentParser()
    prdiff.add_arguments(parser)
    args = parser.parse_args(["--base", "origin/main"])
    # No --head: HEAD plus the working tree's uncommitted changes.
    assert (args.base, args.head, args.stacks, args.out, args.repo) == ("origin/main", None, None, None, ".")
    args = parser.parse_args(["--base", "x", "--stack", "dev", "--stack", "prod"])
    assert args.stacks == ["dev", "prod"]
    with pytest.raises(SystemExit):
        parser.parse_args([])  # --base is required


def test_stack_names_only_top_level_stack_files():
    paths = [
        "stacks/Pulumi.prod.yaml",
        "stacks/teams",
        "stacks/Pulumi.dev.yaml",
        "stacks/README.md",
        "stacks/teams/Pulumi.x.yaml",
        "stacks/Pulumi.dev.yaml",
        "Pulumi.yaml",
    ]
    assert prdiff.stack_names(paths) == ["dev", "prod"]


def test_fence_cannot_be_broken_by_backticks():
    block = prdiff.fence("before\n```\nstill inside\n````\nend")
    first, *_, last = block.splitlines()
    assert first == "`````text" and last == "`````"
    assert prdiff.fence("plain").startswith("```text\n")


def test_tail_keeps_the_end_and_says_what_it_cut():
    text = "\n".join(f"line {i}" for i in range(500))
    cut = prdiff.tail(text, max_lines=10)
    assert cut.splitlines()[0] == "[... 490 earlier line(s) omitted ...]"
    assert cut.endswith("line 499")
    assert prdiff.tail("short") == "short"
    assert len(prdiff.tail("x" * 50 + "\n" + "y" * 50, max_chars=60)) < 100


def test_strip_ansi():
    assert prdiff.strip_ansi("\x1b[31merror\x1b[0m: bad\x1b[1;33m!") == "error: bad!"


def test_demote_headings_nests_an_embedded_document_and_skips_code():
    md = "# Team a\n\n## Component x\n\n```\n# not a heading\n```\n\ntext #1\n###### deep\n"
    out = prdiff.demote_headings(md, 4)
    assert out.splitlines() == [
        "#### Team a",
        "",
        "##### Component x",
        "",
        "```",
        "# not a heading",
        "```",
        "",
        "text #1",
        "###### deep",
    ]
    assert out.endswith("\n")
    assert prdiff.demote_headings("#### already deep\n", 4) == "#### already deep\n"
    assert prdiff.demote_headings("no headings", 4) == "no headings"


def test_diff_summary_is_the_opening_heading_that_names_the_stack():
    assert (
        prdiff.diff_summary("dev", "\n#### `dev`: 12 to add, 0 to change, 0 to remove\n\n- x")
        == "12 to add, 0 to change, 0 to remove"
    )
    assert prdiff.diff_summary("dev", "## dev: nothing to do") == "nothing to do"
    assert prdiff.diff_summary("dev", "# Changes\n- added x") is None
    assert prdiff.diff_summary("dev", "- added x") is None
    assert prdiff.diff_summary("dev", None) is None


def test_exit_code_fails_only_for_head_or_diff_failures():
    ok = StackResult("dev", True, True, diff="x")
    base_broken = StackResult("dev", True, True, diff="x", failures=(Failure(BASE, "plan", "boom"),))
    head_broken = StackResult("dev", True, True, failures=(Failure(HEAD, "plan", "boom"),))
    diff_broken = StackResult("dev", True, True, failures=(Failure("diff", "diff", "boom"),))
    assert prdiff.exit_code([ok, base_broken]) == 0
    assert prdiff.exit_code([ok, head_broken]) == 1
    assert prdiff.exit_code([diff_broken]) == 1


def test_render_report_sections():
    results = [
        StackResult("dev", True, True, diff="# team-a\n\n## tenant\n\n- added Namespace/team-a\n"),
        StackResult(
            "prod",
            True,
            True,
            failures=(
                Failure(
                    HEAD,
                    "python -m agentplane plan --stack prod --out <tmp>/head/prod",
                    "\x1b[31m1 configuration error(s):\n  - stacks/teams/x.yaml: owners: too short\x1b[0m",
                ),
            ),
        ),
        StackResult("qa", False, True, diff="- added Namespace/team-a\n"),
        StackResult("old", True, False, diff="- removed Namespace/team-a\n"),
        StackResult("staging", True, True, diff="", failures=(Failure(BASE, "python -m agentplane plan", "old bug"),)),
        StackResult("test", True, True, diff="## `test`: 1 to add, 0 to change, 0 to remove\n\n- added x\n"),
        StackResult(
            "typo", False, False, failures=(Failure(HEAD, "", "There is no stacks/Pulumi.typo.yaml in either ref."),)
        ),
    ]
    md = prdiff.render_report(BASE_REF, HEAD_REF, results)
    assert md.startswith("## agentplane plan diff\n")
    assert "Base `aaaaaaaaaaaa` (`main`) → head `bbbbbbbbbbbb` (`HEAD`)" in md
    for row in (
        "| `dev` | planned |",
        "| `prod` | ❌ plan failed on head |",
        "| `qa` | new stack |",
        "| `old` | stack removed |",
        "| `staging` | ⚠️ base did not plan, no changes |",
        "| `test` | 1 to add, 0 to change, 0 to remove |",
        "| `typo` | ❌ plan failed on head |",
    ):
        assert row in md
    for stack in ("dev", "prod", "qa", "old", "staging", "typo"):
        assert f"### Stack `{stack}`" in md
    # The diff's own headings sit under the stack heading.
    assert "#### team-a" in md and "##### tenant" in md
    # The failing stack shows its error in a code block, without terminal colours.
    assert "does not plan for `prod`" in md
    assert "```text\n1 configuration error(s):\n  - stacks/teams/x.yaml: owners: too short\n```" in md
    assert "\x1b" not in md
    assert "every object below is added" in md
    assert "every object below is shown as removed" in md
    assert "<summary>Base plan error</summary>" in md and "old bug" in md
    assert "_No changes._" in md
    assert "**There is no stacks/Pulumi.typo.yaml in either ref.**" in md


# --------------------------------------------------------------------------- worktree mechanics (stub program)

# A stand-in `agentplane` package: `plan` writes one file per team file, stamped with the
# code's VERSION, and fails on a team file that says "invalid"; `diff` lists what changed.
STUB_MAIN = """
import json, pathlib, sys
VERSION = {version!r}
cmd, *rest = sys.argv[1:]
if cmd == "plan":
    stack, out = rest[rest.index("--stack") + 1], pathlib.Path(rest[rest.index("--out") + 1])
    out.mkdir(parents=True, exist_ok=True)
    teams = sorted(pathlib.Path("stacks/teams").glob("*.yaml"))
    for team in teams:
        if "invalid" in team.read_text():
            sys.exit(f"1 configuration error(s):\\n  - {{team.as_posix()}}: not a valid team file")
        (out / f"{{team.stem}}.yaml").write_text(f"team: {{team.stem}}\\nstack: {{stack}}\\ncode: {{VERSION}}\\n")
    (out / "plan.json").write_text(json.dumps([t.stem for t in teams]))
elif cmd == "diff":
    old, new = (pathlib.Path(p) for p in rest[:2])
    def files(d):
        return {{p.name: p.read_text() for p in d.glob("*.yaml")}}
    o, n = files(old), files(new)
    print("# Changes")
    for name in sorted(n.keys() - o.keys()):
        print(f"- added {{name}}")
    for name in sorted(o.keys() - n.keys()):
        print(f"- removed {{name}}")
    for name in sorted(o.keys() & n.keys()):
        if o[name] != n[name]:
            print(f"- changed {{name}}")
else:
    sys.exit(f"unknown command {{cmd}}")
"""


def write_stub(repo: Path, version: str) -> None:
    pkg = repo / "agentplane"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(STUB_MAIN.format(version=version))


@pytest.fixture
def stub_repo(tmp_path):
    repo = init_repo(tmp_path / "repo")
    write_stub(repo, "v1")
    (repo / "stacks" / "teams").mkdir(parents=True)
    (repo / "stacks" / "Pulumi.dev.yaml").write_text("config: {}\n")
    (repo / "stacks" / "Pulumi.prod.yaml").write_text("config: {}\n")
    (repo / "stacks" / "teams" / "alpha.yaml").write_text("name: alpha\n")
    base = commit_all(repo, "base")
    return repo, base


def test_each_ref_is_planned_with_its_own_code(stub_repo, tmp_path):
    repo, base = stub_repo
    write_stub(repo, "v2")  # the program changed ...
    (repo / "stacks" / "teams" / "beta.yaml").write_text("name: beta\n")  # ... and a team was added
    (repo / "stacks" / "Pulumi.prod.yaml").unlink()  # ... and a stack deleted
    (repo / "stacks" / "Pulumi.qa.yaml").write_text("config: {}\n")  # ... and one added
    commit_all(repo, "head")
    out = tmp_path / "out" / "diff.md"

    code = prdiff.run(args_for(repo, base, out=out))

    md = out.read_text()
    assert code == 0, md
    assert [line for line in md.splitlines() if line.startswith("| `")] == [
        "| `dev` | planned |",
        "| `prod` | stack removed |",
        "| `qa` | new stack |",
    ]
    dev = md.split("### Stack `dev`")[1].split("### Stack")[0]
    assert "- added beta.yaml" in dev and "- changed alpha.yaml" in dev  # v1 -> v2 stamps every file
    prod = md.split("### Stack `prod`")[1].split("### Stack")[0]
    assert "- removed alpha.yaml" in prod
    qa = md.split("### Stack `qa`")[1]
    assert "- added alpha.yaml" in qa and "- added beta.yaml" in qa
    assert len(worktrees(repo)) == 1, "temporary worktrees must be removed"


def test_invalid_head_fails_with_the_error_in_the_markdown(stub_repo, capsys):
    repo, base = stub_repo
    (repo / "stacks" / "teams" / "broken.yaml").write_text("name: broken  # invalid\n")
    commit_all(repo, "head")

    code = prdiff.run(args_for(repo, base, stacks=["dev"]))

    md = capsys.readouterr().out
    assert code == 1
    assert "| `dev` | ❌ plan failed on head |" in md
    assert "```text\n1 configuration error(s):\n  - stacks/teams/broken.yaml: not a valid team file\n```" in md
    assert len(worktrees(repo)) == 1


def test_worktrees_are_removed_when_comparing_raises(stub_repo, tmp_path, monkeypatch):
    repo, base = stub_repo

    def explode(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(prdiff, "_compare_stack", explode)
    ref = prdiff.resolve_ref(repo, base)
    with pytest.raises(RuntimeError):
        prdiff.compare(repo, ref, ref, ["dev"], tmp_path / "work")
    assert len(worktrees(repo)) == 1
    assert not (tmp_path / "work" / "worktrees" / "base").exists()


def test_unknown_ref_is_a_usage_error(stub_repo, capsys):
    repo, _ = stub_repo
    assert prdiff.run(args_for(repo, "no-such-ref")) == 2
    assert "'no-such-ref' is not a commit" in capsys.readouterr().err


def test_not_a_repository_is_a_usage_error(tmp_path, capsys):
    assert prdiff.run(args_for(tmp_path, "main")) == 2
    assert "agentplane pr-diff: git rev-parse --git-dir failed" in capsys.readouterr().err


def test_unknown_stack_fails(stub_repo, capsys):
    repo, base = stub_repo
    assert prdiff.run(args_for(repo, base, stacks=["nope"])) == 1
    assert "There is no stacks/Pulumi.nope.yaml in either ref." in capsys.readouterr().out


# --------------------------------------------------------------------------- the real program
# These plan the project's own code; they need `python -m agentplane plan` and `diff`.


def copy_project(dest: Path) -> Path:
    repo = init_repo(dest)
    for part in PROJECT_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, repo / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, repo / part)
    return repo


def template_team() -> dict:
    teams = sorted((ROOT / "stacks" / "teams").glob("*.yaml"))
    assert teams, "stacks/teams/ has no team file to model a new team on"
    return yaml.safe_load(teams[0].read_text())


@pytest.fixture(scope="module")
def onboarding(tmp_path_factory):
    """A two-commit repository: the project as it is, then the same plus one new team file."""
    repo = copy_project(tmp_path_factory.mktemp("onboarding") / "repo")
    base = commit_all(repo, "the project as it is")
    team = template_team()
    # A copy under the new name, its groups too (payments-admins -> prdiff-probe-admins): a
    # group belongs to one team only.
    team = yaml.safe_load(yaml.safe_dump(team, sort_keys=False).replace(team["name"], NEW_TEAM))
    (repo / "stacks" / "teams" / f"{NEW_TEAM}.yaml").write_text(yaml.safe_dump(team, sort_keys=False))
    head = commit_all(repo, f"onboard {NEW_TEAM}")
    stacks = prdiff.list_stacks(repo, head)
    workdir = tmp_path_factory.mktemp("plans")
    results = prdiff.compare(repo, prdiff.resolve_ref(repo, base), prdiff.resolve_ref(repo, head), stacks, workdir)
    return repo, base, team, results


def test_onboarding_a_team_only_adds_that_teams_objects(onboarding):
    repo, _, team, results = onboarding
    assert results, "no stacks were compared"
    added_anywhere = False
    for result in results:
        assert not result.failures, (result.stack, [f.output for f in result.failures])
        old, new = plan_files(result.base_plan), plan_files(result.head_plan)
        assert not old.keys() - new.keys(), f"{result.stack}: objects removed by adding a team"
        added = new.keys() - old.keys()
        changed = {k for k in old.keys() & new.keys() if old[k] != new[k]}
        for name in added | changed:
            # Anything new or different must be there because of the new team.
            assert NEW_TEAM.encode() in new[name], f"{result.stack}: {name} changed, unrelated to {NEW_TEAM}"
        if result.stack in team.get("environments", {}):
            assert added, f"{result.stack}: {NEW_TEAM} is onboarded here but no object was added"
            added_anywhere = True
        else:
            assert not added and not changed, f"{result.stack}: {NEW_TEAM} is not in this environment"
        assert NEW_TEAM in (result.diff or ""), f"{result.stack}: the diff does not mention {NEW_TEAM}"
    assert added_anywhere
    assert len(worktrees(repo)) == 1


def test_pr_diff_command_on_the_onboarding_change(onboarding, tmp_path):
    repo, base, team, _ = onboarding
    stack = next(iter(team["environments"]))
    out = tmp_path / "diff.md"
    code = prdiff.run(args_for(repo, base, stacks=[stack], out=out))
    md = out.read_text()
    assert code == 0, md
    assert re.search(rf"^\| `{stack}` \| \d+ to add, \d+ to change, 0 to remove \|$", md, re.M), md
    assert NEW_TEAM in md
    assert len(worktrees(repo)) == 1


def test_invalid_team_file_on_head_fails_with_its_error(tmp_path, capsys):
    repo = copy_project(tmp_path / "repo")
    base = commit_all(repo, "the project as it is")
    team = template_team()
    team["name"] = BROKEN_TEAM
    team["notAField"] = True  # team files are strict: unknown keys are errors
    team["owners"] = []  # and a team needs an owner
    (repo / "stacks" / "teams" / f"{BROKEN_TEAM}.yaml").write_text(yaml.safe_dump(team, sort_keys=False))
    commit_all(repo, "a broken team file")

    code = prdiff.run(args_for(repo, base))

    md = capsys.readouterr().out
    assert code == 1, md
    assert "❌ plan failed on head" in md
    assert "does not plan" in md
    assert f"stacks/teams/{BROKEN_TEAM}.yaml" in md, "the error must name the file"
    assert "```text\n" in md
    assert len(worktrees(repo)) == 1


# --------------------------------------------------------------------------- working tree, progress, signals


def test_without_head_the_uncommitted_changes_are_planned(stub_repo, capsys):
    repo, base = stub_repo
    (repo / "stacks" / "teams" / "gamma.yaml").write_text("name: gamma\n")  # untracked
    (repo / "stacks" / "teams" / "alpha.yaml").unlink()  # deleted, not committed
    args = args_for(repo, base, stacks=["dev"])
    args.head = None
    assert prdiff.run(args) == 0
    captured = capsys.readouterr()
    assert "- added gamma.yaml" in captured.out and "- removed alpha.yaml" in captured.out
    assert "+ 2 uncommitted file(s)" in captured.out
    assert "uncommitted file(s) of the working tree" in captured.err
    assert len(worktrees(repo)) == 1
    # `--head HEAD`: the last commit only.
    assert prdiff.run(args_for(repo, base, stacks=["dev"])) == 0
    out = capsys.readouterr().out
    assert "gamma" not in out and "removed alpha" not in out


def test_progress_goes_to_stderr_and_quiet_silences_it(stub_repo, capsys):
    repo, base = stub_repo
    assert prdiff.run(args_for(repo, base, stacks=["dev"])) == 0
    err = capsys.readouterr().err
    assert "planning dev on head" in err and "removing the temporary worktrees" in err
    args = args_for(repo, base, stacks=["dev"])
    args.quiet = True
    assert prdiff.run(args) == 0
    assert capsys.readouterr().err == ""


def test_exit_code_flag_reports_changes(stub_repo):
    repo, base = stub_repo
    (repo / "stacks" / "teams" / "beta.yaml").write_text("name: beta\n")
    commit_all(repo, "head")
    args = args_for(repo, base, stacks=["dev"])
    assert prdiff.run(args) == 0
    args.exit_code = True
    assert prdiff.run(args) == prdiff.EXIT_CHANGES == 3


SLOW_MAIN = """
import pathlib, sys, time
pathlib.Path(sys.argv[-1]).parent.mkdir(parents=True, exist_ok=True)
pathlib.Path({marker!r}).write_text("planning")
time.sleep(120)
"""


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_removes_its_worktrees(stub_repo, tmp_path, signum):
    import os
    import signal
    import sys
    import time

    repo, base = stub_repo
    marker = tmp_path / "planning-started"
    (repo / "agentplane" / "__main__.py").write_text(SLOW_MAIN.format(marker=str(marker)))
    commit_all(repo, "a program that plans slowly")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentplane",
            "pr-diff",
            "--base",
            base,
            "--head",
            "HEAD",
            "--repo",
            str(repo),
            "--stack",
            "dev",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Generous: on a loaded machine the child's imports alone can take a minute.
    deadline = time.monotonic() + 300
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert marker.exists(), proc.communicate(timeout=30)
    assert len(worktrees(repo)) == 3, "both worktrees exist while planning"
    proc.send_signal(getattr(signal, signum))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "worktrees removed" in err
    assert len(worktrees(repo)) == 1, git(repo, "worktree", "list")
    assert not list(tmp_path.glob("agentplane-pr-diff-*")), "the temporary directory is removed"


def test_has_changes_reads_the_diff_heading():
    assert not prdiff.has_changes(StackResult("dev", True, True, diff="### `dev`: no changes\n"))
    assert prdiff.has_changes(StackResult("dev", True, True, diff="### `dev`: 1 to add, 0 to change, 0 to remove\n"))
    assert not prdiff.has_changes(StackResult("dev", True, True, diff=""))


def test_deleting_a_protected_team_blocks_the_change(tmp_path):
    import yaml as _yaml

    repo = copy_project(tmp_path / "repo")
    base = commit_all(repo, "the project as it is")
    prod = _yaml.safe_load((repo / "stacks" / "Pulumi.prod.yaml").read_text())
    assert prod["config"]["agentplane:protect"] is True, "prod must be the protected stack"
    victim = next(
        p
        for p in sorted((repo / "stacks" / "teams").glob("*.yaml"))
        if "prod" in (_yaml.safe_load(p.read_text()).get("environments") or {})
    )
    victim.unlink()
    commit_all(repo, "delete a team without offboarding it")
    out = tmp_path / "diff.md"
    args = args_for(repo, base, stacks=["prod"], out=out)
    args.quiet = True
    code = prdiff.run(args)
    md = out.read_text()
    assert code == prdiff.EXIT_BLOCKED == 4, md
    assert f"| `prod` | ❌ BLOCKED: deletes protected team `{victim.stem}`" in md
    assert f"this change deletes team `{victim.stem}` from the protected stack `prod`" in md
    assert "offboard: true" in md and "docs/teams.md" in md
    assert len(worktrees(repo)) == 1


# A base whose `plan` writes release 0.1.0's plan (tests/support/earlier_plans.py): the pull
# request that renamed the team components, as the preview workflow compares it.
PLAN_OF_0_1_0_MAIN = """
import pathlib, shutil, sys
args = sys.argv[2:]
out = pathlib.Path(args[args.index("--out") + 1])
out.mkdir(parents=True, exist_ok=True)
shutil.copy("plan-0.1.0.json", out / "plan.json")
"""


def test_renames_with_aliases_since_0_1_0_move_state_and_block_nothing(tmp_path):
    import json

    from tests.support.earlier_plans import TYPES_IN_0_1_0, plan_of_0_1_0
    from tests.support.plans import example_plan

    repo = init_repo(tmp_path / "repo")
    (repo / "stacks").mkdir()
    shutil.copy2(ROOT / "stacks" / "Pulumi.prod.yaml", repo / "stacks" / "Pulumi.prod.yaml")
    (repo / "agentplane").mkdir()
    (repo / "agentplane" / "__init__.py").write_text("")
    (repo / "agentplane" / "__main__.py").write_text(PLAN_OF_0_1_0_MAIN)
    (repo / "plan-0.1.0.json").write_text(json.dumps(plan_of_0_1_0(example_plan("prod"))))
    base = commit_all(repo, "0.1.0")
    shutil.rmtree(repo / "agentplane")
    shutil.rmtree(repo / "stacks")
    (repo / "plan-0.1.0.json").unlink()
    copy_project(repo)
    commit_all(repo, "the team components renamed, with aliases")
    out = tmp_path / "diff.md"
    args = args_for(repo, base, stacks=["prod"], out=out)
    args.quiet = True

    code = prdiff.run(args)

    md = out.read_text()
    assert code == prdiff.EXIT_OK, md
    row = re.search(r"^\| `prod` \| (?P<status>.*) \|$", md, re.M)
    assert row and re.fullmatch(
        r"0 to add, 0 to change, 0 to remove, \d+ moved to a new URN, state kept", row["status"]
    )
    assert "BLOCKED" not in md and "removed" not in md
    for new_type, old_type in TYPES_IN_0_1_0.items():
        assert f"`{old_type}` → `{new_type}`" in md
    assert len(worktrees(repo)) == 1


def test_the_stacks_directory_is_the_loaders():
    """prdiff names it itself (it imports the standard library only): the two must not drift."""
    from agentplane.config.files import STACKS_DIR

    assert prdiff.STACKS_DIR == STACKS_DIR
    assert prdiff.stack_names([f"{STACKS_DIR}/Pulumi.dev.yaml", f"{STACKS_DIR}/teams"]) == ["dev"]
