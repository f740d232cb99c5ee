"""compare two git refs' offline plans per stack, as markdown for a pull-request comment

`agentplane pr-diff`: each ref is checked out into its own temporary, detached
`git worktree` and planned with its *own* code (`python -m agentplane plan` with that
worktree as cwd and first on PYTHONPATH), so a change to the program is reviewed as
faithfully as a change to a team file. The two plans are then compared with `agentplane diff`, and one markdown document
comes out: a section per stack, ready to post as a pull-request comment.

Without --head, the head is HEAD *plus the working tree's uncommitted changes* (tracked
files as `git diff HEAD` has them, and untracked files git does not ignore), so it can be
run before committing; `--head HEAD` compares the last commit only (as CI does).

The report opens with the per-team review summary of every stack (tier, models, egress,
budget, access, provenance, telemetry, and what changed in those terms), then the diffs.
Progress goes to stderr (`--quiet` silences it). The temporary worktrees are removed
whatever happens, Ctrl-C and SIGTERM included.

Exit status: 0 when every stack planned on the head ref, 1 when the head ref (the change
under review) does not plan or the comparison itself failed, 2 on a usage error (unknown
ref, not a git repository), 3 with --exit-code when some stack's plan changes, 4 when the
change deletes a protected team (it must be offboarded first; the report says how), 130
when interrupted. A base ref that does not plan is reported as a warning only: otherwise a
change that repairs a broken main branch could never pass its own check.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Stack config files live directly under stacks/ (Pulumi.yaml: `stackConfigDir: stacks`).
# agentplane.config.files.STACKS_DIR, not imported: this module imports the standard library only
# (tests/test_prdiff.py holds the two equal).
STACKS_DIR = "stacks"
_STACK_FILE = re.compile(rf"^{STACKS_DIR}/Pulumi\.(?P<stack>[^/]+)\.yaml$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_HEADING = re.compile(r"^(?P<hashes>#{1,6})(?P<rest>\s.*|)$")
_FENCE = re.compile(r"^\s{0,3}(?P<fence>`{3,}|~{3,})")

# A plan runs the whole program under the mock engine; generous, but never unbounded in CI.
COMMAND_TIMEOUT_SECONDS = 1200
# Error output is cut to its end (where the cause usually is) to keep a PR comment readable.
MAX_OUTPUT_LINES = 200
MAX_OUTPUT_CHARS = 20_000
STACK_HEADING_LEVEL = 3
BASE, HEAD = "base", "head"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHANGES, EXIT_BLOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
# `agentplane diff` exits so when the change deletes a protected team (agentplane.command.EXIT_BLOCKED).
DIFF_BLOCKED = 4
# Around the review summary, so the PR comment (agentplane/review/prcomment.py) can lift it out.
REVIEW_START = "<!-- agentplane:review-summary:start -->"
REVIEW_END = "<!-- agentplane:review-summary:end -->"
_REVIEW_BLOCK = re.compile(
    re.escape("<!-- agentplane:review:start -->") + r".*?" + re.escape("<!-- agentplane:review:end -->") + r"\n?", re.S
)


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; the worktrees are removed on the way out."""


class PrDiffError(Exception):
    """A problem with the request itself (bad ref, not a repository): exit status 2."""


@dataclass(frozen=True)
class RefInfo:
    name: str  # as the user gave it, e.g. "origin/main"
    commit: str  # the full commit id it resolved to
    # Files of the working tree that differ from `commit` and are planned with it (uncommitted changes).
    uncommitted: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return self.commit[:12]

    @property
    def described(self) -> str:
        extra = f" + {len(self.uncommitted)} uncommitted file(s)" if self.uncommitted else ""
        return f"`{self.short}` (`{self.name}`{extra})"


@dataclass(frozen=True)
class Failure:
    side: str  # BASE, HEAD or "diff"
    command: str
    output: str


@dataclass(frozen=True)
class StackResult:
    stack: str
    in_base: bool
    in_head: bool
    diff: str | None = None  # markdown from `agentplane diff`, when it ran
    failures: tuple[Failure, ...] = ()
    base_plan: Path | None = None  # plan directories, for callers that inspect them
    head_plan: Path | None = None
    blocked: bool = False  # the change deletes a protected team
    old_review: dict | None = None  # the per-team review summaries (agentplane/review/summary.py)
    new_review: dict | None = None

    def failed(self, side: str) -> Failure | None:
        return next((f for f in self.failures if f.side == side), None)


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Plan two git refs, each with its own code, in temporary worktrees and write a "
        "markdown diff of every stack's plan (for a pull-request comment)."
    )
    parser.add_argument(
        "--base",
        required=True,
        metavar="REF",
        help="the ref the change is compared against (e.g. the PR's base commit)",
    )
    parser.add_argument(
        "--head",
        default=None,
        metavar="REF",
        help="the ref under review (default: HEAD plus the working tree's uncommitted "
        "changes; --head HEAD: the last commit only)",
    )
    parser.add_argument(
        "--stack",
        action="append",
        dest="stacks",
        metavar="ENV",
        help="stack to compare; repeatable (default: every stacks/Pulumi.<stack>.yaml present in either ref)",
    )
    parser.add_argument("--out", metavar="FILE", help="write the markdown here (default: stdout)")
    parser.add_argument(
        "--repo", default=".", metavar="DIR", help="the git repository (default: the current directory)"
    )
    parser.add_argument("--exit-code", action="store_true", help=f"exit {EXIT_CHANGES} when some stack's plan changes")
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")


_PROGRESS = {"quiet": False, "start": 0.0}


def progress(message: str) -> None:
    if not _PROGRESS["quiet"]:
        elapsed = time.monotonic() - _PROGRESS["start"]
        print(f"pr-diff [{elapsed:5.0f}s] {message}", file=sys.stderr, flush=True)


@contextmanager
def interruptible():
    """SIGINT, SIGTERM (and SIGHUP) raise Interrupted, so `finally` blocks run.

    SIGINT is handled here too, not left to Python's KeyboardInterrupt: Python installs that only
    when SIGINT is not ignored at start, and a process started in the background by a shell
    inherits an ignored SIGINT; a signal sent to it on purpose must still clean up."""

    def handler(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            try:
                previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(args: argparse.Namespace) -> int:
    repo = Path(args.repo).resolve()
    _PROGRESS.update(quiet=bool(getattr(args, "quiet", False)), start=time.monotonic())
    try:
        with interruptible():
            base = resolve_ref(repo, args.base)
            if args.head is None:
                head = resolve_ref(repo, "HEAD")
                head = RefInfo("HEAD", head.commit, uncommitted_files(repo))
                if head.uncommitted:
                    progress(f"head is HEAD plus {len(head.uncommitted)} uncommitted file(s) of the working tree")
            else:
                head = resolve_ref(repo, args.head)
            stacks = (
                list(dict.fromkeys(args.stacks))
                if args.stacks
                else sorted(
                    set(list_stacks(repo, base.commit))
                    | set(list_stacks(repo, head.commit, repo if head.uncommitted else None))
                )
            )
            if not stacks:
                raise PrDiffError(f"no stacks/Pulumi.<stack>.yaml in {base.name} or {head.name}")
            with tempfile.TemporaryDirectory(prefix="agentplane-pr-diff-") as tmp:
                results = compare(repo, base, head, stacks, Path(tmp).resolve())
    except PrDiffError as err:
        print(f"agentplane pr-diff: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, Interrupted) as err:
        print(f"agentplane pr-diff: interrupted ({err or 'SIGINT'}); temporary worktrees removed", file=sys.stderr)
        return EXIT_INTERRUPTED

    markdown = render_report(base, head, results)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(markdown, encoding="utf-8")
    else:
        sys.stdout.write(markdown)
    code = exit_code(results)
    if code == EXIT_OK and getattr(args, "exit_code", False) and any(has_changes(r) for r in results):
        return EXIT_CHANGES
    return code


# --------------------------------------------------------------------------- git + subprocess


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise PrDiffError("git is not installed or not on PATH") from err
    if done.returncode != 0:
        raise PrDiffError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def resolve_ref(repo: Path, ref: str) -> RefInfo:
    _git(repo, "rev-parse", "--git-dir")  # a clear error when `repo` is not a repository at all
    try:
        commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except PrDiffError:
        raise PrDiffError(f"{ref!r} is not a commit in {repo} (in CI, check out with full history)") from None
    return RefInfo(name=ref, commit=commit)


def list_stacks(repo: Path, commit: str, working_tree: Path | None = None) -> list[str]:
    """The stacks of `commit`, or of the working tree when given (uncommitted stack files count)."""
    if working_tree is not None:
        return stack_names(f"{STACKS_DIR}/{p.name}" for p in (working_tree / STACKS_DIR).glob("Pulumi.*.yaml"))
    listing = _git(repo, "ls-tree", "--name-only", commit, f"{STACKS_DIR}/")
    return stack_names(listing.splitlines())


def uncommitted_files(repo: Path) -> tuple[str, ...]:
    """Paths that differ between HEAD and the working tree: changed, deleted, and untracked (not ignored)."""
    changed = _git(repo, "diff", "HEAD", "--name-only", "-z").split("\0")
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "-z").split("\0")
    return tuple(sorted({p for p in changed + untracked if p}))


def apply_uncommitted(repo: Path, checkout: Path, files: Sequence[str]) -> None:
    """Make `checkout` (a worktree at HEAD) hold the working tree's version of `files`."""
    import shutil

    for relative in files:
        source, target = repo / relative, checkout / relative
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif not source.exists() and (target.is_file() or target.is_symlink()):
            target.unlink()


def compare(repo: Path, base: RefInfo, head: RefInfo, stacks: Sequence[str], workdir: Path) -> list[StackResult]:
    """Plan and diff every stack; plans stay under `workdir`, the worktrees are always removed."""
    base_stacks = set(list_stacks(repo, base.commit))
    head_stacks = set(list_stacks(repo, head.commit))
    empty = workdir / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    trees = workdir / "worktrees"
    added: list[Path] = []
    if head.uncommitted:
        head_stacks = set(list_stacks(repo, head.commit, repo))
    try:
        checkouts = {}
        for side, ref in ((BASE, base), (HEAD, head)):
            path = trees / side
            progress(f"checking out {side} {ref.short} ({ref.name}) into a temporary worktree")
            # Registered before `git worktree add` returns: an interrupt in between still removes it.
            added.append(path)
            _git(repo, "worktree", "add", "--detach", "--quiet", str(path), ref.commit)
            checkouts[side] = path
            if ref.uncommitted:
                apply_uncommitted(repo, path, ref.uncommitted)
        results = []
        for i, stack in enumerate(stacks, 1):
            progress(f"stack {stack} ({i}/{len(stacks)})")
            results.append(_compare_stack(stack, stack in base_stacks, stack in head_stacks, checkouts, workdir, empty))
        progress("done")
        return results
    finally:
        progress("removing the temporary worktrees")
        for path in added:
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "remove", "--force", str(path)], capture_output=True, check=False
            )
        # Drops the bookkeeping of any worktree whose directory is already gone.
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True, check=False)


def _compare_stack(
    stack: str, in_base: bool, in_head: bool, checkouts: dict[str, Path], workdir: Path, empty: Path
) -> StackResult:
    if not in_base and not in_head:
        return StackResult(
            stack, False, False, failures=(Failure(HEAD, "", f"There is no stacks/Pulumi.{stack}.yaml in either ref."),)
        )

    failures: list[Failure] = []
    plans: dict[str, Path | None] = {BASE: None, HEAD: None}
    # Head first: when the change under review does not plan there is nothing to compare.
    for side, present in ((HEAD, in_head), (BASE, in_base)):
        if not present:
            continue
        out = workdir / side / stack
        progress(f"  planning {stack} on {side}")
        failure = _plan(checkouts[side], stack, out, side, workdir)
        if failure:
            failures.append(failure)
            if side == HEAD:
                return StackResult(stack, in_base, in_head, failures=tuple(failures))
        else:
            plans[side] = out

    old, new = plans[BASE] or empty, plans[HEAD] or empty
    # A plan written by older code has no review summary: compute it here from that ref's files.
    reviews = {side: (_review(plans[side], checkouts[side], stack) if plans[side] else None) for side in (BASE, HEAD)}
    progress(f"  comparing {stack}")
    command = [sys.executable, "-m", "agentplane", "diff", str(old), str(new)]
    code, output = _run(command, checkouts[HEAD])
    common = dict(base_plan=plans[BASE], head_plan=plans[HEAD], old_review=reviews[BASE], new_review=reviews[HEAD])
    if code not in (0, DIFF_BLOCKED):
        failures.append(Failure("diff", _display(command, workdir), _shorten(output, workdir)))
        return StackResult(stack, in_base, in_head, failures=tuple(failures), **common)
    return StackResult(
        stack, in_base, in_head, diff=output, failures=tuple(failures), blocked=code == DIFF_BLOCKED, **common
    )


def _review(plan_dir: Path, checkout: Path, stack: str) -> dict | None:
    """The plan's review summary; for a plan without one, the summary of the checkout's files
    as this code reads them (None when it cannot read them: the report then says so)."""
    try:
        doc = json.loads((plan_dir / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("review"), dict):
        return doc["review"]
    from agentplane.config.load import load_from_files
    from agentplane.errors import ConfigError
    from agentplane.review.summary import summarize

    try:
        return summarize(load_from_files(stack, root=checkout))
    except (ConfigError, OSError, ValueError):  # files this code cannot read: said in the report
        return None


def _plan(checkout: Path, stack: str, out: Path, side: str, workdir: Path) -> Failure | None:
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "agentplane", "plan", "--stack", stack, "--out", str(out)]
    code, output = _run(command, checkout)
    return None if code == 0 else Failure(side, _display(command, workdir), _shorten(output, workdir))


def _run(command: list[str], checkout: Path) -> tuple[int, str]:
    env = dict(os.environ)
    # The checkout's own package must win over any installed copy of agentplane.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(checkout), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        done = subprocess.run(
            command, cwd=checkout, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as err:
        partial = err.stdout or ""
        if isinstance(partial, bytes):  # TimeoutExpired keeps bytes even in text mode
            partial = partial.decode(errors="replace")
        return 124, f"{partial}\n(timed out after {COMMAND_TIMEOUT_SECONDS} s)"
    if done.returncode == 0:
        return 0, done.stdout
    if done.returncode == DIFF_BLOCKED and command[3:4] == ["diff"]:
        return done.returncode, done.stdout  # the diff, which states the block itself
    return done.returncode, "\n".join(s for s in (done.stdout.rstrip(), done.stderr.rstrip()) if s)


def _shorten(text: str, workdir: Path) -> str:
    """Temporary paths mean nothing to a reader of the comment: show them as <tmp>."""
    return text.replace(str(workdir), "<tmp>")


def _display(command: list[str], workdir: Path) -> str:
    """The command as a reader would type it: `python -m agentplane ...`."""
    return _shorten(" ".join(["python", *command[1:]]), workdir)


# --------------------------------------------------------------------------- pure helpers


def stack_names(paths: Iterable[str]) -> list[str]:
    """['stacks/Pulumi.dev.yaml', 'stacks/teams', ...] -> ['dev']; sorted, unique."""
    names = {m.group("stack") for p in paths if (m := _STACK_FILE.match(p.strip()))}
    return sorted(names)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def tail(text: str, max_lines: int = MAX_OUTPUT_LINES, max_chars: int = MAX_OUTPUT_CHARS) -> str:
    """The end of `text`, with a note saying how much was cut from the front."""
    lines = text.rstrip("\n").splitlines()
    kept = lines[-max_lines:] if max_lines > 0 else []
    while kept and sum(len(line) + 1 for line in kept) > max_chars:
        kept.pop(0)
    cut = len(lines) - len(kept)
    if cut:
        return f"[... {cut} earlier line(s) omitted ...]\n" + "\n".join(kept)
    return "\n".join(kept)


def fence(text: str, info: str = "text") -> str:
    """A fenced code block that `text` cannot break out of, whatever backticks it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marker = "`" * max(3, longest + 1)
    return f"{marker}{info}\n{text.rstrip()}\n{marker}"


def demote_headings(markdown: str, min_level: int) -> str:
    """Shift ATX headings so the shallowest one sits at `min_level` (never deeper than 6).

    Keeps an embedded document's structure under our own headings. Fenced code is untouched.
    """
    lines = markdown.splitlines()
    levels, in_fence = [], None
    for line in lines:
        in_fence, is_code = _fence_state(line, in_fence)
        if not is_code and (m := _HEADING.match(line)):
            levels.append(len(m.group("hashes")))
    if not levels or min(levels) >= min_level:
        return markdown
    shift = min_level - min(levels)
    out, in_fence = [], None
    for line in lines:
        in_fence, is_code = _fence_state(line, in_fence)
        if not is_code and (m := _HEADING.match(line)):
            line = "#" * min(6, len(m.group("hashes")) + shift) + m.group("rest")
        out.append(line)
    return "\n".join(out) + ("\n" if markdown.endswith("\n") else "")


def _fence_state(line: str, in_fence: str | None) -> tuple[str | None, bool]:
    """(fence still open after this line, whether this line is code or a fence line)."""
    m = _FENCE.match(line)
    if in_fence is None:
        return (m.group("fence"), True) if m else (None, False)
    if (
        m
        and m.group("fence")[0] == in_fence[0]
        and len(m.group("fence")) >= len(in_fence)
        and not line.strip()[len(m.group("fence")) :].strip()
    ):
        return None, True
    return in_fence, True


def exit_code(results: Sequence[StackResult]) -> int:
    if any(f.side in (HEAD, "diff") for r in results for f in r.failures):
        return EXIT_FAILED
    if any(r.blocked or blocked_teams(r) for r in results):
        return EXIT_BLOCKED
    return EXIT_OK


def blocked_teams(result: StackResult) -> list[str]:
    from agentplane.review.summary import compare_summaries, protected_removals

    if result.old_review is None or not result.in_head:  # a deleted stack file destroys nothing
        return []
    return protected_removals(compare_summaries(result.old_review, result.new_review))


def has_changes(result: StackResult) -> bool:
    summary = diff_summary(result.stack, result.diff) or ""
    return (
        bool((result.diff or "").strip())
        and not summary.startswith("no changes")
        and summary != "0 to add, 0 to change, 0 to remove"
    )


def diff_summary(stack: str, diff: str | None) -> str | None:
    """The one-line summary a diff opens with (its first heading), without the stack's name.

    "#### `dev`: 12 to add, 0 to change, 0 to remove" -> "12 to add, 0 to change, 0 to remove".
    """
    for line in (diff or "").splitlines():
        if not line.strip():
            continue
        m = _HEADING.match(line)
        if not m:
            return None
        text = m.group("rest").strip()
        for prefix in (f"`{stack}`:", f"{stack}:"):
            if text.startswith(prefix):
                return text[len(prefix) :].strip() or None
        return None
    return None


def stack_status(result: StackResult) -> str:
    if result.failed(HEAD):
        return "plan failed on head"
    if result.failed("diff"):
        return "diff failed"
    parts = []
    teams = blocked_teams(result)
    if result.blocked or teams:
        parts.append(
            "BLOCKED: deletes protected team " + ", ".join(f"`{t}`" for t in teams)
            if teams
            else "BLOCKED: deletes protected objects"
        )
    if not result.in_base:
        parts.append("new stack")
    elif not result.in_head:
        parts.append("stack removed")
    if result.failed(BASE):
        parts.append("base did not plan")
    if not (result.diff or "").strip():
        parts.append("no changes")
    elif summary := diff_summary(result.stack, result.diff):
        parts.append(summary)
    return ", ".join(parts) or "planned"


def render_report(base: RefInfo, head: RefInfo, results: Sequence[StackResult]) -> str:
    out = [
        "## agentplane plan diff",
        "",
        f"Base {base.described} → head {head.described}. "
        "Each ref is planned offline with its own code; this shows what the program would "
        "register, not what differs from the live cluster (that is `pulumi preview`'s job).",
        "",
        "| stack | result |",
        "|---|---|",
    ]
    for r in results:
        status = stack_status(r)
        blocked = r.blocked or blocked_teams(r)
        mark = "❌ " if r.failed(HEAD) or r.failed("diff") or blocked else ("⚠️ " if r.failed(BASE) else "")
        out.append(f"| `{r.stack}` | {mark}{status} |")
    review = render_review(results)
    if review:
        out += ["", review]
    for r in results:
        out += ["", render_stack(r, base, head)]
    return "\n".join(out).rstrip() + "\n"


def render_review(results: Sequence[StackResult]) -> str:
    """The per-team review summary of every stack that planned, between markers for the PR comment."""
    from agentplane.review.summary import render_markdown

    parts = []
    for r in results:
        if r.failed(HEAD) or r.failed("diff") or (r.old_review is None and r.new_review is None):
            continue
        if r.in_base and not r.failed(BASE) and r.old_review is None:
            parts.append(
                f"#### Review summary `{r.stack}`\n\n_Not available: this code cannot read the base's "
                "configuration; the resource diff below is complete._\n"
            )
            continue
        parts.append(render_markdown(r.stack, r.old_review, r.new_review))
    if not parts:
        return ""
    return "\n".join(
        [REVIEW_START, f"{'#' * STACK_HEADING_LEVEL} Review summary (per team and agent)", "", *parts, REVIEW_END]
    )


def render_stack(result: StackResult, base: RefInfo, head: RefInfo) -> str:
    out = [f"{'#' * STACK_HEADING_LEVEL} Stack `{result.stack}`", ""]
    head_failure = result.failed(HEAD)
    if head_failure:
        if not head_failure.command:  # not a command that failed: the stack is missing
            out += [f"**{head_failure.output}**"]
            return "\n".join(out)
        out += [
            f"**The head commit `{head.short}` does not plan for `{result.stack}`.** "
            "Nothing for this stack can be reviewed until this is fixed:",
            "",
            _failure_block(head_failure),
        ]
        return "\n".join(out)

    if not result.in_base:
        out += [
            f"New stack: `stacks/Pulumi.{result.stack}.yaml` does not exist on the base, "
            "so every object below is added.",
            "",
        ]
    elif not result.in_head:
        out += [
            f"This change deletes `stacks/Pulumi.{result.stack}.yaml`: every object below is "
            "shown as removed. Merging does not destroy anything; tearing a stack down is a "
            "deliberate `pulumi destroy`.",
            "",
        ]
    base_failure = result.failed(BASE)
    if base_failure:
        out += [
            f"⚠️ The base commit `{base.short}` does not plan for `{result.stack}`, so the diff "
            "below is against an empty plan (everything shows as added).",
            "",
            "<details><summary>Base plan error</summary>",
            "",
            _failure_block(base_failure),
            "",
            "</details>",
            "",
        ]
    diff_failure = result.failed("diff")
    if diff_failure:
        out += ["**Comparing the plans failed:**", "", _failure_block(diff_failure)]
        return "\n".join(out)
    # The review summary is at the top of the report; the per-stack diff keeps the resources.
    body = _REVIEW_BLOCK.sub("", result.diff or "").strip()
    out.append(demote_headings(body, STACK_HEADING_LEVEL + 1) if body else "_No changes._")
    return "\n".join(out)


def _failure_block(failure: Failure) -> str:
    text = tail(strip_ansi(failure.output).strip()) or "(no output)"
    return f"`{failure.command}`\n\n{fence(text)}"
