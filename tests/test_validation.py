"""Bad input: every case is a clear error naming the file and the field, and nothing is planned."""

from __future__ import annotations

import shutil
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from agentplane.config.load import load_from_files
from agentplane.errors import ConfigError
from tests.support.plans import ROOT

GOOD_TEAM = {
    "name": "acme",
    "owners": ["acme-admins"],
    "members": ["acme-devs"],
    "environments": {"dev": {"tier": "standard"}, "prod": {"tier": "standard"}},
    "agents": [{"name": "helper", "promote": {"dev": "standard"}, "access": ["acme-devs"]}],
    "models": ["gpt-4o-mini"],
    "egress": ["api.github.com"],
    "dailyTokenBudget": 500000,
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the example stacks, so cases can add or break files."""
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    return tmp_path


def _errors(workspace: Path, stack: str = "dev") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_from_files(stack, root=workspace)
    return [str(issue) for issue in info.value.issues]


def _write_team(workspace: Path, doc: dict | str | bytes, name: str = "acme.yaml") -> None:
    path = workspace / "stacks" / "teams" / name
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    else:
        path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")


def _team(**changes) -> dict:
    doc = yaml.safe_load(yaml.safe_dump(GOOD_TEAM))
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def test_the_good_team_is_valid(workspace: Path) -> None:
    _write_team(workspace, GOOD_TEAM)
    spec = load_from_files("dev", root=workspace)
    assert "acme" in {t.name for t in spec.teams}


# (case id, team document, field path expected in the message, words expected in the message)
TEAM_CASES = [
    ("typo-top-level", _team(owner=["x"]), "owner", "unknown field"),
    (
        "typo-nested",
        _team(agents=[{"name": "helper", "promte": {"dev": "standard"}}]),
        "agents[0].promte",
        "unknown field",
    ),
    ("name-not-file-name", _team(name="other"), "name", "must equal the file name"),
    ("name-not-dns", _team(name="Acme_Team"), "name", "is not a name"),
    ("name-too-long", _team(name="a" * 41), "name", "at most 40"),
    ("duplicate-agent", _team(agents=[{"name": "helper"}, {"name": "helper"}]), "agents[1].name", "more than once"),
    ("agent-name-invalid", _team(agents=[{"name": "Helper"}]), "agents[0].name", "is not a name"),
    ("agent-name-not-ascii", _team(agents=[{"name": "helper!"}]), "agents[0].name", "contains '!'"),
    ("unknown-environment", _team(environments={"qa": {"tier": "standard"}}), "environments.qa", "unknown environment"),
    ("unknown-tier", _team(environments={"dev": {"tier": "gold"}}), "environments.dev.tier", "unknown tier"),
    (
        "invalid-quantity",
        _team(environments={"dev": {"tier": "standard", "quota": {"cpu": "two", "memory": "1Gi", "pods": "5"}}}),
        "environments.dev.quota.cpu",
        "not a Kubernetes quantity",
    ),
    (
        "fractional-pods",
        _team(environments={"dev": {"tier": "standard", "quota": {"cpu": "1", "memory": "1Gi", "pods": "1.5"}}}),
        "environments.dev.quota.pods",
        "whole number",
    ),
    (
        "quota-above-ceiling",
        _team(environments={"dev": {"tier": "standard", "quota": {"cpu": "64", "memory": "1Gi", "pods": "5"}}}),
        "environments.dev.quota.cpu",
        "exceeds the standard tier's ceiling",
    ),
    (
        "promotion-above-team-tier",
        _team(environments={"dev": {"tier": "restricted"}}, models=None, egress=[]),
        "agents[0].promote.dev",
        "above the team's tier",
    ),
    (
        "promotion-outside-team-envs",
        _team(agents=[{"name": "helper", "promote": {"staging": "standard"}}]),
        "agents[0].promote.staging",
        "not in environment",
    ),
    (
        "promotion-unknown-tier",
        _team(agents=[{"name": "helper", "promote": {"dev": "platinum"}}]),
        "agents[0].promote.dev",
        "unknown tier",
    ),
    ("model-not-approved", _team(models=["llama-3-70b"]), "models[0]", "not approved in dev"),
    (
        "model-not-in-tier",
        _team(environments={"dev": {"tier": "restricted"}}, agents=[], egress=[], models=["gpt-4o"]),
        "models[0]",
        "not allowed at tier 'restricted'",
    ),
    ("egress-not-allowed-by-env", _team(egress=["evil.example.com"]), "egress[0]", "not in the egress allowed"),
    ("egress-bare-star", _team(egress=["*"]), "egress[0]", "not a domain pattern"),
    ("egress-url", _team(egress=["https://api.github.com/repos"]), "egress[0]", "not a domain pattern"),
    ("egress-with-port", _team(egress=["api.github.com:443"]), "egress[0]", "not a domain pattern"),
    (
        "egress-at-tier-without-egress",
        _team(environments={"dev": {"tier": "restricted"}}, agents=[], models=["gpt-4o-mini"]),
        "egress",
        "does not allow external egress",
    ),
    ("negative-budget", _team(dailyTokenBudget=-1), "dailyTokenBudget", "greater than or equal to 0"),
    ("non-integer-budget", _team(dailyTokenBudget=1.5), "dailyTokenBudget", "whole number"),
    ("string-budget", _team(dailyTokenBudget="1000"), "dailyTokenBudget", "whole number"),
    (
        "agent-budget-above-team",
        _team(agents=[{"name": "helper", "dailyTokenBudget": 900000}]),
        "agents[0].dailyTokenBudget",
        "exceeds the team's",
    ),
    ("empty-owners", _team(owners=[]), "owners", "at least 1 item"),
    ("missing-owners", _team(owners=None), "owners", "required"),
    ("no-environments", _team(environments={}), "environments", "at least 1 item"),
    ("reserved-default", _team(name="default"), "name", "reserved"),
    ("reserved-kube-prefix", _team(name="kube-things"), "name", "reserved"),
    ("reserved-platform-namespace", _team(name="kyverno"), "name", "reserved"),
    ("group-with-space", _team(members=["acme devs"]), "members[0]", "whitespace"),
    ("offboard-not-bool", _team(offboard="yes"), "offboard", "true or false"),
]


# Cases whose team name is the point of the test live in a file of that name.
NAMED_FILES = {"name-too-long", "reserved-default", "reserved-kube-prefix", "reserved-platform-namespace"}


@pytest.mark.parametrize("case,doc,field,words", TEAM_CASES, ids=[c[0] for c in TEAM_CASES])
def test_bad_team_file(workspace: Path, case: str, doc: dict, field: str, words: str) -> None:
    file_name = f"{doc['name']}.yaml" if case in NAMED_FILES else "acme.yaml"
    _write_team(workspace, doc, file_name)
    errors = _errors(workspace)
    assert any(e.startswith(f"stacks/teams/{file_name}: {field}: ") and words in e for e in errors), "\n".join(errors)


# Hostile YAML: each rejected with a clear message, before any validation of content.
HOSTILE = [
    ("alias", "name: acme\nowners: &o [a]\nmembers: *o\n", "anchors are not allowed"),
    ("duplicate-key", "name: acme\nname: other\nowners: [a]\n", "duplicate key 'name'"),
    ("python-tag", "name: !!python/object/apply:os.system ['true']\n", "tags are not allowed"),
    ("non-mapping", "- name: acme\n", "top level must be a mapping"),
    ("scalar", "just a string\n", "top level must be a mapping"),
    ("two-documents", "name: acme\n---\nname: other\n", "one YAML document"),
    ("syntax", "name: [unclosed\n", "not valid YAML"),
]


@pytest.mark.parametrize("text,words", [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_yaml(workspace: Path, text: str, words: str) -> None:
    _write_team(workspace, text)
    errors = _errors(workspace)
    assert any(e.startswith("stacks/teams/acme.yaml") and words in e for e in errors), "\n".join(errors)


def test_non_utf8_is_rejected(workspace: Path) -> None:
    _write_team(workspace, b"name: acme\nowners: [\xff\xfe]\n")
    assert any("acme.yaml" in e and "not UTF-8" in e for e in _errors(workspace))


def test_oversized_file_is_rejected_quickly(workspace: Path) -> None:
    _write_team(workspace, "# " + "x" * (10 * 1024 * 1024) + "\n")
    started = time.perf_counter()
    errors = _errors(workspace)
    elapsed = time.perf_counter() - started
    assert any("acme.yaml" in e and "at most 65536" in e for e in errors)
    # Size is checked before reading: a 10 MiB file must not be parsed. Generous bound, not a benchmark.
    assert elapsed < 5


def test_billion_laughs_is_rejected(workspace: Path) -> None:
    lol = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n" for i in range(8)
    )
    _write_team(workspace, lol)
    assert any("acme.yaml" in e and "not allowed" in e for e in _errors(workspace))


def test_all_errors_of_all_files_are_reported_together(workspace: Path) -> None:
    _write_team(workspace, _team(name="acme", owners=[]), "acme.yaml")
    _write_team(workspace, _team(name="beta", egress=["*"]), "beta.yaml")
    stack = workspace / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("dailyTokenBudget: 100000", "dailyTokenBudget: -5"))
    errors = _errors(workspace)
    assert any(e.startswith("stacks/teams/acme.yaml: owners:") for e in errors)
    assert any(e.startswith("stacks/teams/beta.yaml: egress[0]:") for e in errors)
    assert any("Pulumi.dev.yaml: agentplane:tiers[0].dailyTokenBudget:" in e for e in errors)


ENV_CASES = [
    (
        "typo-key",
        "  agentplane:protect: false\n",
        "  agentplane:protcet: false\n",
        "agentplane:protcet",
        "unknown field",
    ),
    (
        "tier-model-not-approved",
        "      models: [gpt-4o-mini]\n      provenance: audit\n      dailyTokenBudget: 100000",
        "      models: [gpt-5]\n      provenance: audit\n      dailyTokenBudget: 100000",
        "agentplane:tiers[0].models[0]",
        "'gpt-5' is not in agentplane:models",
    ),
    (
        "bad-provenance",
        "      provenance: audit\n      dailyTokenBudget: 100000",
        "      provenance: strict\n      dailyTokenBudget: 100000",
        "agentplane:tiers[0].provenance",
        "'audit' or 'enforce'",
    ),
    ("bad-provider", "provider: anthropic}", "provider: skynet}", "agentplane:models[2].provider", "openai"),
    (
        "bad-env-egress",
        "    - api.github.com\n",
        "    - http://api.github.com\n",
        "agentplane:egress[0]",
        "not a domain pattern",
    ),
    (
        "section-names-unknown-tier",
        "    trustDomain: dev.agentplane.local\n",
        "    trustDomain: dev.agentplane.local\n    tiers: {producton: {x509SvidTtl: 30m}}\n",
        "agentplane:spire.tiers.producton",
        "unknown tier 'producton'",
    ),
    (
        "duplicate-tier",
        "    - name: production\n",
        "    - name: standard\n",
        "agentplane:tiers[2]",
        "appears more than once",
    ),
    (
        "protect-not-bool",
        "  agentplane:protect: false\n",
        "  agentplane:protect: maybe\n",
        "agentplane:protect",
        "true or false",
    ),
]


@pytest.mark.parametrize("old,new,field,words", [c[1:] for c in ENV_CASES], ids=[c[0] for c in ENV_CASES])
def test_bad_stack_config(workspace: Path, old: str, new: str, field: str, words: str) -> None:
    stack = workspace / "stacks" / "Pulumi.dev.yaml"
    text = stack.read_text()
    assert old in text, "the case no longer matches the example stack; update it"
    stack.write_text(text.replace(old, new, 1))
    errors = _errors(workspace)
    assert any(e.startswith("stacks/Pulumi.dev.yaml: ") and f": {field}" in e and words in e for e in errors), (
        "\n".join(errors)
    )


def test_missing_tiers_is_an_error(workspace: Path) -> None:
    (workspace / "stacks" / "Pulumi.dev.yaml").write_text(
        textwrap.dedent("""\
        config:
          agentplane:protect: false
    """)
    )
    assert any("agentplane:tiers: required field is missing" in e for e in _errors(workspace))


def test_only_yaml_files_are_team_files(workspace: Path) -> None:
    # A second spelling (.yml) would let one team be defined twice, or hide a file from review.
    _write_team(workspace, GOOD_TEAM, "acme.yml")
    assert any(e.startswith("stacks/teams/acme.yml: only <team>.yaml") for e in _errors(workspace))


def test_plain_text_secret_in_a_file_is_refused() -> None:
    from pydantic import ValidationError

    from agentplane.config.base import Secret, StrictModel

    class Holder(StrictModel):
        password: Secret

    with pytest.raises(ValidationError, match="must not be stored in plain text"):
        Holder.model_validate({"password": "hunter2"}, context={"source": "file"})
    assert (
        Holder.model_validate({"password": {"secure": "AAEAA..."}}, context={"source": "file"}).password.available
        is False
    )
    assert Holder.model_validate({"password": "decrypted"}, context={"source": "engine"}).password.value == "decrypted"


def test_a_team_may_not_be_named_like_another_teams_group(workspace: Path) -> None:
    # Tokens carry paths (/research-leads vs /research/research-leads), so this is no collision;
    # the name is still refused so that people and tools showing leaf names are never misled.
    _write_team(workspace, _team(name="research-leads", owners=["leads"], members=[], agents=[]), "research-leads.yaml")
    errors = _errors(workspace)
    assert any(
        e.startswith(
            "stacks/teams/research-leads.yaml: name: 'research-leads' is also a group name (owners[0] in "
            "stacks/teams/research.yaml)"
        )
        for e in errors
    ), errors


def test_a_group_name_belongs_to_one_team(workspace: Path) -> None:
    _write_team(workspace, _team(members=["payments-devs"], agents=[{"name": "helper", "access": ["payments-devs"]}]))
    errors = _errors(workspace)
    assert (
        "stacks/teams/acme.yaml: members[0]: group 'payments-devs' is also declared by "
        "stacks/teams/payments.yaml; a group name belongs to one team only" in errors
    )
    assert (
        "stacks/teams/payments.yaml: members[0]: group 'payments-devs' is also declared by "
        "stacks/teams/acme.yaml; a group name belongs to one team only" in errors
    )


def test_groups_are_held_by_path(workspace: Path) -> None:
    _write_team(workspace, _team())
    spec = load_from_files("dev", root=workspace)
    assert spec.team("acme").owners == ("/acme/acme-admins",) and spec.team("acme").members == ("/acme/acme-devs",)
    assert spec.team("acme").agents[0].access == ("/acme/acme-devs",)
    invoice = next(a for a in spec.team("payments").agents if a.name == "invoice-triage")
    assert invoice.access == ("/payments/payments-devs",)


def test_other_teams_groups_are_granted_by_team_and_group(workspace: Path) -> None:
    _write_team(workspace, _team(agents=[{"name": "helper", "access": ["payments/payments-devs", "acme-devs"]}]))
    helper = load_from_files("dev", root=workspace).team("acme").agents[0]
    assert helper.access == ("/payments/payments-devs", "/acme/acme-devs")
    # A bare name is the team's own group; one the team does not declare is refused.
    _write_team(workspace, _team(agents=[{"name": "helper", "access": ["payments-devs"]}]))
    assert any(
        e.startswith(
            "stacks/teams/acme.yaml: agents[0].access[0]: 'payments-devs': team acme declares no group 'payments-devs'"
        )
        and "<team>/<group>" in e
        for e in _errors(workspace)
    )


def test_an_undecryptable_secret_deploys_only_the_stand_in() -> None:
    from agentplane.config.base import SECRET_STAND_IN, Secret

    assert Secret.model_validate({"secure": "AAEAA..."}, context={"source": "file"}).deploy_value == SECRET_STAND_IN
    assert Secret.model_validate("decrypted", context={"source": "engine"}).deploy_value == "decrypted"


def test_structural_errors_and_other_sections_cross_checks_come_in_one_run(workspace: Path) -> None:
    stack = workspace / "stacks" / "Pulumi.dev.yaml"
    text = stack.read_text()
    # An unknown field in `gateway`, and a tier whose budget is below the one under it.
    old_gateway, old_budget = "  agentplane:gateway:\n", "      provenance: enforce\n      dailyTokenBudget: 2000000"
    assert old_gateway in text and old_budget in text, "the case no longer matches the example stack; update it"
    text = text.replace(old_gateway, old_gateway + "    hostnmae: gw.example.com\n", 1)
    stack.write_text(text.replace(old_budget, "      provenance: enforce\n      dailyTokenBudget: 1000", 1))
    errors = _errors(workspace)
    assert any(e.startswith("stacks/Pulumi.dev.yaml: agentplane:gateway.hostnmae: unknown field") for e in errors), (
        errors
    )
    assert any(
        e.startswith("stacks/Pulumi.dev.yaml: agentplane:tiers[2].dailyTokenBudget: 1000 is less than 2000000")
        for e in errors
    ), errors


def test_a_cross_check_reading_a_malformed_section_is_not_run(workspace: Path) -> None:
    # spire.tiers names an unknown tier (spire's cross-check) while `tiers` itself is malformed:
    # the check would need the tiers, so only the structural error is reported, nothing guessed.
    stack = workspace / "stacks" / "Pulumi.dev.yaml"
    text = stack.read_text()
    old_spire, old_tier = (
        "    trustDomain: dev.agentplane.local\n",
        "      provenance: audit\n      dailyTokenBudget: 100000",
    )
    assert old_spire in text and old_tier in text
    text = text.replace(old_spire, old_spire + "    tiers: {producton: {x509SvidTtl: 30m}}\n", 1)
    stack.write_text(text.replace(old_tier, "      provenance: strict\n      dailyTokenBudget: 100000", 1))
    errors = _errors(workspace)
    assert any(": agentplane:tiers[0].provenance:" in e for e in errors), errors
    assert not any("spire.tiers" in e for e in errors), errors


def test_a_well_formed_sections_cross_check_runs_beside_a_malformed_one(workspace: Path) -> None:
    stack = workspace / "stacks" / "Pulumi.dev.yaml"
    text = stack.read_text()
    old_spire = "    trustDomain: dev.agentplane.local\n"
    assert old_spire in text
    text = text.replace(old_spire, old_spire + "    tiers: {producton: {x509SvidTtl: 30m}}\n", 1)
    stack.write_text(text.replace("  agentplane:protect: false\n", "  agentplane:protect: maybe\n", 1))
    errors = _errors(workspace)
    assert any(": agentplane:protect: must be true or false" in e for e in errors), errors
    assert any(": agentplane:spire.tiers.producton: unknown tier 'producton'" in e for e in errors), errors
