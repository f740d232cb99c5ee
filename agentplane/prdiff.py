"""compare two git refs' offline plans per stack, as markdown for a pull-request comment

`agentplane pr-diff`: each ref is checked out into its own temporary, detached
`git worktree` and planned with its *own* code (`python -m agentplane plan` with that
worktree as cwd and first on PYTHONPATH), so a change to the program is reviewed as
faithfully as a change to a team file. The two plans are then compared with `agentplane diff`, and one markdown document
comes out: a section per stack, ready to post as a pull-request comment.

Exit status: 0 when every stack planned on the head ref, 1 when the head ref (the change
under review) does not plan or the comparison itself failed, 2 on a usage error (unknown
ref, not a git repository). A base ref that does not plan is reported as a warning only:
otherwise a change that repairs a broken main branch could never pass its own check.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

# Stack config files live directly under stacks/ (Pulumi.yaml: `stackConfigDir: stacks`).
_STACK_FILE = re.compile(r"^stacks/Pulumi\.(?P<stack>[^/]+)\.yaml$")
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


class PrDiffError(Exception):
    """A problem with the request itself (bad ref, not a repository): exit status 2."""


@dataclass(frozen=True)
class RefInfo:
    name: str    # as the user gave it, e.g. "origin/main"
    commit: str  # the full commit id it resolved to

    @property
    def short(self) -> str:
        return self.commit[:12]


@dataclass(frozen=True)
class Failure:
    side: str      # BASE, HEAD or "diff"
    command: str
    output: str


@dataclass(frozen=True)
class StackResult:
    stack: str
    in_base: bool
    in_head: bool
    diff: str | None = None                 # markdown from `agentplane diff`, when it ran
    failures: tuple[Failure, ...] = ()
    base_plan: Path | None = None           # plan directories, for callers that inspect them
    head_plan: Path | None = None

    def failed(self, side: str) -> Failure | None:
        return next((f for f in self.failures if f.side == side), None)


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Plan two git refs, each with its own code, in temporary worktrees and write a "
        "markdown diff of every stack's plan (for a pull-request comment)."
    )
    parser.add_argument("--base", required=True, metavar="REF",
                        help="the ref the change is compared against (e.g. the PR's base commit)")
    parser.add_argument("--head", default="HEAD", metavar="REF",
                        help="the ref under review (default: HEAD)")
    parser.add_argument("--stack", action="append", dest="stacks", metavar="ENV",
                        help="stack to compare; repeatable (default: every stacks/Pulumi.<stack>.yaml "
                             "present in either ref)")
    parser.add_argument("--out", metavar="FILE", help="write the markdown here (default: stdout)")
    parser.add_argument("--repo", default=".", metavar="DIR",
                        help="the git repository (default: the current directory)")


def run(args: argparse.Namespace) -> int:
    repo = Path(args.repo).resolve()
    try:
        base = resolve_ref(repo, args.base)
        head = resolve_ref(repo, args.head)
        stacks = list(dict.fromkeys(args.stacks)) if args.stacks else sorted(
            set(list_stacks(repo, base.commit)) | set(list_stacks(repo, head.commit))
        )
        if not stacks:
            raise PrDiffError(f"no stacks/Pulumi.<stack>.yaml in {base.name} or {head.name}")
        with tempfile.TemporaryDirectory(prefix="agentplane-pr-diff-") as tmp:
            results = compare(repo, base, head, stacks, Path(tmp).resolve())
    except PrDiffError as err:
        print(f"agentplane pr-diff: {err}", file=sys.stderr)
        return 2

    markdown = render_report(base, head, results)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(markdown, encoding="utf-8")
    else:
        sys.stdout.write(markdown)
    return exit_code(results)


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


def list_stacks(repo: Path, commit: str) -> list[str]:
    listing = _git(repo, "ls-tree", "--name-only", commit, "stacks/")
    return stack_names(listing.splitlines())


def compare(repo: Path, base: RefInfo, head: RefInfo, stacks: Sequence[str], workdir: Path) -> list[StackResult]:
    """Plan and diff every stack; plans stay under `workdir`, the worktrees are always removed."""
    base_stacks = set(list_stacks(repo, base.commit))
    head_stacks = set(list_stacks(repo, head.commit))
    empty = workdir / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    trees = workdir / "worktrees"
    added: list[Path] = []
    try:
        checkouts = {}
        for side, ref in ((BASE, base), (HEAD, head)):
            path = trees / side
            _git(repo, "worktree", "add", "--detach", "--quiet", str(path), ref.commit)
            added.append(path)
            checkouts[side] = path
        return [
            _compare_stack(stack, stack in base_stacks, stack in head_stacks, checkouts, workdir, empty)
            for stack in stacks
        ]
    finally:
        for path in added:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)],
                           capture_output=True, check=False)
        # Drops the bookkeeping of any worktree whose directory is already gone.
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True, check=False)


def _compare_stack(stack: str, in_base: bool, in_head: bool, checkouts: dict[str, Path],
                   workdir: Path, empty: Path) -> StackResult:
    if not in_base and not in_head:
        return StackResult(stack, False, False, failures=(Failure(
            HEAD, "", f"There is no stacks/Pulumi.{stack}.yaml in either ref."),))

    failures: list[Failure] = []
    plans: dict[str, Path | None] = {BASE: None, HEAD: None}
    # Head first: when the change under review does not plan there is nothing to compare.
    for side, present in ((HEAD, in_head), (BASE, in_base)):
        if not present:
            continue
        out = workdir / side / stack
        failure = _plan(checkouts[side], stack, out, side, workdir)
        if failure:
            failures.append(failure)
            if side == HEAD:
                return StackResult(stack, in_base, in_head, failures=tuple(failures))
        else:
            plans[side] = out

    old, new = plans[BASE] or empty, plans[HEAD] or empty
    command = [sys.executable, "-m", "agentplane", "diff", str(old), str(new)]
    code, output = _run(command, checkouts[HEAD])
    if code != 0:
        failures.append(Failure("diff", _display(command, workdir), _shorten(output, workdir)))
        return StackResult(stack, in_base, in_head, failures=tuple(failures),
                           base_plan=plans[BASE], head_plan=plans[HEAD])
    return StackResult(stack, in_base, in_head, diff=output, failures=tuple(failures),
                       base_plan=plans[BASE], head_plan=plans[HEAD])


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
        done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as err:
        partial = err.stdout or ""
        if isinstance(partial, bytes):  # TimeoutExpired keeps bytes even in text mode
            partial = partial.decode(errors="replace")
        return 124, f"{partial}\n(timed out after {COMMAND_TIMEOUT_SECONDS} s)"
    if done.returncode == 0:
        return 0, done.stdout
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
    if m and m.group("fence")[0] == in_fence[0] and len(m.group("fence")) >= len(in_fence) \
            and not line.strip()[len(m.group("fence")):].strip():
        return None, True
    return in_fence, True


def exit_code(results: Sequence[StackResult]) -> int:
    return 1 if any(f.side in (HEAD, "diff") for r in results for f in r.failures) else 0


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
                return text[len(prefix):].strip() or None
        return None
    return None


def stack_status(result: StackResult) -> str:
    if result.failed(HEAD):
        return "plan failed on head"
    if result.failed("diff"):
        return "diff failed"
    parts = []
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
        f"Base `{base.short}` (`{base.name}`) → head `{head.short}` (`{head.name}`). "
        "Each ref is planned offline with its own code; this shows what the program would "
        "register, not what differs from the live cluster (that is `pulumi preview`'s job).",
        "",
        "| stack | result |",
        "|---|---|",
    ]
    for r in results:
        status = stack_status(r)
        mark = "❌ " if r.failed(HEAD) or r.failed("diff") else ("⚠️ " if r.failed(BASE) else "")
        out.append(f"| `{r.stack}` | {mark}{status} |")
    for r in results:
        out += ["", render_stack(r, base, head)]
    return "\n".join(out).rstrip() + "\n"


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
        out += [f"New stack: `stacks/Pulumi.{result.stack}.yaml` does not exist on the base, "
                "so every object below is added.", ""]
    elif not result.in_head:
        out += [f"This change deletes `stacks/Pulumi.{result.stack}.yaml`: every object below is "
                "shown as removed. Merging does not destroy anything; tearing a stack down is a "
                "deliberate `pulumi destroy`.", ""]
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
    body = (result.diff or "").strip()
    out.append(demote_headings(body, STACK_HEADING_LEVEL + 1) if body else "_No changes._")
    return "\n".join(out)


def _failure_block(failure: Failure) -> str:
    text = tail(strip_ansi(failure.output).strip()) or "(no output)"
    return f"`{failure.command}`\n\n{fence(text)}"
