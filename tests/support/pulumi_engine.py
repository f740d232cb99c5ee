"""How the Pulumi engine matches a program's resources to an existing stack's state: by URN, then
by alias, each parent's matched alias extended to its children. Closed-world: an alias field this
model does not know fails.

Mirrors pulumi/pulumi@v3.272.0 (the engine paired with the pinned `pulumi` SDK):
- pkg/resource/deploy/deployment.go, generateURN: a child's URN type is its parent's whole
  qualified type, `$`, its own type; the root stack's type is left out.
- pkg/resource/deploy/step_generator.go, collapseAliasToUrn: an alias spec's empty name, type,
  parent, project and stack mean the resource's own; a parent that itself matched through an alias
  stands for its old URN; `noParent` (or the root stack as parent) means none.
- step_generator.go, inheritedChildAlias: a child inherits its parent's matched alias; a child
  name that starts with the parent's name has that prefix replaced by the alias's name.
- step_generator.go, generateAliases and generateSteps: the URN first, then each alias in order;
  the first found in the old state is the match (`sg.aliases[urn] = urnOrAlias`); two resources
  claiming one old URN is an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
SPEC_FIELDS = {"name", "type", "stack", "project", "parentUrn", "noParent"}


class UnknownAliasField(ValueError):
    """The program sent an alias field this model does not mirror."""


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
    claimed_twice: list[str] = field(default_factory=list)
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
        if alias.get("noParent") or (parent and urn_parts(parent)[2] == ROOT_STACK_TYPE):
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
                    outcome.claimed_twice.append(candidate)
                claimed[candidate] = goal.urn
                outcome.matched[goal.urn] = candidate
                if candidate != goal.urn:
                    self.aliases[goal.urn] = candidate
                break
            else:
                outcome.created.append(goal.urn)
        outcome.deleted = sorted(old - set(claimed))
        return outcome
