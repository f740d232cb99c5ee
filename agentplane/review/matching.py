"""How the Pulumi engine matches a program's resources to an existing stack's state: by URN, then
by alias, each parent's matched alias extended to its children. `agentplane diff` pairs the
resources of two plans this way, so a resource renamed with an alias shows as moved (its state
kept), not as deleted and re-created. Closed-world: an alias field this model does not know fails.
Standard library only (the review package imports nothing third-party).

Mirrors the engine of the pinned `pulumi` SDK 3.272.0: github.com/pulumi/pulumi/pkg/v3, read at
v3.260.0 and v3.274.0 from the Go module proxy (which does not serve v3.272.0). generateURN,
collapseAliasToUrn, inheritedChildAlias and generateAliases are byte-identical in both;
getOldResource differs only in that v3.274.0 passes each alias through state-migration rewrites
(resource/deploy/state_migration_normalization.go), which change nothing unless a provider
commits a state migration during the deployment. This model does not mirror state migrations.
- pkg/resource/deploy/deployment.go, generateURN: a child's URN type is its parent's whole
  qualified type, `$`, its own type; the root stack's type is left out.
- pkg/resource/deploy/step_generator.go, collapseAliasToUrn: an alias spec's empty name, type,
  parent, project and stack mean the resource's own; a parent that itself matched through an alias
  stands for its old URN; `noParent` (or the root stack as parent) means none.
- step_generator.go, inheritedChildAlias: a child inherits its parent's matched alias; a child
  name that starts with the parent's name has that prefix replaced by the alias's name.
- step_generator.go, generateAliases and getOldResource: the URN first, then each alias in order;
  the first found in the old state is the match (`sg.aliases[urn] = urnOrAlias`). An old URN that
  a second resource claims (through an alias, or as its own URN after another's alias took it) is
  an error: sdk/go/common/diag/errors.go GetDuplicateResourceAliasError (2008) and
  GetDuplicateResourceAliasedError (2016).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
SPEC_FIELDS = {"name", "type", "stack", "project", "parentUrn", "noParent"}


class UnknownAliasField(ValueError):
    """The program sent an alias field this model does not mirror."""


class UnknownParent(ValueError):
    """A resource names a parent (or dependency) that is neither in the plan nor the root stack."""


def urn_parts(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of `urn:pulumi:<stack>::<project>::<qualified type>::<name>`."""
    prefix, project, qualified_type, name = urn.split("::", 3)
    return prefix.removeprefix("urn:pulumi:"), project, qualified_type, name


def new_urn(stack: str, project: str, parent_type: str, type_: str, name: str) -> str:
    if parent_type and parent_type != ROOT_STACK_TYPE:
        type_ = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def create_urn(name: str, type_: str, parent: str, project: str, stack: str) -> str:
    parent_type = urn_parts(parent)[2] if parent else ""
    return new_urn(stack, project, parent_type, type_, name)


def is_root_stack(urn: str) -> bool:
    return urn_parts(urn)[2] == ROOT_STACK_TYPE


def canonical_urns(resources: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Each plan resource's URN -> its URN as the engine makes it, from the `parent` chain, `type`
    and `name` (deployment.go generateURN). Plans written before the offline plan did so carry only
    the parent's last type (`B$C` for `A$B$C`); for plans in the engine's form this is the identity."""
    by_urn = {r["urn"]: r for r in resources}
    canonical: dict[str, str] = {}

    def of(urn: str, seen: tuple[str, ...] = ()) -> str:
        if urn in canonical:
            return canonical[urn]
        if urn in seen:
            raise UnknownParent(f"{urn}: its parent chain is a cycle")
        resource = by_urn[urn]
        parent = resource.get("parent") or ""
        stack, project = urn_parts(urn)[:2]
        if parent and not is_root_stack(parent):
            if parent not in by_urn:
                raise UnknownParent(f"{urn}: its parent {parent} is not in the plan")
            parent_type = urn_parts(of(parent, (*seen, urn)))[2]
        else:
            parent_type = ""
        canonical[urn] = new_urn(stack, project, parent_type, resource["type"], resource["name"])
        return canonical[urn]

    for urn in by_urn:
        of(urn)
    return canonical


@dataclass(frozen=True)
class Goal:
    """What the program registered: the fields the engine's alias handling reads."""

    urn: str
    type: str
    name: str
    parent: str
    aliases: tuple[dict, ...]


@dataclass
class Matching:
    """The outcome against an old state: which old URN each new resource took over."""

    matched: dict[str, str] = field(default_factory=dict)  # new URN -> old URN
    created: list[str] = field(default_factory=list)
    # (old URN, the new URN that took it first, the new URN that claimed it again): the engine refuses these.
    claimed_twice: list[tuple[str, str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class Engine:
    def __init__(self, stack: str, project: str):
        self.stack, self.project = stack, project
        self.aliases: dict[str, str] = {}  # new URN -> the old URN it matched through an alias

    def collapse_alias(self, goal: Goal, alias: dict) -> str:
        unknown = set(alias) - SPEC_FIELDS - {"urn"}
        if unknown:
            raise UnknownAliasField(f"{goal.urn}: alias fields {sorted(unknown)} are not modelled")
        if "urn" in alias:
            return alias["urn"]
        name = alias.get("name") or goal.name
        type_ = alias.get("type") or goal.type
        parent = alias.get("parentUrn") or ""
        if not parent:
            parent = goal.parent
        else:
            parent = self.aliases.get(parent, parent)
        if alias.get("noParent") or (parent and is_root_stack(parent)):
            parent = ""
        return create_urn(name, type_, parent, alias.get("project") or self.project, alias.get("stack") or self.stack)

    def inherited_child_alias(self, child_type: str, child_name: str, parent_name: str, parent_alias: str) -> str:
        alias_name = child_name
        if child_name.startswith(parent_name):
            alias_name = urn_parts(parent_alias)[3] + child_name[len(parent_name) :]
        return new_urn(self.stack, self.project, urn_parts(parent_alias)[2], child_type, alias_name)

    def generate_aliases(self, goal: Goal) -> list[str]:
        result: list[str] = []

        def add(urn: str) -> None:
            if urn not in result:
                result.append(urn)

        for alias in goal.aliases:
            add(self.collapse_alias(goal, alias))
        if goal.parent and goal.parent in self.aliases:
            parent_alias, parent_name = self.aliases[goal.parent], urn_parts(goal.parent)[3]
            add(self.inherited_child_alias(goal.type, goal.name, parent_name, parent_alias))
            for alias in goal.aliases:
                child_alias = self.collapse_alias(goal, alias)
                aliased_type = urn_parts(child_alias)[2].split("$")[-1]
                add(self.inherited_child_alias(aliased_type, urn_parts(child_alias)[3], parent_name, parent_alias))
        return result

    def match(self, goals: Iterable[Goal], old_urns: Iterable[str]) -> Matching:
        """Register `goals` in program order (parents first) against a state holding `old_urns`."""
        old = set(old_urns)
        outcome = Matching()
        claimed: dict[str, str] = {}
        for goal in goals:
            for candidate in [goal.urn, *self.generate_aliases(goal)]:
                if candidate not in old:
                    continue
                if candidate in claimed:
                    outcome.claimed_twice.append((candidate, claimed[candidate], goal.urn))
                claimed[candidate] = goal.urn
                outcome.matched[goal.urn] = candidate
                if candidate != goal.urn:
                    self.aliases[goal.urn] = candidate
                break
            else:
                outcome.created.append(goal.urn)
        outcome.deleted = sorted(old - set(claimed))
        return outcome


def parents_first(goals: Iterable[Goal]) -> list[Goal]:
    """The goals in an order the program can register them: a parent before its children (the
    engine needs the parent's URN, and its matched alias, first); otherwise as given."""
    listed = list(goals)
    by_urn = {g.urn: g for g in listed}

    def depth(urn: str) -> int:
        return 0 if urn not in by_urn else 1 + depth(by_urn[urn].parent)

    return sorted(listed, key=lambda g: depth(g.urn))
