"""The mutation gate: apply each security-relevant one-line mutant to a scratch copy and run the suite.

Every mutant in ``mutants.yaml`` names a file, an exact piece of text that must occur there exactly
once, its replacement, and why the change would break a promise. A mutant is *killed* when the
test suite fails with it applied; a survivor means a promise no test holds, and the gate fails
unless the entry carries ``equivalent: <reason>`` (a written argument that the change is harmless).

    python tests/mutation/run.py                 # every mutant
    python tests/mutation/run.py --only ID ...   # some mutants
    python tests/mutation/run.py --changed-since origin/main   # mutants of files changed since REF

The unmutated copy runs the whole suite first and must pass (else the run stops: every mutant
would look killed). Each mutant then runs the test files it lists under ``tests`` (a fast kill),
and only if those pass, the whole suite. Results go to ``build/mutation/report.json``. The working tree is never
modified: the tracked files are copied once to a scratch directory, mutated and restored there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = Path(__file__).with_name("mutants.yaml")
LIST_CHECK = "tests/test_mutation_list.py"
FIELDS = {"id", "file", "find", "replace", "why", "tests", "equivalent"}


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    find: str
    replace: str
    why: str
    tests: tuple[str, ...] = ()
    equivalent: str | None = None


class MutantListError(Exception):
    """The list does not match the code (a stale or ambiguous mutant): fix the list, never skip."""


class BaselineFailed(Exception):
    """The suite fails without any mutant: results would be meaningless."""


def load_mutants(path: Path = MUTANTS, root: Path = ROOT) -> list[Mutant]:
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list) or not entries:
        raise MutantListError(f"{path}: expected a non-empty list of mutants")
    mutants, seen = [], set()
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"id", "file", "find", "replace", "why"} <= entry.keys():
            raise MutantListError(f"{path}: entry {n} needs id, file, find, replace and why")
        unknown = entry.keys() - FIELDS
        if unknown:
            raise MutantListError(f"{path}: entry {entry['id']!r} has unknown field(s) {sorted(unknown)}")
        if entry["id"] in seen:
            raise MutantListError(f"{path}: mutant id {entry['id']!r} appears twice")
        seen.add(entry["id"])
        mutant = Mutant(**{**entry, "tests": tuple(entry.get("tests", ()))})
        if mutant.find == mutant.replace:
            raise MutantListError(f"{path}: mutant {mutant.id!r} replaces its text with itself")
        target = root / mutant.file
        if not target.is_file():
            raise MutantListError(f"{path}: mutant {mutant.id!r} names a missing file {mutant.file}")
        count = target.read_text(encoding="utf-8").count(mutant.find)
        if count != 1:
            raise MutantListError(
                f"{path}: mutant {mutant.id!r}: the text to replace occurs {count} times in {mutant.file} "
                "(must be once)"
            )
        for test in mutant.tests:
            if not (root / test.split("::")[0]).is_file():
                raise MutantListError(f"{path}: mutant {mutant.id!r} names a missing test file {test}")
        mutants.append(mutant)
    return mutants


def changed_files(since: str) -> set[str]:
    out = subprocess.run(
        ["git", "diff", "--name-only", since, "--"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


def scratch_copy(dest: Path) -> None:
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def pytest_fails(scratch: Path, args: list[str]) -> tuple[bool, str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # The list's own consistency check fails whenever a mutant is applied (its text is gone):
    # it must never be what kills a mutant.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", f"--ignore={LIST_CHECK}", *args],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
    )
    failed = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    if proc.returncode in (0, 1):
        return proc.returncode == 1, failed[0] if failed else ""
    # Collection errors, usage errors, internal errors: the mutant broke the program itself, which
    # the suite notices (an import error is a failure), so it counts as killed but is reported.
    return True, f"pytest exit {proc.returncode}: " + (failed[0] if failed else proc.stdout.strip()[-300:])


def run(mutants: list[Mutant]) -> list[dict]:
    results = []
    # Beside the checkout, so that the scratch copy finds what the checkout finds there
    # (the pinned upstream data in ../shared).
    with tempfile.TemporaryDirectory(prefix=".agentplane-mutation-", dir=ROOT.parent) as tmp:
        scratch = Path(tmp)
        scratch_copy(scratch)
        # The unmutated copy must pass the whole suite, or every mutant would look killed.
        baseline_failed, by = pytest_fails(scratch, [])
        if baseline_failed:
            raise BaselineFailed(f"the unmutated suite fails in the scratch copy: {by}")
        for mutant in mutants:
            target = scratch / mutant.file
            original = target.read_text(encoding="utf-8")
            target.write_text(original.replace(mutant.find, mutant.replace), encoding="utf-8")
            started = time.monotonic()
            try:
                killed, by = pytest_fails(scratch, list(mutant.tests)) if mutant.tests else (False, "")
                if not killed:
                    killed, by = pytest_fails(scratch, [])
            finally:
                target.write_text(original, encoding="utf-8")
            result = {
                "id": mutant.id,
                "file": mutant.file,
                "killed": killed,
                "killed_by": by,
                "equivalent": mutant.equivalent,
                "seconds": round(time.monotonic() - started, 1),
            }
            results.append(result)
            verdict = "killed" if killed else ("equivalent" if mutant.equivalent else "SURVIVED")
            print(f"{verdict:10} {mutant.id}  {by}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    parser.add_argument("--changed-since", metavar="REF", help="run only mutants of files changed since REF")
    parser.add_argument("--report", type=Path, default=ROOT / "build" / "mutation" / "report.json")
    args = parser.parse_args(argv)
    try:
        mutants = load_mutants()
    except MutantListError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.only:
        unknown = set(args.only) - {m.id for m in mutants}
        if unknown:
            print(f"error: no mutant(s) {sorted(unknown)} in {MUTANTS}", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m.id in args.only]
    if args.changed_since:
        changed = changed_files(args.changed_since)
        mutants = [m for m in mutants if m.file in changed]
        if not mutants:
            print(f"no mutant touches a file changed since {args.changed_since}")
            return 0
    try:
        results = run(mutants)
    except BaselineFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    survivors = [r["id"] for r in results if not r["killed"] and not r["equivalent"]]
    killed = sum(r["killed"] for r in results)
    print(f"{killed}/{len(results)} killed; survivors: {survivors or 'none'}; report: {args.report}")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
