"""The checks that read more than one field: each stack config against itself (duplicates,
tiers and their ceilings), each team file against the stack config (names, tiers, ceilings,
egress), the team files' references to each other's groups and agents, and each section's own
hooks (agentplane.config.sections.SECTIONS).

A check returns problems, never raises them: (field, message) pairs for the stack config (fields
relative to `agentplane:`), ConfigIssues where it knows the file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from agentplane.config import untrusted
from agentplane.config.base import StrictModel, group_path, team_group_path
from agentplane.config.environment import EnvironmentConfig, Tier, egress_covers
from agentplane.config.files import CONFIG_NAMESPACE
from agentplane.config.sections import SECTIONS
from agentplane.config.sections.gateway import AGENT_REFERENCE, GROUP_REFERENCE
from agentplane.config.team import TeamFile
from agentplane.errors import ConfigIssue
from agentplane.namespaces import reserved_reason
from agentplane.quantity import parse_quantity

# --- the stack config ----------------------------------------------------------------------


def _duplicates(field: str, names: list[str]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.append((f"{field}[{i}]", f"{name!r} appears more than once"))
        seen.add(name)
    return problems


def _check_tier_models(env: EnvironmentConfig) -> list[tuple[str, str]]:
    """A tier's models are approved models of the environment, each named once."""
    problems: list[tuple[str, str]] = []
    approved = [m.name for m in env.models]
    for i, tier in enumerate(env.tiers):
        seen_models: set[str] = set()
        for j, model in enumerate(tier.models):
            if model not in approved:
                problems.append(
                    (
                        f"tiers[{i}].models[{j}]",
                        f"{model!r} is not in agentplane:models (approved: {', '.join(approved) or 'none'})",
                    )
                )
            if model in seen_models:
                problems.append((f"tiers[{i}].models[{j}]", f"{model!r} appears more than once"))
            seen_models.add(model)
    return problems


PROVENANCE_STRICTNESS = {"audit": 0, "enforce": 1}


def _check_tiers_monotone(env: EnvironmentConfig) -> list[tuple[str, str]]:
    """Tiers are listed lowest first and each allows at least what the one below allows.

    Unpromoted agents run at the first tier and promotion only ever moves up the list, so a
    list in the wrong order would run every new agent with the most rights.
    """
    problems: list[tuple[str, str]] = []
    for i in range(1, len(env.tiers)):
        lower, tier = env.tiers[i - 1], env.tiers[i]
        where = f"tiers[{i}]"
        why = (
            f"tiers are listed lowest first; {tier.name!r} must allow at least what {lower.name!r} "
            f"(tiers[{i - 1}]) allows"
        )
        for dimension in ("cpu", "memory", "pods"):
            if parse_quantity(getattr(tier.quota, dimension)) < parse_quantity(getattr(lower.quota, dimension)):
                asked, below = getattr(tier.quota, dimension), getattr(lower.quota, dimension)
                problems.append((f"{where}.quota.{dimension}", f"{asked} is less than {below}: {why}"))
        missing = [m for m in lower.models if m not in tier.models]
        if missing:
            problems.append((f"{where}.models", f"lacks {', '.join(missing)}: {why}"))
        if lower.egress and not tier.egress:
            problems.append((f"{where}.egress", f"false while {lower.name!r} allows egress: {why}"))
        if tier.daily_token_budget < lower.daily_token_budget:
            problems.append(
                (
                    f"{where}.dailyTokenBudget",
                    f"{tier.daily_token_budget} is less than {lower.daily_token_budget}: {why}",
                )
            )
        if PROVENANCE_STRICTNESS[tier.provenance] < PROVENANCE_STRICTNESS[lower.provenance]:
            problems.append(
                (
                    f"{where}.provenance",
                    f"{tier.provenance} is less strict than {lower.provenance}: "
                    "higher tiers check provenance at least as strictly",
                )
            )
    return problems


def plain_credentials(raw: Any, path: str = "") -> list[tuple[str, str]]:
    """Plain values in a stack file shaped like credentials: they belong in {secure: ...}."""
    found: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key == "secure":
                continue
            found += plain_credentials(value, f"{path}.{key}" if path else str(key))
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            found += plain_credentials(item, f"{path}[{i}]")
    elif isinstance(raw, str) and untrusted.looks_like_credential(raw):
        found.append(
            (
                path,
                "looks like a credential in plain text; set it with `pulumi config set --secret` "
                "so the file holds {secure: ...}",
            )
        )
    return found


# The environment-level cross-checks of this module; each platform piece adds its own
# `check_environment` (agentplane.config.sections.SECTIONS).
ENVIRONMENT_CHECKS = (
    lambda env: _duplicates("models", [m.name for m in env.models]),
    lambda env: _duplicates("tiers", [t.name for t in env.tiers]),
    lambda env: _duplicates("egress", list(env.egress)),
    _check_tier_models,
    _check_tiers_monotone,
)


class _MalformedSection(Exception):
    """A cross-check read a top-level section that failed validation."""


class _Malformed:
    """Stands for a top-level section that failed validation: any use of it raises
    _MalformedSection, so no check reasons about a value that was never validated."""

    __slots__ = ("_section",)

    def __init__(self, section: str) -> None:
        object.__setattr__(self, "_section", section)

    def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
        raise _MalformedSection(self._section)

    __getattr__ = __iter__ = __len__ = __bool__ = __contains__ = __getitem__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse  # type: ignore[assignment]
    __hash__ = __str__ = __format__ = __index__ = _refuse  # type: ignore[assignment]


def well_formed_sections(raw: dict[str, Any], exc: ValidationError, source: str) -> EnvironmentConfig:
    """The environment with each top-level section that validates on its own; the others are
    _Malformed stand-ins (never defaults), and absent ones take their declared default."""
    failed = {error["loc"][0] for error in exc.errors(include_url=False) if error["loc"]}
    values: dict[str, Any] = {}
    for name, field in EnvironmentConfig.model_fields.items():
        key = field.alias or name
        if key in failed or name in failed:
            values[name] = _Malformed(key)
        elif key in raw:
            one = _ONE_SECTION[name].model_validate({key: raw[key]}, context={"source": source})
            values[name] = getattr(one, name)
    return EnvironmentConfig.model_construct(**values)


# One model per top-level field, with that field exactly as EnvironmentConfig declares it.
_ONE_SECTION: dict[str, type[BaseModel]] = {
    name: create_model(f"Only{name.title()}", __base__=StrictModel, **{name: (field.annotation, field)})
    for name, field in EnvironmentConfig.model_fields.items()
}


def environment_problems(env: EnvironmentConfig) -> list[tuple[str, str]]:
    """The (field, message) problems of every environment-level check, this module's and each
    section's. A check that reads a malformed section (well_formed_sections) is skipped."""
    checks = [*ENVIRONMENT_CHECKS, *(s.check_environment for s in SECTIONS if s.check_environment is not None)]
    assert checks
    problems: list[tuple[str, str]] = []
    for check in checks:
        try:
            problems += check(env)
        except _MalformedSection:
            continue  # it reads a section whose own errors are reported with the structural ones
    return problems


# --- team files ----------------------------------------------------------------------------


def team_issues(
    team: TeamFile, file: str, stem: str, env: EnvironmentConfig, stack: str, known_envs: set[str]
) -> list[ConfigIssue]:
    """A well-formed team file against the stack config: its name, duplicates, environments, its
    tier's ceilings (quota, budget, models, egress) and promotions, then each section's `check_team`."""
    issues: list[ConfigIssue] = []

    def issue(field: str, message: str) -> None:
        issues.append(ConfigIssue(file, field, message))

    if team.name != stem:
        issue("name", f"{team.name!r} must equal the file name {stem!r}")
    if reason := reserved_reason(team.name, env.tenancy.reserved_namespaces):
        issue("name", reason)

    seen_agents: set[str] = set()
    for i, agent in enumerate(team.agents):
        if agent.name in seen_agents:
            issue(f"agents[{i}].name", f"agent {agent.name!r} is defined more than once")
        seen_agents.add(agent.name)
    for field, values in (("models", team.models or ()), ("egress", team.egress)):
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                issue(f"{field}[{i}]", f"{value!r} appears more than once")
            seen.add(value)

    known = ", ".join(sorted(known_envs))
    for env_name in team.environments:
        if env_name not in known_envs:
            issue(f"environments.{env_name}", f"unknown environment {env_name!r} (known: {known})")

    tier_names = [t.name for t in env.tiers]
    placement = team.environments.get(stack)
    team_tier: Tier | None = None
    if placement is not None:
        team_tier = env.tier(placement.tier)
        if team_tier is None:
            issue(
                f"environments.{stack}.tier",
                f"unknown tier {placement.tier!r} in {stack} (tiers: {', '.join(tier_names)})",
            )
        elif placement.quota is not None:
            for dimension in ("cpu", "memory", "pods"):
                asked, ceiling = getattr(placement.quota, dimension), getattr(team_tier.quota, dimension)
                if parse_quantity(asked) > parse_quantity(ceiling):
                    issue(
                        f"environments.{stack}.quota.{dimension}",
                        f"{asked} exceeds the {team_tier.name} tier's ceiling of {ceiling}",
                    )

    for i, agent in enumerate(team.agents):
        for env_name, tier_name in agent.promote.items():
            field = f"agents[{i}].promote.{env_name}"
            if env_name not in known_envs:
                issue(field, f"unknown environment {env_name!r} (known: {known})")
            elif env_name not in team.environments:
                issue(
                    field,
                    f"the team is not in environment {env_name!r} "
                    f"(its environments: {', '.join(sorted(team.environments))})",
                )
            elif env_name == stack:
                promoted = env.tier(tier_name)
                if promoted is None:
                    issue(field, f"unknown tier {tier_name!r} in {stack} (tiers: {', '.join(tier_names)})")
                elif team_tier is not None and env.tier_rank(tier_name) > env.tier_rank(team_tier.name):
                    issue(
                        field,
                        f"{tier_name!r} is above the team's tier {team_tier.name!r} in {stack}; "
                        "an agent can be promoted at most to its team's tier",
                    )

    if team_tier is not None:
        # The tier's budget is the team's ceiling, the team's its agents' ceiling.
        team_budget = team.daily_token_budget if team.daily_token_budget is not None else team_tier.daily_token_budget
        if team.daily_token_budget is not None and team.daily_token_budget > team_tier.daily_token_budget:
            issue(
                "dailyTokenBudget",
                f"{team.daily_token_budget} exceeds the {team_tier.name} tier's dailyTokenBudget of "
                f"{team_tier.daily_token_budget} in {stack}",
            )
        for i, agent in enumerate(team.agents):
            if agent.daily_token_budget is not None and agent.daily_token_budget > team_budget:
                issue(
                    f"agents[{i}].dailyTokenBudget",
                    f"{agent.daily_token_budget} exceeds the team's daily token budget of {team_budget} in {stack}",
                )
        approved = [m.name for m in env.models]
        for i, model in enumerate(team.models or ()):
            if model not in approved:
                issue(
                    f"models[{i}]", f"{model!r} is not approved in {stack} (approved: {', '.join(approved) or 'none'})"
                )
            elif model not in team_tier.models:
                issue(
                    f"models[{i}]",
                    f"{model!r} is not allowed at tier {team_tier.name!r} "
                    f"(allowed: {', '.join(team_tier.models) or 'none'})",
                )
        if team.egress and not team_tier.egress:
            issue(
                "egress",
                f"tier {team_tier.name!r} does not allow external egress in {stack}; "
                "remove egress or move the team to a tier that allows it",
            )
        for i, pattern in enumerate(team.egress):
            if not any(egress_covers(allowed, pattern) for allowed in env.egress):
                issue(
                    f"egress[{i}]",
                    f"{pattern!r} is not in the egress allowed in {stack} (allowed: {', '.join(env.egress) or 'none'})",
                )
    # Each platform piece may check the team-file fields it owns against the environment.
    for section in SECTIONS:
        if section.check_team is not None:
            for field, message in section.check_team(team, env, stack):
                issue(field, message)
    return issues


def _access_references(team: TeamFile) -> list[tuple[str, str]]:
    """(field, entry) of every `access` entry of a team file."""
    refs = [
        (f"agents[{i}].access[{j}]", e) for i, agent in enumerate(team.agents) for j, e in enumerate(agent.access or ())
    ]
    refs += [
        (f"mcpServers[{i}].access[{j}]", e)
        for i, server in enumerate(team.mcp_servers)
        for j, e in enumerate(server.access or ())
    ]
    refs += [
        (f"mcpServers[{i}].tools[{j}].callers[{k}]", e)
        for i, server in enumerate(team.mcp_servers)
        for j, grant in enumerate(getattr(server, "tools", None) or ())
        for k, e in enumerate(grant.callers)
    ]
    return refs


def reference_issues(teams: list[tuple[TeamFile, str]], env: EnvironmentConfig | None) -> list[ConfigIssue]:
    """Every `access` entry names a group or agent some team file declares, and no team's
    groups are an admin group.

    Groups reach tokens and RoleBindings by path (`/<team>/<group>`), so two teams can never
    produce the same group, and no team can produce a Kubernetes or admin group. What remains
    is that a reference must point at something that exists today: a reference to a group or
    team nobody declares would be inherited by whoever declares it later.
    """
    issues: list[ConfigIssue] = []
    by_name = {team.name: team for team, _ in teams}
    # Paths already keep teams apart; names stay unambiguous for people and for tools that show
    # a group's last segment: a group name belongs to one team, and no team is named like one.
    declarations: dict[str, list[tuple[str, str]]] = {}
    for team, file in teams:
        for role in ("owners", "members"):
            for i, group in enumerate(getattr(team, role)):
                declarations.setdefault(group, []).append((file, f"{role}[{i}]"))
    for group, places in declarations.items():
        files = sorted({f for f, _ in places})
        if len(files) > 1:
            for file, field in places:
                others = ", ".join(f for f in files if f != file)
                message = f"group {group!r} is also declared by {others}; a group name belongs to one team only"
                issues.append(ConfigIssue(file, field, message))
    for team, file in teams:
        if team.name in declarations and declarations[team.name][0][0] != file:
            where, field = declarations[team.name][0]
            message = (
                f"{team.name!r} is also a group name ({field} in {where}); "
                "a team may not be named like another team's group"
            )
            issues.append(ConfigIssue(file, "name", message))
    for team, file in teams:
        for field, entry in _access_references(team):
            agent_ref = AGENT_REFERENCE.match(entry)
            if agent_ref:
                owner = by_name.get(agent_ref["team"])
                agents = [a.name for a in owner.agents] if owner else []
                if owner is None:
                    issues.append(
                        ConfigIssue(
                            file,
                            field,
                            (
                                f"{entry!r}: there is no team {agent_ref['team']!r} "
                                "(a team file of that name created later would inherit this access)"
                            ),
                        )
                    )
                elif agent_ref["agent"] not in agents:
                    issues.append(
                        ConfigIssue(
                            file,
                            field,
                            (
                                f"{entry!r}: team {owner.name} has no agent {agent_ref['agent']!r} "
                                f"(agents: {', '.join(agents) or 'none'})"
                            ),
                        )
                    )
                continue
            group_ref = GROUP_REFERENCE.match(entry)
            assert group_ref is not None
            owner_name = group_ref["team"] or team.name
            owner = by_name.get(owner_name)
            if owner is None:
                issues.append(
                    ConfigIssue(
                        file,
                        field,
                        (
                            f"{entry!r}: there is no team {owner_name!r} "
                            "(a team file of that name created later would inherit this access)"
                        ),
                    )
                )
                continue
            declared = [*owner.owners, *owner.members]
            if group_ref["group"] not in declared:
                hint = "" if group_ref["team"] else "; another team's group is written <team>/<group>"
                issues.append(
                    ConfigIssue(
                        file,
                        field,
                        (
                            f"{entry!r}: team {owner.name} declares no group {group_ref['group']!r} "
                            f"(its owners and members: {', '.join(declared)}){hint}"
                        ),
                    )
                )
    if env is not None:
        prefix = env.tenancy.group_prefix
        admin = set(env.provenance.admin_groups)
        leaves = {a.rpartition("/")[2].rpartition(":")[2].lower(): a for a in sorted(admin)}
        for team, file in teams:
            if team.name in leaves:
                issues.append(
                    ConfigIssue(
                        file,
                        "name",
                        (
                            f"{team.name!r} is named like the admin group {leaves[team.name]!r} "
                            "(agentplane:provenance.adminGroups); choose a name of the team's own"
                        ),
                    )
                )
            if prefix + team_group_path(team.name) in admin:
                issues.append(
                    ConfigIssue(
                        file,
                        "name",
                        (
                            f"the team's group {prefix + team_group_path(team.name)!r} is in "
                            "agentplane:provenance.adminGroups; "
                            "a team's agents may not be platform admins"
                        ),
                    )
                )
            for role in ("owners", "members"):
                for i, group in enumerate(getattr(team, role)):
                    # Tokens carry the path, so this is not a collision; but a sub-group named
                    # like an admin group reads as one to every person and tool that shows leaves.
                    lookalike = [a for a in sorted(admin) if group == a.rpartition("/")[2].rpartition(":")[2].lower()]
                    if lookalike:
                        issues.append(
                            ConfigIssue(
                                file,
                                f"{role}[{i}]",
                                (
                                    f"{group!r} is named like the admin group {lookalike[0]!r} "
                                    "(agentplane:provenance.adminGroups); choose a name of the team's own"
                                ),
                            )
                        )
                    if prefix + group_path(team.name, group) in admin:
                        issues.append(
                            ConfigIssue(
                                file,
                                f"{role}[{i}]",
                                (
                                    f"{prefix + group_path(team.name, group)!r} is in "
                                    "agentplane:provenance.adminGroups; a team group may not be a platform admin group"
                                ),
                            )
                        )
    return issues


def platform_issues(env: EnvironmentConfig, env_file: str, deployed: list[TeamFile]) -> list[ConfigIssue]:
    """The stack config against every team file deployed to the stack (each section's `check_platform`)."""
    issues: list[ConfigIssue] = []
    for section in SECTIONS:
        if section.check_platform is not None:
            problems = section.check_platform(env, deployed)
            issues += [ConfigIssue(env_file, f"{CONFIG_NAMESPACE}:{field}", message) for field, message in problems]
    return issues
