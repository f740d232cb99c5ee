"""The adversarial corpus: hostile team files and stack configs, each refused with its file and
field, without a traceback and without echoing any secret it carries.

The corpus lives in tests/hostile/<family>.yaml, one list of cases per family. Grow it with
every field added to a team file or the stack config: write the abuse case first. A case:

    - id: short-name
      why: what an attacker (or a careless operator) gains if this were accepted
      teams: {<file>: <team file text> | {bytes: <escaped>} | {symlink: <target>} | {directory: true} | {fifo: true}}
      remove: [<example team file>]           # optional
      stack: {merge: {<agentplane:key>: value}, replace: [[old, new]]}   # optional, on Pulumi.dev.yaml
      outside: {<file>: <text>}                # files next to the project, outside the teams directory
      command: [onboard, ...]                  # optional; default: validate --stack dev
      exit: 1                                  # optional; default 1
      expect: [[<file>, <field>, <words>...]]  # an error line `<file>: <field>: ...` holding every word
      secrets: [<text>]                        # must not appear anywhere in the output
      absent: [<path>]                         # must not exist afterwards (relative to the workspace)
"""

from __future__ import annotations

import codecs
import os
import shutil
from pathlib import Path

import pytest
import yaml

from agentplane.cli import main
from tests.support.plans import ROOT

CORPUS = Path(__file__).parent / "hostile"
FAMILIES = ("groups", "names", "addresses", "quantities", "structure", "files", "secrets")


def _cases() -> list[tuple[str, dict]]:
    cases = []
    for family in FAMILIES:
        entries = yaml.safe_load((CORPUS / f"{family}.yaml").read_text(encoding="utf-8"))
        assert entries, f"family {family} has no cases"
        for case in entries:
            cases.append((f"{family}/{case['id']}", case))
    ids = [i for i, _ in cases]
    assert len(ids) == len(set(ids)), "case ids repeat"
    return cases


CASES = _cases()


# Inputs too large to keep in the corpus as text.
PLACEHOLDERS = {
    "PLACEHOLDER_DEEP_BRACKETS": "[" * 20000 + "]" * 20000,
    "PLACEHOLDER_DEEP_MAPPINGS": "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v\n",
    "PLACEHOLDER_HUGE_INT": "name: evil\ndailyTokenBudget: " + "9" * 5000 + "\n",
    "PLACEHOLDER_OVERSIZED": "# " + "x" * 70000 + "\n",
    "PLACEHOLDER_MANY_AGENTS": "name: evil\nowners: [evil-admins]\nenvironments: {dev: {tier: restricted}}\nagents:\n"
    + "".join(f"  - name: a{i}\n" for i in range(300)),
}


def _expand(text: str) -> str:
    for key, value in PLACEHOLDERS.items():
        text = text.replace(key, value)
    return text


def _merge(base: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def workspace_for(case: dict, root: Path) -> Path:
    """A copy of the example project with the case applied."""
    project = root / "project"
    shutil.copytree(ROOT / "stacks", project / "stacks")
    teams = project / "stacks" / "teams"
    for name in case.get("remove", []):
        (teams / name).unlink()
    for name, text in (case.get("outside") or {}).items():
        (root / name).write_text(text, encoding="utf-8")
    stack = project / "stacks" / "Pulumi.dev.yaml"
    if "stack" in case:
        text = stack.read_text(encoding="utf-8")
        for old, new in case["stack"].get("replace", []):
            assert old in text, f"{old!r} no longer occurs in the example stack; update the case"
            text = text.replace(old, _expand(new), 1)
        if "merge" in case["stack"]:
            doc = yaml.safe_load(text)
            _merge(doc["config"], case["stack"]["merge"])
            text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        stack.write_text(text, encoding="utf-8")
    for name, content in (case.get("teams") or {}).items():
        path = teams / name
        if isinstance(content, str):
            path.write_text(_expand(content), encoding="utf-8")
        elif "bytes" in content:
            raw = content["bytes"]
            path.write_bytes(
                _expand(raw).encode("utf-8") if "PLACEHOLDER_" in raw else codecs.escape_decode(raw.encode("ascii"))[0]
            )
        elif "symlink" in content:
            target = content["symlink"].replace("{outside}", str(root))
            path.symlink_to(target)
        elif content.get("directory"):
            path.mkdir()
            (path / "inner.yaml").write_text("name: inner\n")
        elif content.get("fifo"):
            os.mkfifo(path)
        else:
            raise AssertionError(f"unknown team file content {content!r}")
    return project


def error_lines(text: str) -> list[str]:
    return [line.removeprefix("  - ") for line in text.splitlines() if line.startswith("  - ")]


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_hostile_input_is_refused(
    case: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = workspace_for(case, tmp_path)
    monkeypatch.chdir(project)
    code = main(case.get("command", ["validate", "--stack", "dev"]))
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == case.get("exit", 1), output
    assert "Traceback" not in output
    for secret in case.get("secrets", []):
        assert secret not in output, f"a secret was echoed:\n{output}"
    lines = error_lines(captured.err) if code == 1 else captured.err.splitlines()
    for file, field, *words in case.get("expect", []):
        where = f"{file}: {field}: " if field else f"{file}: "
        assert any(line.startswith(where) and all(w in line for w in words) for line in lines), (
            f"expected an error at {where!r} with {words}; got:\n" + "\n".join(lines)
        )
    if code == 1 and case.get("command") is None:
        # Every error line names a file (and nothing is planned from invalid input).
        assert lines and all(
            line.split(": ", 1)[0].endswith((".yaml", ".yml")) or "/" in line.split(": ", 1)[0] for line in lines
        ), lines
    for path in case.get("absent", []):
        assert not (project / path).exists(), f"{path} was written"


def test_every_family_has_cases() -> None:
    families = {i.split("/")[0] for i, _ in CASES}
    assert families == set(FAMILIES)
    assert len(CASES) >= 80
