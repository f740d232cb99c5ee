"""`agentplane onboard`'s starter and hints, and the team-file JSON Schema editors read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from agentplane import schema
from agentplane.cli import main
from tests.support.plans import ROOT


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_starter_has_comments_a_real_agent_and_validates_and_plans(project, capsys):
    assert main(["onboard", "ledger", "--owner", "ledger-admins"]) == 0
    out = capsys.readouterr().out
    text = (project / "stacks/teams/ledger.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/team.schema.json\n")
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 10
    doc = yaml.safe_load(text)
    assert doc["agents"] == [{"name": "assistant"}]
    assert "agentplane validate --stack dev" in out and "agentplane plan --stack dev" in out
    assert main(["validate", "--stack", "dev"]) == 0
    assert "ledger" not in capsys.readouterr().err, "the starter triggers no warning"
    assert main(["plan", "--stack", "dev", "--out", "plan"]) == 0
    plan = json.loads((project / "plan" / "plan.json").read_text())
    assert plan["teams"]["ledger"]["agents"] == {"assistant": "restricted"}
    # The commented-out lines are valid once uncommented (with the tier the team has).
    uncommented = text.replace("    # promote:", "    promote:").replace("# models:", "models:")
    (project / "stacks/teams/ledger.yaml").write_text(uncommented)
    assert main(["validate", "--stack", "dev"]) == 0


def test_starter_for_another_environment_and_tier(project):
    assert main(["onboard", "ledger", "--owner", "ledger-admins", "--env", "prod", "--tier", "standard"]) == 0
    doc = yaml.safe_load((project / "stacks/teams/ledger.yaml").read_text())
    assert doc["environments"] == {"prod": {"tier": "standard"}}
    assert main(["validate", "--stack", "prod"]) == 0


def test_unknown_environment_names_the_known_ones_and_writes_nothing(project, capsys):
    assert main(["onboard", "ledger", "--owner", "ledger-admins", "--env", "qa"]) == 2
    err = capsys.readouterr().err
    assert "no environment 'qa'" in err and "dev, prod, staging" in err
    assert not (project / "stacks/teams/ledger.yaml").exists()
    # Following the hint leads to a file that validates.
    assert main(["onboard", "ledger", "--owner", "ledger-admins", "--env", "staging"]) == 0
    assert main(["validate", "--stack", "staging"]) == 0


def test_owner_text_cannot_inject_yaml(project, capsys):
    # Refused as a usage error before anything is written (a group is a strict name).
    assert main(["onboard", "ledger", "--owner", "admins]\nmembers: [everyone"]) == 2
    assert not (project / "stacks/teams/ledger.yaml").exists()
    assert main(["onboard", "ledger", "--owner", "ledger-admins"]) == 0
    doc = yaml.safe_load((project / "stacks/teams/ledger.yaml").read_text())
    assert doc["owners"] == ["ledger-admins"] and doc["members"] == []


def test_docs_onboarding_example_names_a_team_that_does_not_exist():
    teams = {p.stem for p in (ROOT / "stacks" / "teams").glob("*.yaml")}
    assert teams
    for page in (ROOT / "docs" / "teams.md", ROOT / "README.md"):
        for line in page.read_text().splitlines():
            if "agentplane onboard " in line and "TEAM" not in line:
                team = line.split("agentplane onboard ", 1)[1].split()[0]
                assert team not in teams, f"{page.name}: `agentplane onboard {team}` fails: the file exists"


# --------------------------------------------------------------------------- the JSON Schema


def test_committed_schema_is_current():
    committed = (ROOT / schema.SCHEMA_PATH).read_text()
    assert committed == schema.render(), "schemas/team.schema.json is stale: run `python -m agentplane.schema --write`"


def test_schema_accepts_every_team_file_and_rejects_typos():
    validator = jsonschema.Draft202012Validator(json.loads((ROOT / schema.SCHEMA_PATH).read_text()))
    files = sorted((ROOT / "stacks" / "teams").glob("*.yaml"))
    assert files
    for path in files:
        doc = yaml.safe_load(path.read_text())
        assert not list(validator.iter_errors(doc)), path
        typo = {**doc, "egres": ["x.example.com"]}
        assert list(validator.iter_errors(typo)), "an unknown key must be an error"
        agent_typo = {**doc, "agents": [{"name": "a", "promte": {}}]}
        assert list(validator.iter_errors(agent_typo))
        no_owner = {k: v for k, v in doc.items() if k != "owners"}
        assert list(validator.iter_errors(no_owner))
