"""The preview workflow's one PR comment (agentplane/review/prcomment.py): pure composition."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentplane.review import prcomment
from agentplane.review.prcomment import PlanDiff, StackPreview

# `pulumi preview` output as older CLIs print a policy report (pkg/backend/display):
# a "Policy Violations:" header, then per violation "[level]  pack vX  policy (type: name)"
# and its indented message.
OLD_FORMAT = """\
Previewing update (staging):
    pulumi:pulumi:Stack agentplane-staging running
 +  kubernetes:apps/v1:Deployment payments-agent create
Policy Violations:
    [mandatory]  agentplane-policies v0.1.0  no-privileged-containers (kubernetes:apps/v1:Deployment: payments-agent)
    containers of tenant workloads must not be privileged
    [advisory]  agentplane-policies v0.1.0  resource-limits (kubernetes:apps/v1:Deployment: payments-agent)
    set resource limits on every container

Resources:
    + 1 to create
error: preview failed
"""

# Newer CLIs: a "Policies:" header, a line per pack, "- [level]  policy  (type: name)" under it.
NEW_FORMAT = """\
Previewing update (prod):
 ~  kubernetes:core/v1:ConfigMap settings update [diff: ~data]
Policies:
    ✅ other-pack@v1.2.0 (local: other)
    ❌ agentplane-policies@v0.1.0 (local: policies/pack)
        - [mandatory]  tenant-namespace-labels  (kubernetes:core/v1:Namespace: team-research)
          every tenant namespace must carry agentplane.io/tenant
          and agentplane.io/tier
Resources:
    ~ 1 to update
"""

CLEAN = """\
Previewing update (staging):
 ~  kubernetes:core/v1:ConfigMap settings update [diff: ~data]
Policies:
    ✅ agentplane-policies@v0.1.0 (local: policies/pack)

Resources:
    ~ 1 to update
    42 unchanged
"""

PLAN_DIFF = "## agentplane plan diff\n\n| stack | result |\n|---|---|\n| `dev` | 2 added |\n"


def ok_plan() -> PlanDiff:
    return PlanDiff(PLAN_DIFF, 0)


# --------------------------------------------------------------------------- violations


def test_violations_from_the_older_policy_report():
    violations = prcomment.policy_violations(OLD_FORMAT)
    assert [v.level for v in violations] == ["mandatory", "advisory"]
    assert violations[0].lines == (
        "[mandatory]  agentplane-policies v0.1.0  no-privileged-containers "
        "(kubernetes:apps/v1:Deployment: payments-agent)",
        "containers of tenant workloads must not be privileged",
    )
    # The report ends at the next top-level section: "Resources:" is not part of a message.
    assert not any("to create" in line for v in violations for line in v.lines)


def test_violations_from_the_newer_policy_report_name_their_pack():
    (violation,) = prcomment.policy_violations(NEW_FORMAT)
    assert violation.level == "mandatory"
    assert violation.lines[0].startswith("agentplane-policies@v0.1.0  [mandatory]  tenant-namespace-labels")
    assert violation.lines[1:] == ("every tenant namespace must carry agentplane.io/tenant", "and agentplane.io/tier")


def test_a_passing_policy_report_has_no_violations_and_colour_codes_are_ignored():
    assert prcomment.policy_violations(CLEAN) == []
    assert prcomment.policy_violations("no report at all\n") == []
    coloured = OLD_FORMAT.replace("Policy Violations:", "\x1b[1mPolicy Violations:\x1b[0m").replace(
        "[mandatory]", "\x1b[31m[mandatory]\x1b[0m"
    )
    assert [v.level for v in prcomment.policy_violations(coloured)] == ["mandatory", "advisory"]


# --------------------------------------------------------------------------- cutting


def test_tail_keeps_the_end_of_a_long_output_from_a_line_start():
    text = "".join(f"line {i}\n" for i in range(10_000)) + "error: the cause is here\n"
    cut = prcomment.tail_chars(text, 2_000)
    assert len(cut) <= 2_000
    assert cut.endswith("error: the cause is here\n")
    assert cut.splitlines()[1].startswith("line ")  # whole lines after the note
    assert "earlier characters cut" in cut.splitlines()[0]
    assert prcomment.tail_chars("short\n", 2_000) == "short\n"


def test_head_markdown_closes_a_code_fence_it_cuts_into():
    markdown = "## title\n\n```text\n" + "x" * 50 + "\n" * 1 + ("y" * 50 + "\n") * 100 + "```\n\nafter\n"
    cut = prcomment.head_markdown(markdown, 600, "*cut*")
    assert len(cut) <= 600
    assert cut.count("```") % 2 == 0, "an unclosed fence would swallow the rest of the comment"
    assert cut.rstrip().endswith("*cut*") and "after" not in cut


def test_allocate_gives_small_parts_their_size_and_splits_the_rest():
    assert prcomment.allocate([10, 20], 100) == [10, 20]
    assert prcomment.allocate([10, 1_000, 5_000], 1_010) == [10, 500, 500]
    assert sum(prcomment.allocate([7, 10**6, 10**6, 3], 50_000)) <= 50_000


def test_a_huge_comment_stays_within_githubs_limit_and_keeps_each_previews_end():
    huge_plan = PLAN_DIFF + "\n```text\n" + "plan line\n" * 20_000 + "```\n"
    previews = [
        StackPreview(stack, f"Previewing {stack}\n" + "resource line\n" * 30_000 + OLD_FORMAT, 255)
        for stack in ("staging", "prod")
    ]
    body = prcomment.compose(PlanDiff(huge_plan, 0), previews)
    assert len(body) <= prcomment.COMMENT_BUDGET < prcomment.GITHUB_COMMENT_LIMIT
    for stack in ("staging", "prod"):
        block = body[body.index(f"<code>{stack}</code>") :]
        block = block[: block.index("</details>")]
        assert "error: preview failed" in block, "the end of the output, where the error is, is kept"
        assert len(block) > 10_000, "each preview gets a fair share of the comment"
    # The violations are listed in full, above the (cut) outputs.
    assert body.index("### Policy violations") < body.index("<details>")
    assert body.count("no-privileged-containers") >= 2


# --------------------------------------------------------------------------- composing


def test_one_comment_plan_diff_first_then_violations_then_a_collapsible_preview_per_stack():
    previews = [StackPreview("staging", OLD_FORMAT, 255), StackPreview("prod", CLEAN, 0)]
    body = prcomment.compose(ok_plan(), previews, run_url="https://example.test/run/1")
    assert body.startswith(prcomment.MARKER + "\n") and body.count(prcomment.MARKER) == 1
    assert body.count("<details>") == 2 == body.count("</details>")
    order = [
        body.index(s)
        for s in ("| `dev` | 2 added |", "### Policy violations", "<code>staging</code>", "<code>prod</code>")
    ]
    assert order == sorted(order)
    assert "\n#### agentplane plan diff" in body, "the embedded diff's headings sit under ours"
    assert "❌ failed (exit code 255)" in body and "✅ succeeded" in body
    assert "❌ **This check fails**" in body
    assert "1 mandatory" in body and "**`prod`**: none" in body
    assert "**1 mandatory policy violation(s)**" in body[: body.index("### Offline plan diff")], (
        "prominent: named in the verdict at the top"
    )


def test_no_violation_anywhere_says_none():
    previews = [StackPreview("staging", CLEAN, 0), StackPreview("prod", CLEAN, 0)]
    body = prcomment.compose(ok_plan(), previews)
    section = body[body.index("### Policy violations") : body.index("### Live previews")]
    assert "**none** (checked: `staging`, `prod`)" in section
    assert "✅ Every check passed." in body
    assert not prcomment.failed(ok_plan(), previews)


def test_a_missing_artifact_is_a_preview_that_did_not_run_and_fails_the_check():
    previews = [StackPreview("staging", CLEAN, 0), StackPreview("prod", None, None)]
    body = prcomment.compose(ok_plan(), previews)
    prod = body[body.index("<code>prod</code>") :]
    assert "did not run" in prod[: prod.index("</details>")]
    assert "Not checked, the preview did not run: `prod`" in body
    assert prcomment.failed(ok_plan(), previews)
    # An output without an exit code: the step was cut short.
    assert prcomment.failed(ok_plan(), [StackPreview("prod", "partial", None)])


def test_a_failed_or_missing_plan_diff_fails_the_check():
    previews = [StackPreview("staging", CLEAN, 0)]
    assert prcomment.failed(PlanDiff(PLAN_DIFF, 1), previews)
    missing = PlanDiff(None, None)
    assert prcomment.failed(missing, previews)
    assert "The plan diff did not run" in prcomment.compose(missing, previews)


def test_fork_pull_requests_get_the_plan_diff_only():
    previews = [StackPreview("staging", None, None), StackPreview("prod", None, None)]
    body = prcomment.compose(ok_plan(), previews, live_previews=False)
    assert "| `dev` | 2 added |" in body
    assert body.count("not run: pull requests from forks get no credentials") == 4  # table + blocks
    assert "Not checked: the policy pack runs with the live previews" in body
    assert not prcomment.failed(ok_plan(), previews, live_previews=False)
    assert prcomment.failed(PlanDiff(PLAN_DIFF, 1), previews, live_previews=False)


def test_preview_output_cannot_break_out_of_its_code_block():
    body = prcomment.compose(ok_plan(), [StackPreview("staging", "```\n</details>\n# not a heading\n", 0)])
    block = body[body.index("<code>staging</code>") :]
    assert "````text" in block, "a longer fence than any backtick run in the output"


# --------------------------------------------------------------------------- artifacts and CLI


def write_artifacts(root: Path, plan: tuple[str, str] | None, previews: dict[str, tuple[str, str]]) -> Path:
    if plan is not None:
        (root / "plan-diff").mkdir(parents=True)
        (root / "plan-diff" / "pr-diff.md").write_text(plan[0])
        (root / "plan-diff" / "exit-code").write_text(plan[1])
    for stack, (output, code) in previews.items():
        (root / f"preview-{stack}").mkdir(parents=True)
        (root / f"preview-{stack}" / "output.txt").write_text(output)
        (root / f"preview-{stack}" / "exit-code").write_text(code)
    return root


@pytest.mark.parametrize(
    ("plan", "previews", "expected"),
    [
        ((PLAN_DIFF, "0\n"), {"staging": (CLEAN, "0\n"), "prod": (CLEAN, "0\n")}, 0),
        ((PLAN_DIFF, "0\n"), {"staging": (OLD_FORMAT, "255\n"), "prod": (CLEAN, "0\n")}, 1),
        ((PLAN_DIFF, "0\n"), {"staging": (CLEAN, "0\n")}, 1),  # prod never uploaded
        ((PLAN_DIFF, "1\n"), {"staging": (CLEAN, "0\n"), "prod": (CLEAN, "0\n")}, 1),
        (None, {"staging": (CLEAN, "0\n"), "prod": (CLEAN, "0\n")}, 1),
    ],
    ids=["all-pass", "policy-violation", "missing-preview", "plan-fails", "no-plan-diff"],
)
def test_main_writes_the_comment_and_exits_non_zero_when_a_check_failed(tmp_path, plan, previews, expected):
    artifacts = write_artifacts(tmp_path / "artifacts", plan, previews)
    out = tmp_path / "comment.md"
    code = prcomment.main(
        [
            "--artifacts",
            str(artifacts),
            "--stack",
            "staging",
            "--stack",
            "prod",
            "--run-url",
            "https://example.test/run/1",
            "--out",
            str(out),
        ]
    )
    assert code == expected
    body = out.read_text()
    assert body.startswith(prcomment.MARKER) and "<code>prod</code>" in body


def test_main_for_a_fork_passes_without_previews(tmp_path):
    artifacts = write_artifacts(tmp_path / "artifacts", (PLAN_DIFF, "0\n"), {})
    out = tmp_path / "comment.md"
    assert (
        prcomment.main(["--artifacts", str(artifacts), "--stack", "staging", "--no-live-previews", "--out", str(out)])
        == 0
    )
    assert "forks get no credentials" in out.read_text()


def test_the_comment_job_runs_it_from_a_plain_checkout_with_the_standard_library_only(tmp_path):
    """The comment job installs nothing (.github/workflows/preview.yml): `-S` leaves out every
    site-packages directory, so a third-party import anywhere on the way fails here."""
    import subprocess
    import sys

    artifacts = write_artifacts(tmp_path / "artifacts", (PLAN_DIFF, "0\n"), {"staging": (OLD_FORMAT, "255\n")})
    out = tmp_path / "comment.md"
    done = subprocess.run(
        [
            sys.executable,
            "-S",
            "-m",
            "agentplane.review.prcomment",
            "--artifacts",
            str(artifacts),
            "--stack",
            "staging",
            "--out",
            str(out),
        ],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "no-privileged" in out.read_text()


# --------------------------------------------------------------------------- the per-team review summary

REVIEWED = (
    "## agentplane plan diff\n\n| stack | result |\n|---|---|\n| `dev` | 3 to add |\n\n"
    f"{prcomment.REVIEW_START}\n### Review summary (per team and agent)\n\n#### Review summary `dev`\n\n"
    "- **team `ledger`**: added (tier restricted, provenance audit)\n"
    f"{prcomment.REVIEW_END}\n\n### Stack `dev`\n\n- `+` added Namespace ledger\n"
)


def test_the_review_summary_comes_right_after_the_checks_and_is_not_repeated():
    body = prcomment.compose(PlanDiff(REVIEWED, 0), [StackPreview("dev", "ok\n", 0)])
    review = body.index("Review summary (per team and agent)")
    assert body.index("| offline plan diff") < review < body.index("Offline plan diff (per stack")
    assert body.count("team `ledger`**: added") == 1
    assert "added Namespace ledger" in body and prcomment.REVIEW_START not in body


def test_the_review_summary_survives_when_the_plan_diff_is_cut():
    huge = REVIEWED + "".join(f"- `+` added ConfigMap x/{i}\n" for i in range(20_000))
    body = prcomment.compose(PlanDiff(huge, 0), [StackPreview("dev", "ok\n", 0)], budget=30_000)
    assert len(body) <= 30_000
    assert "team `ledger`**: added" in body


def test_a_blocked_plan_diff_fails_the_check_and_says_why():
    body = prcomment.compose(PlanDiff(REVIEWED, 4), [StackPreview("dev", "ok\n", 0)])
    assert "❌ **This check fails**" in body
    assert "blocked: the change deletes a protected team" in body


def test_there_are_changes_is_not_a_failure():
    assert PlanDiff(REVIEWED, 3).ok and not PlanDiff(REVIEWED, 1).ok and not PlanDiff(REVIEWED, 4).ok
