"""compose the one pull-request comment of the preview workflow

`python -m agentplane.review.prcomment --artifacts DIR --stack staging --stack prod --out FILE`
reads what the other jobs of `.github/workflows/preview.yml` uploaded and writes ONE
markdown comment:

1. a summary line per check (plan diff, each stack's live preview);
2. the per-team review summary pr-diff opens with (tier, models, egress, budget, access,
   provenance, telemetry per team and agent, and what changed in those terms);
3. the offline per-team plan diff (`agentplane pr-diff`);
4. "Policy violations": every violation line pulumi printed, per stack, or "none";
5. per stack, the `pulumi preview` output in a collapsible `<details>`.

It is built here rather than by pulumi/actions because that action posts nothing when the
command fails, i.e. exactly when a mandatory policy is violated, and would leave an earlier,
stale comment up. Everything fits GitHub's comment limit: long parts are cut, previews to
their end (where pulumi prints errors and policy violations), the plan diff to its start
(where its summary table is).

Artifacts (one directory each under --artifacts, as actions/download-artifact lays them out):
  plan-diff/pr-diff.md, plan-diff/exit-code      from the plan-diff job
  preview-<stack>/output.txt, preview-<stack>/exit-code   from each preview job
A missing artifact means the job did not get that far: it is reported, and counts as a failure.

Exit status: 0 when the plan diff and every preview succeeded, 1 otherwise (the comment is
written either way), 2 on a usage error. Standard library only: the workflow runs it from a
plain checkout without installing the project.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Shared with pr-diff; both modules use the standard library only (the comment job installs nothing).
from agentplane.review.prdiff import (
    EXIT_BLOCKED,
    EXIT_CHANGES,
    REVIEW_END,
    REVIEW_START,
    demote_headings,
    fence,
    strip_ansi,
)

# The marker finds this workflow's comment again, so every push updates one comment. It is
# the plan-diff comment's old marker, so existing pull requests keep their single comment.
MARKER = "<!-- agentplane:pr-diff -->"
# GitHub rejects an issue comment body over 65,536 characters; keep a margin for the
# characters GitHub counts differently from Python (it may count UTF-16 code units).
GITHUB_COMMENT_LIMIT = 65_536
COMMENT_BUDGET = 60_000
# The policy-violation listing is short by nature; cap it so a runaway pack cannot crowd
# out the previews themselves.
MAX_VIOLATION_CHARS_PER_STACK = 6_000
# The review summary comes first and is kept whole up to this size (it is short by design).
MAX_REVIEW_CHARS = 20_000

PLAN_DIFF_ARTIFACT = "plan-diff"
PLAN_DIFF_FILE = "pr-diff.md"
PREVIEW_ARTIFACT_PREFIX = "preview-"
PREVIEW_OUTPUT_FILE = "output.txt"
EXIT_CODE_FILE = "exit-code"

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
# pulumi's policy report starts with one of these headers (older CLIs: "Policy Violations:",
# newer ones: "Policies:" with a line per pack), each at the start of a line.
_POLICY_HEADERS = ("Policy Violations:", "Policies:")
# One violation: "[mandatory]  pack v1.0.0  policy (type: name)" (older CLIs) or
# "- [mandatory]  policy  (type: name)" under a pack line (newer ones).
_VIOLATION = re.compile(r"^(?:-\s+)?\[(?P<level>mandatory|advisory|remediate|disabled)\]\s+(?P<what>.+)$")
# A pack line of the newer report: "❌ my-pack@v0.1.0 (local: policies/pack)".
_PACK = re.compile(r"^(?:\S+\s+)?(?P<pack>[^\s@]+@v\S+)(?:\s+\(.*\))?$")


@dataclass(frozen=True)
class PlanDiff:
    markdown: str | None  # None: the plan-diff job uploaded nothing
    exit_code: int | None  # None: unknown (no exit-code file)

    @property
    def ok(self) -> bool:
        # EXIT_CHANGES only comes with --exit-code: "there are changes" is not a failure.
        return self.markdown is not None and self.exit_code in (0, EXIT_CHANGES)

    def split_review(self) -> tuple[str | None, str | None]:
        """(the review summary pr-diff put between its markers, the rest of the markdown)."""
        if self.markdown is None or REVIEW_START not in self.markdown or REVIEW_END not in self.markdown:
            return None, self.markdown
        before, rest = self.markdown.split(REVIEW_START, 1)
        review, after = rest.split(REVIEW_END, 1)
        return review.strip(), (before.rstrip() + "\n\n" + after.lstrip()).strip() + "\n"


@dataclass(frozen=True)
class StackPreview:
    stack: str
    output: str | None  # None: the preview did not run (no artifact)
    exit_code: int | None  # None: it did not finish (no exit-code file)

    @property
    def ran(self) -> bool:
        return self.output is not None

    @property
    def ok(self) -> bool:
        return self.ran and self.exit_code == 0


@dataclass(frozen=True)
class Violation:
    level: str  # mandatory, advisory, remediate, disabled
    lines: tuple[str, ...]  # pulumi's lines for it: what was violated, then the message


# --------------------------------------------------------------------------- parsing


def policy_violations(output: str) -> list[Violation]:
    """Every policy violation in `pulumi preview` output, with pulumi's own lines.

    The report is a block that starts with a header line ("Policy Violations:" or
    "Policies:") and ends at the next line that is not indented.
    """
    violations: list[Violation] = []
    in_report, pack = False, None
    current: list[str] | None = None
    level = ""

    def flush() -> None:
        nonlocal current
        if current:
            violations.append(Violation(level, tuple(current)))
        current = None

    for raw in strip_ansi(output).splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if stripped in _POLICY_HEADERS and not line[:1].isspace():
            flush()
            in_report, pack = True, None
            continue
        if not in_report or not stripped:
            continue
        if not line[:1].isspace():  # the next top-level section ("Resources:", "error: ...")
            flush()
            in_report = False
            continue
        if m := _VIOLATION.match(stripped):
            flush()
            level = m.group("level")
            head = f"[{level}]  {m.group('what')}"
            current = [f"{pack}  {head}" if pack and pack not in head else head]
        elif m := _PACK.match(stripped):
            flush()
            pack = m.group("pack")
        elif current is not None:
            current.append(stripped)
    flush()
    return violations


# --------------------------------------------------------------------------- cutting


def tail_chars(text: str, limit: int) -> str:
    """The end of `text` in at most `limit` characters, cut at a line start, with a note."""
    if len(text) <= limit:
        return text
    note = "[... {} earlier characters cut; the whole output is in the job's artifact ...]\n"
    keep = max(0, limit - len(note.format(len(text))))
    kept = text[len(text) - keep :]
    if "\n" in kept:
        kept = kept[kept.index("\n") + 1 :]  # never start mid-line
    return note.format(len(text) - len(kept)) + kept


def head_markdown(markdown: str, limit: int, note: str) -> str:
    """The start of `markdown` in at most `limit` characters, cut at a line end, with any
    open code fence closed so the rest of the comment still renders."""
    if len(markdown) <= limit:
        return markdown
    lines, kept, size, fence = markdown.splitlines(), [], 0, None
    reserve = len(note) + 16  # the note, a closing fence and newlines
    for line in lines:
        if size + len(line) + 1 + reserve > limit:
            break
        kept.append(line)
        size += len(line) + 1
        if m := _FENCE.match(line):
            marker = m.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
    if fence is not None:
        kept.append(fence)
    return "\n".join(kept) + "\n\n" + note


def allocate(sizes: Sequence[int], budget: int) -> list[int]:
    """Share `budget` characters among parts of the given sizes: parts that fit get their
    size, the rest split what is left equally (so one huge preview cannot starve another)."""
    shares = [0] * len(sizes)
    pending = sorted(range(len(sizes)), key=lambda i: sizes[i])
    left = max(0, budget)
    while pending:
        fair = left // len(pending)
        i = pending[0]
        if sizes[i] <= fair:
            shares[i] = sizes[i]
            left -= sizes[i]
            pending.pop(0)
        else:
            for j in pending:
                shares[j] = fair
            break
    return shares


# --------------------------------------------------------------------------- composing


def preview_status(preview: StackPreview, live_previews: bool) -> str:
    if not live_previews:
        return "⏭️ not run: pull requests from forks get no credentials"
    if not preview.ran:
        return "⚠️ did not run: the job failed before `pulumi preview` (see its log)"
    if preview.exit_code is None:
        return "❌ did not finish (no exit code recorded; see the job log)"
    if preview.exit_code != 0:
        return f"❌ failed (exit code {preview.exit_code})"
    return "✅ succeeded"


def plan_diff_status(plan_diff: PlanDiff) -> str:
    if plan_diff.markdown is None:
        return "⚠️ did not run: the plan-diff job failed before writing its markdown (see its log)"
    if plan_diff.exit_code == EXIT_BLOCKED:
        return "❌ blocked: the change deletes a protected team; it must be offboarded first (see the review summary)"
    if not plan_diff.ok:
        code = "unknown" if plan_diff.exit_code is None else plan_diff.exit_code
        return f"❌ failed (exit code {code}): a stack does not plan, see below"
    return "✅ succeeded"


def failed(plan_diff: PlanDiff, previews: Sequence[StackPreview], live_previews: bool = True) -> bool:
    """Whether the check must fail: the plan diff failed, or a live preview failed or is missing."""
    return not plan_diff.ok or (live_previews and not all(p.ok for p in previews))


def violations_section(previews: Sequence[StackPreview], live_previews: bool) -> str:
    out = ["### Policy violations", ""]
    if not live_previews:
        out.append("Not checked: the policy pack runs with the live previews, which forks do not get.")
        return "\n".join(out)
    found = {p.stack: policy_violations(p.output) for p in previews if p.ran}
    if not any(found.values()):
        checked = ", ".join(f"`{s}`" for s in found) or "no stack"
        out.append(f"**none** (checked: {checked})")
        not_run = [p.stack for p in previews if not p.ran]
        if not_run:
            out += ["", "Not checked, the preview did not run: " + ", ".join(f"`{s}`" for s in not_run)]
        return "\n".join(out)
    for stack, violations in found.items():
        mandatory = sum(v.level == "mandatory" for v in violations)
        if not violations:
            out += [f"**`{stack}`**: none", ""]
            continue
        mark = "❌" if mandatory else "⚠️"
        out += [
            f"{mark} **`{stack}`**: {len(violations)} violation(s), {mandatory} mandatory "
            f"(a mandatory one fails the preview)",
            "",
        ]
        listing = "\n".join("\n".join(v.lines) for v in violations)
        out += [fence(tail_chars(listing, MAX_VIOLATION_CHARS_PER_STACK)), ""]
    for p in previews:
        if not p.ran:
            out += [f"**`{p.stack}`**: not checked, the preview did not run", ""]
    return "\n".join(out).rstrip()


def _preview_block(preview: StackPreview, status: str, body: str | None) -> str:
    status = re.sub(r"`([^`]+)`", r"<code>\1</code>", status)  # HTML: no markdown inside <summary>
    summary = f"<summary><code>pulumi preview</code> of <code>{preview.stack}</code>: {status}</summary>"
    inner = fence(body) if body is not None else "No output: the preview did not run."
    return f"<details>\n{summary}\n\n{inner}\n\n</details>"


def compose(
    plan_diff: PlanDiff,
    previews: Sequence[StackPreview],
    *,
    run_url: str = "",
    live_previews: bool = True,
    budget: int = COMMENT_BUDGET,
) -> str:
    """The whole comment, marker first, at most `budget` characters."""
    where = f"[workflow run]({run_url})" if run_url else "workflow run"
    summary = [
        "| check | result |",
        "|---|---|",
        f"| offline plan diff (every stack) | {plan_diff_status(plan_diff)} |",
    ]
    summary += [f"| live preview `{p.stack}` | {preview_status(p, live_previews)} |" for p in previews]
    verdict = (
        "❌ **This check fails**: see the failing rows below."
        if failed(plan_diff, previews, live_previews)
        else "✅ Every check passed."
    )
    mandatory = sum(
        v.level == "mandatory" for p in previews if p.ran and live_previews for v in policy_violations(p.output)
    )
    if mandatory:
        verdict += f" **{mandatory} mandatory policy violation(s)**: see Policy violations below."
    header = "\n".join([MARKER, "## agentplane: what this pull request changes", "", verdict, "", *summary])
    violations = violations_section(previews, live_previews)
    review_md, rest_md = plan_diff.split_review()
    if review_md is not None:
        cut = f"*… cut here; the whole summary is in the job summary of the {where}.*\n"
        header += "\n\n" + head_markdown(demote_headings(review_md, 3), MAX_REVIEW_CHARS, cut).rstrip()

    plan_md = (
        demote_headings(rest_md, 4)
        if rest_md is not None
        else "The plan diff did not run; the plan-diff job's log says why."
    )
    plan_title = "### Offline plan diff (per stack, team and component)\n\n"
    outputs = [strip_ansi(p.output).rstrip() if p.ran and live_previews else None for p in previews]
    previews_title = "### Live previews (`pulumi preview --diff` with the policy pack)\n\n"
    statuses = [preview_status(p, live_previews) for p in previews]

    # Everything but the variable parts (plan diff text and preview outputs), to size them.
    skeleton = [
        header,
        violations,
        plan_title,
        previews_title,
        *(
            _preview_block(p, s, "" if o is not None else None)
            for p, s, o in zip(previews, statuses, outputs, strict=True)
        ),
    ]
    fixed = sum(len(part) for part in skeleton) + 64 * (len(previews) + 4)  # separators and notes
    sizes = [len(plan_md)] + [len(o) if o is not None else 0 for o in outputs]
    shares = allocate(sizes, budget - fixed)

    cut_note = f"*… cut here; the whole plan diff is in the job summary of the {where}.*\n"
    plan_part = head_markdown(plan_md, shares[0], cut_note)
    blocks = [
        _preview_block(p, s, tail_chars(o, share) if o is not None else None)
        for p, s, o, share in zip(previews, statuses, outputs, shares[1:], strict=True)
    ]
    parts = [header, plan_title + plan_part.rstrip(), violations]
    if previews:
        parts.append(previews_title + "\n\n".join(blocks))
    body = "\n\n".join(parts).rstrip() + "\n"
    if len(body) > budget:  # a safety net; the shares above keep within budget
        body = body[: budget - 80].rstrip() + f"\n\n… comment cut; see the {where}.\n"
    return body


# --------------------------------------------------------------------------- artifacts


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def _exit_code(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def load_plan_diff(artifacts: Path) -> PlanDiff:
    directory = artifacts / PLAN_DIFF_ARTIFACT
    return PlanDiff(_read(directory / PLAN_DIFF_FILE), _exit_code(directory / EXIT_CODE_FILE))


def load_preview(artifacts: Path, stack: str) -> StackPreview:
    directory = artifacts / f"{PREVIEW_ARTIFACT_PREFIX}{stack}"
    return StackPreview(stack, _read(directory / PREVIEW_OUTPUT_FILE), _exit_code(directory / EXIT_CODE_FILE))


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts",
        type=Path,
        required=True,
        help="directory holding the downloaded artifacts, one sub-directory each",
    )
    parser.add_argument(
        "--stack",
        action="append",
        default=[],
        dest="stacks",
        help="a stack the preview job previews (repeat, in matrix order)",
    )
    parser.add_argument(
        "--no-live-previews",
        dest="live_previews",
        action="store_false",
        help="the previews were not run (a pull request from a fork)",
    )
    parser.add_argument("--run-url", default="", help="link to the workflow run, for cut content")
    parser.add_argument("--out", type=Path, required=True, help="where to write the comment")


def run(args: argparse.Namespace) -> int:
    plan_diff = load_plan_diff(args.artifacts)
    previews = [load_preview(args.artifacts, stack) for stack in args.stacks]
    args.out.write_text(
        compose(plan_diff, previews, run_url=args.run_url, live_previews=args.live_previews), encoding="utf-8"
    )
    return 1 if failed(plan_diff, previews, args.live_previews) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Not an `agentplane` subcommand: the comment job runs this module without installing the project."""
    parser = argparse.ArgumentParser(prog="python -m agentplane.review.prcomment", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
