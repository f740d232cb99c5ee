"""The `agentplane` command end to end (in-process): validate, plan, diff, onboard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from agentplane.cli import main
from tests.support.plans import ROOT


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_validate_ok_and_invalid(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--stack", "dev"]) == 0
    assert "dev: valid (3 teams" in capsys.readouterr().out
    (project / "stacks/teams/bad.yaml").write_text("name: bad\nowners: []\nenvironments: {dev: {tier: standard}}\n")
    (project / "stacks/teams/worse.yaml").write_text("name: worse\nowners: [w]\nenvironments: {dev: {tier: gold}}\n")
    assert main(["validate", "--stack", "dev"]) == 1
    err = capsys.readouterr().err
    assert "stacks/teams/bad.yaml: owners: must have at least 1 item(s)" in err
    assert "stacks/teams/worse.yaml: environments.dev.tier: unknown tier 'gold'" in err


def test_plan_writes_objects_and_plan_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "dev", "--out", "out"]) == 0
    doc = json.loads((project / "out/plan.json").read_text())
    assert doc["stack"] == "dev"
    assert doc["teams"]["payments"] == {
        "namespace": "payments",
        "tier": "standard",
        "agents": {"invoice-triage": "standard", "refund-drafter": "restricted"},
    }
    for resource in doc["resources"]:
        assert set(resource) >= {"urn", "type", "name", "parent", "protect", "retainOnDelete", "dependsOn", "inputs"}
    ns = yaml.safe_load((project / "out/tenants/_cluster/namespace-payments.yaml").read_text())
    assert ns["kind"] == "Namespace" and ns["metadata"]["name"] == "payments"
    # One file per Kubernetes object, all parseable.
    files = [p for p in (project / "out").rglob("*.yaml")]
    kinds = [yaml.safe_load(p.read_text()) for p in files]
    assert len(files) == len({p.relative_to(project) for p in files}) and all(kinds)
    out = capsys.readouterr().out
    assert "payments" in out and "component" in out


def test_plan_is_byte_identical_for_identical_inputs(project: Path) -> None:
    assert main(["plan", "--stack", "staging", "--out", "a"]) == 0
    assert main(["plan", "--stack", "staging", "--out", "b"]) == 0
    files_a = sorted(p.relative_to(project / "a") for p in (project / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(project / "b") for p in (project / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 10
    for relative in files_a:
        assert (project / "a" / relative).read_bytes() == (project / "b" / relative).read_bytes(), relative


def test_invalid_plan_writes_nothing_and_keeps_an_earlier_plan(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--stack", "dev", "--out", "out"]) == 0
    before = (project / "out/plan.json").read_bytes()
    (project / "stacks/teams/bad.yaml").write_text("name: bad\nowners: [x]\nenvironments: {dev: {tier: gold}}\n")
    assert main(["plan", "--stack", "dev", "--out", "out"]) == 1
    assert main(["plan", "--stack", "dev", "--out", "fresh"]) == 1
    assert "environments.dev.tier" in capsys.readouterr().err
    assert (project / "out/plan.json").read_bytes() == before
    assert not (project / "fresh").exists()


def test_plan_refuses_to_overwrite_a_directory_that_is_not_a_plan(project: Path) -> None:
    (project / "notes").mkdir()
    (project / "notes/todo.txt").write_text("mine")
    assert main(["plan", "--stack", "dev", "--out", "notes"]) == 1
    assert (project / "notes/todo.txt").read_text() == "mine"


def test_config_and_teams_flags_replace_the_defaults(project: Path) -> None:
    teams = project / "other-teams"
    teams.mkdir()
    (teams / "solo.yaml").write_text("name: solo\nowners: [solo-admins]\nenvironments: {qa: {tier: restricted}}\n")
    config = project / "Pulumi.qa.yaml"
    shutil.copy(project / "stacks/Pulumi.dev.yaml", config)
    assert main(["plan", "--stack", "qa", "--config", str(config), "--teams", str(teams), "--out", "qa"]) == 0
    doc = json.loads((project / "qa/plan.json").read_text())
    assert doc["stack"] == "qa" and list(doc["teams"]) == ["solo"]


def test_diff_groups_changes_by_team_and_component(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "dev", "--out", "old"]) == 0
    team = project / "stacks/teams/research.yaml"
    team.write_text(team.read_text().replace("{tier: restricted}\n  staging", "{tier: standard}\n  staging", 1))
    (project / "stacks/teams/support.yaml").unlink()
    assert main(["plan", "--stack", "dev", "--out", "new"]) == 0
    capsys.readouterr()
    assert main(["diff", "old", "new"]) == 0
    markdown = capsys.readouterr().out
    assert "#### Team `research`" in markdown and "#### Team `support`" in markdown
    assert "`~` changed Namespace research" in markdown and "metadata.labels.agentplane.io/tier" in markdown
    assert "`-` removed Namespace support" in markdown
    assert "#### Team `payments`" not in markdown


def test_onboard_writes_a_valid_starter(project: Path) -> None:
    assert main(["onboard", "billing", "--owner", "billing-admins"]) == 0
    doc = yaml.safe_load((project / "stacks/teams/billing.yaml").read_text())
    assert doc["name"] == "billing" and doc["environments"] == {"dev": {"tier": "restricted"}}
    assert main(["validate", "--stack", "dev"]) == 0
    assert main(["onboard", "billing", "--owner", "x"]) == 2  # never overwrites


def test_onboard_refuses_an_invalid_team_and_leaves_no_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["onboard", "kube-billing", "--owner", "admins"]) == 1
    assert "reserved" in capsys.readouterr().err
    assert not (project / "stacks/teams/kube-billing.yaml").exists()


def test_diff_of_a_removed_stack_lists_everything_as_removed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "dev", "--out", "old"]) == 0
    capsys.readouterr()
    (project / "empty").mkdir()  # a stack that no longer exists: an empty plan directory
    assert main(["diff", "old", "empty"]) == 0
    markdown = capsys.readouterr().out
    assert "0 to add, 0 to change" in markdown and "`-` removed Namespace payments" in markdown
    assert main(["diff", "old", "missing"]) == 2  # a mistyped directory is not an empty plan
    assert "missing does not exist" in capsys.readouterr().err


def test_redaction_keeps_the_shape_of_secrets_and_hides_every_value() -> None:
    from agentplane.engine import _SECRET_SIG, _SIG_KEY, REDACTED, redact

    secret = {_SIG_KEY: _SECRET_SIG, "value": {"username": "admin", "password": "hunter2", "ports": [5432]}}
    assert redact({"stringData": secret, "kind": "Secret"}) == {
        "stringData": {"username": REDACTED, "password": REDACTED, "ports": [REDACTED]},
        "kind": "Secret",
    }
    assert redact({_SIG_KEY: _SECRET_SIG, "value": "token"}) == REDACTED


def test_generated_names_that_collide_fail_the_plan(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    teams = project / "stacks/teams"
    (teams / "foo.yaml").write_text(
        "name: foo\nowners: [foo-admins]\nenvironments: {dev: {tier: standard}}\n"
        "agents: [{name: x-egress}]\negress: [api.github.com]\n"
    )
    (teams / "foo-agent-x.yaml").write_text(
        "name: foo-agent-x\nowners: [fax-admins]\nenvironments: {dev: {tier: standard}}\negress: [api.github.com]\n"
    )
    assert main(["plan", "--stack", "dev", "--out", "out"]) == 1
    plan_errors = capsys.readouterr().err
    assert (
        "stacks/teams/foo.yaml: agents[0].name: HTTPRoute agentplane-gateway/foo-agent-x-egress: the object is "
        "derived twice" in plan_errors
    )
    assert (
        "stacks/teams/foo-agent-x.yaml: name: HTTPRoute agentplane-gateway/foo-agent-x-egress: the object is "
        "derived twice" in plan_errors
    )
    assert not (project / "out").exists()
    # validate reports exactly what plan reports.
    assert main(["validate", "--stack", "dev"]) == 1
    assert capsys.readouterr().err == plan_errors


def test_every_subcommand_is_a_module_with_add_arguments_and_run() -> None:
    """One CLI shape (agentplane/cli.py COMMANDS): a subcommand is a module, never a function in cli.py."""
    import argparse
    import importlib

    from agentplane.cli import COMMANDS, build_parser

    assert [name for name, _, _ in COMMANDS] == [
        "validate",
        "plan",
        "diff",
        "catalog",
        "completion",
        "onboard",
        "pr-diff",
    ]
    for name, module_name, _ in COMMANDS:
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        assert callable(module.run), name
    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {name: p.get_default("func").__module__ for name, p in subcommands.choices.items()} == {
        name: module for name, module, _ in COMMANDS
    }


def test_help_loads_neither_pydantic_nor_pulumi() -> None:
    """`agentplane --help` (and a mistyped command) import only the parser, not the subcommands."""
    import subprocess
    import sys

    probe = (
        "import sys\nfrom agentplane.cli import main\n"
        "for argv in (['--help'], ['no-such-command']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'pulumi', 'yaml'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
