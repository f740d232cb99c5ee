"""`agentplane diff` pairs resources as the Pulumi engine does, so a rename with aliases reads as
what `pulumi up` does with it: the state moves to the new URN, nothing is deleted or re-created.

The earlier plans are the current ones written back into release 0.1.0's form
(tests/support/earlier_plans.py), checked here against tests/fixtures/urns/0.1.0: the state a
0.1.0 stack holds. Real deletions still block a protected stack; a rename without its alias is
still a deletion; an old URN two resources claim is refused, as the engine refuses it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from agentplane.cli import EXIT_BLOCKED, EXIT_CHANGES, EXIT_OK, EXIT_USAGE, main
from agentplane.review.matching import canonical_urns
from tests.support.earlier_plans import TYPES_IN_0_1_0, plan_of_0_1_0
from tests.support.plans import ROOT, STACKS, example_plan

URN_FIXTURES = ROOT / "tests" / "fixtures" / "urns" / "0.1.0"


def write_plan(directory: Path, doc: dict) -> Path:
    directory.mkdir(parents=True)
    (directory / "plan.json").write_text(json.dumps(doc))
    return directory


def diff_json(capsys, old: Path, new: Path, *flags: str) -> tuple[int, dict]:
    code = main(["diff", str(old), str(new), "--json", *flags])
    return code, json.loads(capsys.readouterr().out)


def team_components(doc: dict) -> dict[str, dict]:
    return {r["urn"]: r for r in doc["resources"] if r["type"] in TYPES_IN_0_1_0}


# --------------------------------------------------------------------------- the earlier form


@pytest.mark.parametrize("stack", STACKS)
def test_the_rewritten_plan_holds_the_urns_a_0_1_0_stack_holds(stack):
    old = plan_of_0_1_0(example_plan(stack))
    in_state = set((URN_FIXTURES / f"{stack}.txt").read_text().split())
    assert set(canonical_urns(old["resources"]).values()) == in_state
    # Its URNs are in the earlier form: some differ from the engine's only by that form.
    form_only = {r["urn"] for r in old["resources"]} - in_state
    assert any("agentplane:team:" not in urn for urn in form_only), "no URN in the last-type-only form"


@pytest.mark.parametrize("stack", STACKS)
def test_the_current_plans_are_in_the_engines_form(stack):
    canonical = canonical_urns(example_plan(stack)["resources"])
    assert canonical and all(old == new for old, new in canonical.items())


# --------------------------------------------------------------------------- 0.1.0 against now


@pytest.mark.parametrize("stack", STACKS)
def test_the_plan_of_0_1_0_against_now_adds_and_removes_nothing(stack, tmp_path, capsys):
    current = example_plan(stack)
    old = write_plan(tmp_path / "old", plan_of_0_1_0(current))
    new = write_plan(tmp_path / "new", current)

    code, doc = diff_json(capsys, old, new)
    assert code == EXIT_OK
    in_state = set((URN_FIXTURES / f"{stack}.txt").read_text().split())
    moved = len({r["urn"] for r in current["resources"]} - in_state)  # each takes over an earlier URN
    assert moved > len(team_components(current)) > 0
    assert doc["counts"] == {"added": 0, "changed": 0, "removed": 0, "moved": moved}
    assert doc["blocked"] == {"teams": [], "platform": False}
    assert {c["action"] for c in doc["changes"]} == {"moved"}
    renamed = {c["urn"]: c["movedFrom"] for c in doc["changes"] if c["urn"] in team_components(current)}
    assert len(renamed) == len(team_components(current))
    for new_urn, old_urn in renamed.items():
        new_type = team_components(current)[new_urn]["type"]
        assert old_urn.split("::")[2].endswith(TYPES_IN_0_1_0[new_type]), (new_urn, old_urn)

    assert main(["diff", str(old), str(new)]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(
        f"### `{stack}`: 0 to add, 0 to change, 0 to remove, {moved} moved to a new URN, state kept\n"
    )
    assert "BLOCKED" not in out and "to remove" in out and "`-`" not in out and "`+`" not in out
    for new_type, old_type in TYPES_IN_0_1_0.items():
        assert f"- `{old_type}` → `{new_type}`:" in out
    # A move is a difference between the plans: --exit-code says so.
    assert main(["diff", str(old), str(new), "--exit-code"]) == EXIT_CHANGES
    capsys.readouterr()


def test_a_team_deleted_along_with_the_renames_still_blocks_the_protected_stack(tmp_path, capsys):
    current = example_plan("prod")
    assert current["review"]["protect"] is True, "prod must be the protected stack"
    namespaces = [r for r in current["resources"] if r["type"] == "kubernetes:core/v1:Namespace" and r["protect"]]
    victim = next(r for r in namespaces if r["team"])
    shrunk = copy.deepcopy(current)
    shrunk["resources"] = [r for r in shrunk["resources"] if r["urn"] != victim["urn"]]
    shrunk["resources"] = [
        dict(r, dependsOn=[d for d in r["dependsOn"] if d != victim["urn"]]) for r in shrunk["resources"]
    ]
    old = write_plan(tmp_path / "old", plan_of_0_1_0(current))
    new = write_plan(tmp_path / "new", shrunk)

    code, doc = diff_json(capsys, old, new)
    assert code == EXIT_BLOCKED
    assert doc["blocked"]["teams"] == [victim["team"]]
    removed = [c for c in doc["changes"] if c["action"] == "removed"]
    assert {c["team"] for c in removed} == {victim["team"]}
    assert f"Namespace {victim['inputs']['metadata']['name']}" in [c["label"] for c in removed]
    assert doc["counts"]["added"] == 0 and doc["counts"]["moved"] > 0


def test_a_rename_without_its_alias_is_a_deletion_and_a_protected_team_blocks(tmp_path, capsys):
    current = example_plan("prod")
    unaliased = copy.deepcopy(current)
    for resource in unaliased["resources"]:
        resource.pop("aliases", None)
    old = write_plan(tmp_path / "old", plan_of_0_1_0(current))
    new = write_plan(tmp_path / "new", unaliased)

    code, doc = diff_json(capsys, old, new)
    assert code == EXIT_BLOCKED
    assert doc["counts"]["moved"] == 0
    assert doc["counts"]["removed"] == doc["counts"]["added"] > len(team_components(current))
    teams = sorted({r["team"] for r in team_components(current).values()})
    assert doc["blocked"]["teams"] == teams
    assert main(["diff", str(old), str(new)]) == EXIT_BLOCKED
    out = capsys.readouterr().out
    assert "moved" not in out.splitlines()[0]
    for team in teams:
        assert f"this change deletes team `{team}` from the protected stack `prod`" in out


# --------------------------------------------------------------------------- synthetic plans

STACK_URN = "urn:pulumi:dev::agentplane::pulumi:pulumi:Stack::agentplane-dev"


def component(type_: str, name: str, aliases: list[dict] | None = None) -> dict:
    resource = {
        "urn": f"urn:pulumi:dev::agentplane::{type_}::{name}",
        "type": type_,
        "name": name,
        "parent": STACK_URN,
        "protect": False,
        "retainOnDelete": False,
        "dependsOn": [],
        "provider": "",
        "component": "tenants",
        "team": "t",
        "inputs": {},
    }
    if aliases:
        resource["aliases"] = aliases
    return resource


def config_map(parent: dict, name: str, data: dict, *, protect: bool = False) -> dict:
    type_ = "kubernetes:core/v1:ConfigMap"
    return dict(
        component("x:y:Unused", name),
        urn=f"urn:pulumi:dev::agentplane::{parent['urn'].split('::')[2]}${type_}::{name}",
        type=type_,
        parent=parent["urn"],
        protect=protect,
        inputs={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "t"}, "data": data},
    )


def plan(*resources: dict) -> dict:
    return {"stack": "dev", "teams": {"t": {}}, "resources": list(resources)}


def test_a_moved_resource_whose_inputs_change_is_shown_with_its_change(tmp_path, capsys):
    old_parent = component("a:team:Old", "t")
    new_parent = component("a:new:New", "t", [{"type": "a:team:Old"}])
    old = write_plan(tmp_path / "old", plan(old_parent, config_map(old_parent, "t-cm", {"k": "1"})))
    new = write_plan(tmp_path / "new", plan(new_parent, config_map(new_parent, "t-cm", {"k": "2"})))

    code, doc = diff_json(capsys, old, new)
    assert code == EXIT_OK
    assert doc["counts"] == {"added": 0, "changed": 1, "removed": 0, "moved": 2}
    changed = next(c for c in doc["changes"] if c["action"] == "changed")
    assert changed["movedFrom"] == "urn:pulumi:dev::agentplane::a:team:Old$kubernetes:core/v1:ConfigMap::t-cm"
    assert [(f["path"], f["old"], f["new"]) for f in changed["fields"]] == [("inputs.data.k", "1", "2")]
    main(["diff", str(old), str(new)])
    out = capsys.readouterr().out
    assert "- `~` changed ConfigMap t/t-cm (moved from `kubernetes:core/v1:ConfigMap::t-cm`, state kept)" in out
    assert "- `a:team:Old` → `a:new:New`: 1 (teams `t`)" in out
    assert "- 1 resource(s) under them, moved with their parent" in out


def test_a_protected_object_moved_through_an_alias_is_not_a_deletion(tmp_path, capsys):
    old_parent = component("a:team:Old", "t")
    new_parent = component("a:new:New", "t", [{"type": "a:team:Old"}])
    old = write_plan(tmp_path / "old", plan(old_parent, config_map(old_parent, "t-ns", {}, protect=True)))
    new = write_plan(tmp_path / "new", plan(new_parent, config_map(new_parent, "t-ns", {}, protect=True)))
    assert diff_json(capsys, old, new)[0] == EXIT_OK
    # The same without the alias deletes it: blocked.
    del new_parent["aliases"]
    unaliased = write_plan(tmp_path / "unaliased", plan(new_parent, config_map(new_parent, "t-ns", {}, protect=True)))
    code, doc = diff_json(capsys, old, unaliased)
    assert code == EXIT_BLOCKED and doc["blocked"]["teams"] == ["t"]


def test_an_old_urn_two_resources_claim_is_refused(tmp_path, capsys):
    old = write_plan(tmp_path / "old", plan(component("a:team:Old", "t")))
    new = write_plan(
        tmp_path / "new",
        plan(
            component("a:new:One", "t", [{"type": "a:team:Old"}]), component("a:new:Two", "t", [{"type": "a:team:Old"}])
        ),
    )
    assert main(["diff", str(old), str(new)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "urn:pulumi:dev::agentplane::a:team:Old::t" in err and "aliased to the same URN" in err
    assert "a:new:One" in err and "a:new:Two" in err


def test_a_resource_claiming_by_alias_the_urn_another_registers_is_refused(tmp_path, capsys):
    """step_generator.go getOldResource: an alias onto a URN already registered is an error too."""
    old = write_plan(tmp_path / "old", plan(component("a:team:Old", "t")))
    new = write_plan(
        tmp_path / "new",
        plan(component("a:team:Old", "t"), component("a:new:New", "u", [{"type": "a:team:Old", "name": "t"}])),
    )
    assert main(["diff", str(old), str(new)]) == EXIT_USAGE
    assert "aliased to the same URN" in capsys.readouterr().err


def test_an_alias_field_the_model_does_not_know_is_refused(tmp_path, capsys):
    old = write_plan(tmp_path / "old", plan(component("a:team:Old", "t")))
    new = write_plan(
        tmp_path / "new", plan(component("a:new:New", "t", [{"type": "a:team:Old", "retainOnDelete": True}]))
    )
    assert main(["diff", str(old), str(new)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "retainOnDelete" in err and "not modelled" in err and str(new / "plan.json") in err


def test_a_parent_missing_from_the_plan_is_refused(tmp_path, capsys):
    parent = component("a:team:Old", "t")
    old = write_plan(tmp_path / "old", plan(config_map(parent, "t-cm", {})))
    new = write_plan(tmp_path / "new", plan())
    assert main(["diff", str(old), str(new)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(old / "plan.json") in err and "is not in the plan" in err and "Traceback" not in err
