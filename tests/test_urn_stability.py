"""`pulumi up` on a stack made by an earlier release replaces and deletes nothing.

tests/fixtures/urns/<release>/<stack>.txt holds every URN (in the engine's form) of a shipped
stack as that release's program made it; each is a state an existing stack may be in. Renaming a
component's type, class or module must keep them reachable through aliases; the engine's matching
(agentplane/review/matching.py, which `agentplane diff` uses too) decides. Removing a resource
on purpose means removing its URN from every release's fixture, in the same reviewed change.
"""

from __future__ import annotations

import pytest

from agentplane.review.matching import Engine, Goal, UnknownAliasField, parents_first
from tests.support.plans import ROOT, STACKS, example_run

PROJECT = "agentplane"


FIXTURES = ROOT / "tests" / "fixtures" / "urns"
RELEASES = sorted(d.name for d in FIXTURES.iterdir() if d.is_dir())
# 0.1.0: the stacks as the program made them up to commit b96ea38 (version 0.1.0, untagged),
# before the team components left agentplane:team:*.
FIRST_RELEASE = "0.1.0"


def earlier_urns(stack: str, release: str = FIRST_RELEASE) -> list[str]:
    return (FIXTURES / release / f"{stack}.txt").read_text().split()


def goals(stack: str) -> list[Goal]:
    """The registrations as the engine sees them: a parent before its children (it needs the
    parent's URN); the plan itself lists them sorted."""
    return parents_first(Goal(r.urn, r.type, r.name, r.parent, r.aliases) for r in example_run(stack).registrations)


def test_there_are_fixtures_of_every_shipped_stack():
    assert FIRST_RELEASE in RELEASES
    for release in RELEASES:
        assert {p.stem for p in (FIXTURES / release).glob("*.txt")} == set(STACKS), release


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("stack", STACKS)
def test_every_earlier_resource_is_taken_over_by_exactly_one(stack, release):
    earlier = earlier_urns(stack, release)
    assert len(earlier) > 150, "the fixture lost its URNs"
    outcome = Engine(stack, PROJECT).match(goals(stack), earlier)
    assert outcome.deleted == [], f"{len(outcome.deleted)} resources of an existing {stack} stack would be deleted"
    assert outcome.claimed_twice == []


@pytest.mark.parametrize("stack", STACKS)
def test_renamed_components_reach_their_earlier_urns_only_through_aliases(stack):
    """The renames are real (the earlier URNs are not simply the current ones), and every one is
    carried by a declared alias of a component, inherited by everything under it."""
    outcome = Engine(stack, PROJECT).match(goals(stack), earlier_urns(stack))
    through_alias = {new: old for new, old in outcome.matched.items() if new != old}
    assert through_alias, "no resource was renamed: the fixture is the current plan"
    renamed_components = {r.urn for r in example_run(stack).registrations if r.aliases and not r.custom}
    for new in through_alias:
        chain = [new]
        by_urn = {r.urn: r for r in example_run(stack).registrations}
        while by_urn[chain[-1]].parent in by_urn:
            chain.append(by_urn[chain[-1]].parent)
        assert renamed_components & set(chain), (
            f"{new} took over {through_alias[new]} without a renamed component above it"
        )


def test_a_renamed_component_without_its_alias_would_delete_and_recreate_its_team():
    """The check can fail: drop the aliases and the team parts of every piece are lost."""
    stripped = [Goal(g.urn, g.type, g.name, g.parent, ()) for g in goals("dev")]
    outcome = Engine("dev", PROJECT).match(stripped, earlier_urns("dev"))
    assert any(":team:" in urn for urn in outcome.deleted)
    assert outcome.created


def test_the_engine_model_is_closed_world():
    goal = Goal(
        "urn:pulumi:dev::agentplane::a:b:C::x", "a:b:C", "x", "", ({"type": "a:b:Old", "retainOnDelete": True},)
    )
    with pytest.raises(UnknownAliasField):
        Engine("dev", PROJECT).match([goal], [])


def test_a_child_named_after_its_parent_takes_the_parents_earlier_name():
    """step_generator.go inheritedChildAlias: '{name}-details' children follow a renamed parent."""
    parent = Goal(
        "urn:pulumi:dev::agentplane::a:b:New::new", "a:b:New", "new", "", ({"name": "old", "type": "a:b:Old"},)
    )
    child = Goal("urn:pulumi:dev::agentplane::a:b:New$k:v:Obj::new-obj", "k:v:Obj", "new-obj", parent.urn, ())
    outcome = Engine("dev", PROJECT).match(
        [parent, child],
        ["urn:pulumi:dev::agentplane::a:b:Old::old", "urn:pulumi:dev::agentplane::a:b:Old$k:v:Obj::old-obj"],
    )
    assert outcome.deleted == [] and outcome.created == []


def record_release_urns() -> None:
    """On a release: write the shipped stacks' URNs as this version's program makes them, so
    later renames are checked against this release's state too."""
    from importlib.metadata import version

    directory = FIXTURES / version("agentplane")
    directory.mkdir()  # a release's fixture is never rewritten
    for stack in STACKS:
        urns = sorted(r.urn for r in example_run(stack).registrations)
        (directory / f"{stack}.txt").write_text("\n".join(urns) + "\n")


if __name__ == "__main__":  # python -m tests.test_urn_stability
    record_release_urns()
