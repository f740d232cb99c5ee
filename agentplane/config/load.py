"""Load and validate the stack config and every team file into one PlatformSpec.

All problems in all files are collected and raised together as a ConfigError; a
PlatformSpec exists only when every input is valid, so nothing is ever registered
from a partly valid configuration.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from agentplane import safeyaml
from agentplane.errors import ConfigError, ConfigIssue, field_path
from agentplane.namespaces import reserved_reason
from agentplane.quantity import parse_quantity
from agentplane.config import untrusted
from agentplane.config.base import Secret, StrictModel, group_path, team_group_path
from agentplane.config.environment import EnvironmentConfig, Tier, egress_covers
from agentplane.config.sections.gateway import AGENT_REFERENCE, GROUP_REFERENCE, McpServer, resolve_access
from agentplane.config.platform import AgentSpec, PlatformSpec, TeamSpec
from agentplane.config.sections import SECTIONS
from agentplane.config.team import TeamFile

CONFIG_NAMESPACE = "agentplane"
STACKS_DIR = "stacks"
TEAMS_DIR = "stacks/teams"


def stack_config_path(root: Path, stack: str) -> Path:
    return root / STACKS_DIR / f"Pulumi.{stack}.yaml"


def known_environments(config_dir: Path) -> set[str]:
    """Environments are the stacks that have a config file: Pulumi.<env>.yaml."""
    return {p.name[len("Pulumi."):-len(".yaml")] for p in config_dir.glob("Pulumi.*.yaml")}


def printable(text: str, limit: int = 80) -> str:
    """`text` safe to print in a log: printable ASCII, escapes for anything else, cut at `limit`."""
    shown = text.encode("ascii", "backslashreplace").decode("ascii") if not text.isascii() else text
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def display(path: Path, root: Path | None = None) -> str:
    """A path as the operator knows it: relative to the project root (or the working directory)."""
    for base in (root, Path.cwd()):
        if base is None:
            continue
        try:
            return printable(str(path.absolute().relative_to(base.absolute())), 200)
        except ValueError:
            continue
    return printable(str(path), 200)


# --- reading -----------------------------------------------------------------------------


def env_config_from_stack_document(doc: Any, file: str) -> dict[str, Any]:
    """The `agentplane:` keys of a Pulumi stack file, without their namespace."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError([ConfigIssue(file, "", "the top level must be a mapping with a `config:` key")])
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([ConfigIssue(file, "config", "must be a mapping of `agentplane:<key>: value`")])
    raw: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = str(key).rpartition(":")
        # A key without a namespace belongs to the project namespace, as in Pulumi itself.
        if namespace in ("", CONFIG_NAMESPACE):
            raw[name] = value
    return raw


def env_config_from_engine(config_env: Mapping[str, str]) -> dict[str, Any]:
    """The `agentplane:` keys as the Pulumi engine hands them to the program (JSON-encoded strings)."""
    raw: dict[str, Any] = {}
    for key, text in config_env.items():
        namespace, _, name = key.rpartition(":")
        if namespace != CONFIG_NAMESPACE:
            continue
        try:
            raw[name] = json.loads(text)
        except (TypeError, ValueError):
            raw[name] = text  # a plain string value
    return raw


TEAM_FILE_SUFFIX = ".yaml"


def read_team_documents(teams_dir: Path, root: Path | None = None) -> tuple[list[tuple[Path, Any]], list[ConfigIssue]]:
    """Every team file's parsed document. Only regular `<team>.yaml` files directly in the teams
    directory are read, without following symlinks and with their size checked before reading;
    anything else in the directory is an error (nothing is skipped silently but dotfiles)."""
    docs: list[tuple[Path, Any]] = []
    issues: list[ConfigIssue] = []
    if not teams_dir.is_dir():
        return docs, [ConfigIssue(display(teams_dir, root), "", "teams directory does not exist")]
    for path in sorted(teams_dir.iterdir()):
        file = display(path, root)
        if path.name.startswith("."):
            continue  # .gitkeep and editor files; never read
        if path.is_symlink():
            issues.append(ConfigIssue(file, "", "is a symbolic link; a team file must be a regular file in the teams directory"))
            continue
        if path.is_dir():
            issues.append(ConfigIssue(file, "", "is a directory; only <team>.yaml files belong in the teams directory"))
            continue
        if path.suffix != TEAM_FILE_SUFFIX:
            issues.append(ConfigIssue(file, "", "only <team>.yaml team files belong in the teams directory"))
            continue
        try:
            docs.append((path, safeyaml.load_file(path)))
        except FileNotFoundError:
            issues.append(ConfigIssue(file, "", "disappeared while being read"))
        except (safeyaml.UnsafeYAML, OSError) as exc:
            issues.append(ConfigIssue(file, "", str(exc) if isinstance(exc, safeyaml.UnsafeYAML) else "cannot be read"))
    return docs, issues


# --- validation --------------------------------------------------------------------------


def _allowed_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        if isinstance(part, int):
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part or n == part), None)
        if field is None:
            continue  # a dict key such as an environment name
        current = _unwrap(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(f.alias or n for n, f in current.model_fields.items())
    return []


def _unwrap(annotation: Any) -> Any:
    """Optional[X], tuple[X, ...], dict[str, X], Annotated[X, ...] -> X."""
    for _ in range(6):
        origin = typing.get_origin(annotation)
        if origin is None:
            return annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None) and a is not Ellipsis]
        if origin is dict:
            annotation = args[-1]
        elif args:
            annotation = args[0]
        else:
            return annotation
    return annotation


def pydantic_issues(exc: ValidationError, model: type[BaseModel], file: str) -> list[ConfigIssue]:
    """Pydantic's errors as ConfigIssues, worded for operators (field path, what is allowed)."""
    issues = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path = field_path(loc)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            allowed = _allowed_fields(model, loc[:-1])
            message = "unknown field" + (f" (allowed here: {', '.join(allowed)})" if allowed else "")
        elif error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "too_short":
            message = f"must have at least {error['ctx']['min_length']} item(s)"
        elif error["type"] in ("int_type", "int_from_float"):
            message = "must be a whole number (an integer, not a string or a fraction)"
        elif error["type"] == "bool_type":
            message = "must be true or false (a boolean)"
        elif error["type"] == "model_type" or error["type"] == "dict_type":
            message = "must be a mapping of fields"
        issues.append(ConfigIssue(file, path, message))
    return issues


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
                problems.append((f"tiers[{i}].models[{j}]", f"{model!r} is not in agentplane:models (approved: {', '.join(approved) or 'none'})"))
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
        why = f"tiers are listed lowest first; {tier.name!r} must allow at least what {lower.name!r} (tiers[{i - 1}]) allows"
        for dimension in ("cpu", "memory", "pods"):
            if parse_quantity(getattr(tier.quota, dimension)) < parse_quantity(getattr(lower.quota, dimension)):
                problems.append((f"{where}.quota.{dimension}", f"{getattr(tier.quota, dimension)} is less than {getattr(lower.quota, dimension)}: {why}"))
        missing = [m for m in lower.models if m not in tier.models]
        if missing:
            problems.append((f"{where}.models", f"lacks {', '.join(missing)}: {why}"))
        if lower.egress and not tier.egress:
            problems.append((f"{where}.egress", f"false while {lower.name!r} allows egress: {why}"))
        if tier.daily_token_budget < lower.daily_token_budget:
            problems.append((f"{where}.dailyTokenBudget", f"{tier.daily_token_budget} is less than {lower.daily_token_budget}: {why}"))
        if PROVENANCE_STRICTNESS[tier.provenance] < PROVENANCE_STRICTNESS[lower.provenance]:
            problems.append((f"{where}.provenance", f"{tier.provenance} is less strict than {lower.provenance}: higher tiers check provenance at least as strictly"))
    return problems


def _plain_credentials(raw: Any, path: str = "") -> list[tuple[str, str]]:
    """Plain values in a stack file shaped like credentials: they belong in {secure: ...}."""
    found: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key == "secure":
                continue
            found += _plain_credentials(value, f"{path}.{key}" if path else str(key))
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            found += _plain_credentials(item, f"{path}[{i}]")
    elif isinstance(raw, str) and untrusted.looks_like_credential(raw):
        found.append((path, "looks like a credential in plain text; set it with `pulumi config set --secret` so the file holds {secure: ...}"))
    return found


def validate_environment(raw: dict[str, Any], file: str, *, source: str) -> EnvironmentConfig:
    # Field paths in a stack file carry the config namespace, as operators write them.
    def issue(field: str, message: str) -> ConfigIssue:
        return ConfigIssue(file, f"{CONFIG_NAMESPACE}:{field}" if field else "", message)

    if source == "file" and (plain := _plain_credentials(raw)):
        raise ConfigError([issue(field, message) for field, message in plain])
    try:
        env = EnvironmentConfig.model_validate(raw, context={"source": source})
    except ValidationError as exc:
        # The structural errors, and in the same run the cross-checks of every section that is
        # itself well formed; a check that reads a malformed section is not run.
        structural = [issue(i.field, i.message) for i in pydantic_issues(exc, EnvironmentConfig, file)]
        crossed = _cross_checks(_well_formed_sections(raw, exc, source)) if isinstance(raw, dict) else []
        raise ConfigError(structural + [issue(field, message) for field, message in crossed]) from None
    problems = _cross_checks(env)
    if problems:
        raise ConfigError([issue(field, message) for field, message in problems])
    return env


# The environment-level cross-checks of load.py; each platform piece adds its own
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
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = __str__ = __format__ = __index__ = _refuse  # type: ignore[assignment]


def _well_formed_sections(raw: dict[str, Any], exc: ValidationError, source: str) -> EnvironmentConfig:
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


def _cross_checks(env: EnvironmentConfig) -> list[tuple[str, str]]:
    checks = [*ENVIRONMENT_CHECKS, *(s.check_environment for s in SECTIONS if s.check_environment is not None)]
    assert checks
    problems: list[tuple[str, str]] = []
    for check in checks:
        try:
            problems += check(env)
        except _MalformedSection:
            continue  # it reads a section whose own errors are reported above
    return problems


def _check_team(team: TeamFile, file: str, stem: str, env: EnvironmentConfig, stack: str, known_envs: set[str]) -> list[ConfigIssue]:
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
            issue(f"environments.{stack}.tier", f"unknown tier {placement.tier!r} in {stack} (tiers: {', '.join(tier_names)})")
        elif placement.quota is not None:
            for dimension in ("cpu", "memory", "pods"):
                asked, ceiling = getattr(placement.quota, dimension), getattr(team_tier.quota, dimension)
                if parse_quantity(asked) > parse_quantity(ceiling):
                    issue(f"environments.{stack}.quota.{dimension}", f"{asked} exceeds the {team_tier.name} tier's ceiling of {ceiling}")

    for i, agent in enumerate(team.agents):
        for env_name, tier_name in agent.promote.items():
            field = f"agents[{i}].promote.{env_name}"
            if env_name not in known_envs:
                issue(field, f"unknown environment {env_name!r} (known: {known})")
            elif env_name not in team.environments:
                issue(field, f"the team is not in environment {env_name!r} (its environments: {', '.join(sorted(team.environments))})")
            elif env_name == stack:
                promoted = env.tier(tier_name)
                if promoted is None:
                    issue(field, f"unknown tier {tier_name!r} in {stack} (tiers: {', '.join(tier_names)})")
                elif team_tier is not None and env.tier_rank(tier_name) > env.tier_rank(team_tier.name):
                    issue(field, f"{tier_name!r} is above the team's tier {team_tier.name!r} in {stack}; an agent can be promoted at most to its team's tier")

    if team_tier is not None:
        # The tier's budget is the team's ceiling, the team's its agents' ceiling.
        team_budget = team.daily_token_budget if team.daily_token_budget is not None else team_tier.daily_token_budget
        if team.daily_token_budget is not None and team.daily_token_budget > team_tier.daily_token_budget:
            issue("dailyTokenBudget", f"{team.daily_token_budget} exceeds the {team_tier.name} tier's dailyTokenBudget of {team_tier.daily_token_budget} in {stack}")
        for i, agent in enumerate(team.agents):
            if agent.daily_token_budget is not None and agent.daily_token_budget > team_budget:
                issue(f"agents[{i}].dailyTokenBudget", f"{agent.daily_token_budget} exceeds the team's daily token budget of {team_budget} in {stack}")
        approved = [m.name for m in env.models]
        for i, model in enumerate(team.models or ()):
            if model not in approved:
                issue(f"models[{i}]", f"{model!r} is not approved in {stack} (approved: {', '.join(approved) or 'none'})")
            elif model not in team_tier.models:
                issue(f"models[{i}]", f"{model!r} is not allowed at tier {team_tier.name!r} (allowed: {', '.join(team_tier.models) or 'none'})")
        if team.egress and not team_tier.egress:
            issue("egress", f"tier {team_tier.name!r} does not allow external egress in {stack}; remove egress or move the team to a tier that allows it")
        for i, pattern in enumerate(team.egress):
            if not any(egress_covers(allowed, pattern) for allowed in env.egress):
                issue(f"egress[{i}]", f"{pattern!r} is not in the egress allowed in {stack} (allowed: {', '.join(env.egress) or 'none'})")
    # Each platform piece may check the team-file fields it owns against the environment.
    for section in SECTIONS:
        if section.check_team is not None:
            for field, message in section.check_team(team, env, stack):
                issue(field, message)
    return issues


def _resolved_server(server: McpServer, team: str) -> McpServer:
    """An MCP server with its `access` entries and tool grants' callers as the gateway compares them."""
    update: dict[str, Any] = {}
    if server.access is not None:
        update["access"] = tuple(resolve_access(e, team) for e in server.access)
    if server.tools is not None:
        update["tools"] = tuple(g.model_copy(update={"callers": tuple(resolve_access(c, team) for c in g.callers)}) for g in server.tools)
    return server.model_copy(update=update) if update else server


def _resolve_team(team: TeamFile, file: str, env: EnvironmentConfig, stack: str) -> TeamSpec:
    placement = team.environments[stack]
    tier = env.tier(placement.tier)
    assert tier is not None  # checked above
    models = tuple(team.models) if team.models is not None else tier.models
    agents = []
    for agent in team.agents:
        promoted_to = agent.promote.get(stack)
        agent_tier = env.tier(promoted_to) if promoted_to else env.tiers[0]
        assert agent_tier is not None
        agents.append(
            AgentSpec(
                name=agent.name,
                tier=agent_tier,
                promoted=promoted_to is not None,
                access=tuple(resolve_access(e, team.name) for e in (agent.access if agent.access is not None else team.owners)),
                models=tuple(m for m in models if m in agent_tier.models),
                egress=tuple(team.egress) if agent_tier.egress else (),
                daily_token_budget=agent.daily_token_budget,
                instrumentation=agent.instrumentation,
            )
        )
    return TeamSpec(
        name=team.name,
        file=file,
        namespace=team.name,
        tier=tier,
        quota=placement.quota or tier.quota,
        owners=tuple(group_path(team.name, g) for g in team.owners),
        members=tuple(group_path(team.name, g) for g in team.members),
        agents=tuple(agents),
        models=models,
        egress=tuple(team.egress),
        daily_token_budget=team.daily_token_budget if team.daily_token_budget is not None else tier.daily_token_budget,
        mcp_servers=tuple(_resolved_server(server, team.name) for server in team.mcp_servers),
        telemetry=team.telemetry,
        offboard=team.offboard,
    )


def _secret_warnings(model: BaseModel, path: str) -> Iterable[str]:
    """Encrypted values the offline plan cannot read (it has no passphrase)."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        here = f"{path}.{field.alias or name}"
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            if isinstance(item, Secret) and not item.available:
                yield f"{here} is encrypted; the offline plan uses a redacted placeholder"
            elif isinstance(item, BaseModel):
                yield from _secret_warnings(item, here)


def _deploy_warnings(env: EnvironmentConfig) -> list[str]:
    warnings = list(_secret_warnings(env, CONFIG_NAMESPACE))
    # What `pulumi up` needs that `plan` does not (e.g. credentials), section by section.
    for section in SECTIONS:
        if section.missing_for_deploy is not None:
            warnings += [f"{CONFIG_NAMESPACE}:{section.key}: {m}" for m in section.missing_for_deploy(env)]
    return warnings


def _access_references(team: TeamFile) -> list[tuple[str, str]]:
    """(field, entry) of every `access` entry of a team file."""
    refs = [(f"agents[{i}].access[{j}]", e) for i, agent in enumerate(team.agents) for j, e in enumerate(agent.access or ())]
    refs += [(f"mcpServers[{i}].access[{j}]", e) for i, server in enumerate(team.mcp_servers) for j, e in enumerate(server.access or ())]
    refs += [
        (f"mcpServers[{i}].tools[{j}].callers[{k}]", e)
        for i, server in enumerate(team.mcp_servers)
        for j, grant in enumerate(getattr(server, "tools", None) or ())
        for k, e in enumerate(grant.callers)
    ]
    return refs


def _check_references(teams: list[tuple[TeamFile, str]], env: EnvironmentConfig | None) -> list[ConfigIssue]:
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
                issues.append(ConfigIssue(file, field, f"group {group!r} is also declared by {others}; a group name belongs to one team only"))
    for team, file in teams:
        if team.name in declarations and declarations[team.name][0][0] != file:
            where, field = declarations[team.name][0]
            issues.append(ConfigIssue(file, "name", f"{team.name!r} is also a group name ({field} in {where}); a team may not be named like another team's group"))
    for team, file in teams:
        for field, entry in _access_references(team):
            agent_ref = AGENT_REFERENCE.match(entry)
            if agent_ref:
                owner = by_name.get(agent_ref["team"])
                agents = [a.name for a in owner.agents] if owner else []
                if owner is None:
                    issues.append(ConfigIssue(file, field, f"{entry!r}: there is no team {agent_ref['team']!r} (a team file of that name created later would inherit this access)"))
                elif agent_ref["agent"] not in agents:
                    issues.append(ConfigIssue(file, field, f"{entry!r}: team {owner.name} has no agent {agent_ref['agent']!r} (agents: {', '.join(agents) or 'none'})"))
                continue
            group_ref = GROUP_REFERENCE.match(entry)
            assert group_ref is not None
            owner_name = group_ref["team"] or team.name
            owner = by_name.get(owner_name)
            if owner is None:
                issues.append(ConfigIssue(file, field, f"{entry!r}: there is no team {owner_name!r} (a team file of that name created later would inherit this access)"))
                continue
            declared = [*owner.owners, *owner.members]
            if group_ref["group"] not in declared:
                hint = "" if group_ref["team"] else "; another team's group is written <team>/<group>"
                issues.append(ConfigIssue(file, field, f"{entry!r}: team {owner.name} declares no group {group_ref['group']!r} (its owners and members: {', '.join(declared)}){hint}"))
    if env is not None:
        prefix = env.tenancy.group_prefix
        admin = set(env.provenance.admin_groups)
        leaves = {a.rpartition("/")[2].rpartition(":")[2].lower(): a for a in sorted(admin)}
        for team, file in teams:
            if team.name in leaves:
                issues.append(ConfigIssue(file, "name", f"{team.name!r} is named like the admin group {leaves[team.name]!r} (agentplane:provenance.adminGroups); choose a name of the team's own"))
            if prefix + team_group_path(team.name) in admin:
                issues.append(ConfigIssue(file, "name", f"the team's group {prefix + team_group_path(team.name)!r} is in agentplane:provenance.adminGroups; a team's agents may not be platform admins"))
            for role in ("owners", "members"):
                for i, group in enumerate(getattr(team, role)):
                    # Tokens carry the path, so this is not a collision; but a sub-group named
                    # like an admin group reads as one to every person and tool that shows leaves.
                    lookalike = [a for a in sorted(admin) if group == a.rpartition("/")[2].rpartition(":")[2].lower()]
                    if lookalike:
                        issues.append(ConfigIssue(file, f"{role}[{i}]", f"{group!r} is named like the admin group {lookalike[0]!r} (agentplane:provenance.adminGroups); choose a name of the team's own"))
                    if prefix + group_path(team.name, group) in admin:
                        issues.append(ConfigIssue(file, f"{role}[{i}]", f"{prefix + group_path(team.name, group)!r} is in agentplane:provenance.adminGroups; a team group may not be a platform admin group"))
    return issues


def build_spec(
    stack: str,
    env_raw: dict[str, Any],
    env_file: str,
    team_docs: list[tuple[Path, Any]],
    known_envs: set[str],
    *,
    source: str,
    prior_issues: list[ConfigIssue] | None = None,
    root: Path | None = None,
) -> PlatformSpec:
    """Validate everything; return the spec or raise one ConfigError listing every problem.

    Every file is checked. Within a file, structural errors (unknown fields, wrong types) are
    reported first; cross-checks against the environment run on files that are well formed.
    """
    issues = list(prior_issues or [])
    env: EnvironmentConfig | None = None
    try:
        env = validate_environment(env_raw, env_file, source=source)
    except ConfigError as exc:
        issues += exc.issues

    teams: list[tuple[TeamFile, str]] = []
    names: dict[str, str] = {}
    for path, doc in team_docs:
        file = display(path, root)
        if not isinstance(doc, dict):
            issues.append(ConfigIssue(file, "", f"the top level must be a mapping of team fields, not {type(doc).__name__}"))
            continue
        # The alphabet of team files first: nothing outside it reaches a model or a message.
        if scanned := untrusted.scan(doc):
            issues += [ConfigIssue(file, field, message) for field, message in scanned]
            continue
        try:
            team = TeamFile.model_validate(doc, context={"source": "file"})
        except ValidationError as exc:
            issues += pydantic_issues(exc, TeamFile, file)
            continue
        if team.name in names:
            issues.append(ConfigIssue(file, "name", f"team {team.name!r} is also defined in {names[team.name]}"))
            continue
        names[team.name] = file
        if env is not None:
            issues += _check_team(team, file, path.stem, env, stack, known_envs | {stack})
        teams.append((team, file))

    issues += _check_references(teams, env)
    if issues or env is None:
        raise ConfigError(issues)
    resolved = tuple(
        _resolve_team(team, file, env, stack)
        for team, file in sorted(teams, key=lambda pair: pair[0].name)
        if stack in team.environments
    )
    # Cross-checks of the environment against every team of this stack.
    deployed = [team for team, _ in teams if stack in team.environments]
    for section in SECTIONS:
        if section.check_platform is not None:
            problems = section.check_platform(env, deployed)
            issues += [ConfigIssue(env_file, f"{CONFIG_NAMESPACE}:{field}", message) for field, message in problems]
    if issues:
        raise ConfigError(issues)
    return PlatformSpec(stack=stack, env=env, teams=resolved, warnings=tuple(_deploy_warnings(env)))


def load_from_files(stack: str, config: Path | None = None, teams: Path | None = None, root: Path | None = None) -> PlatformSpec:
    """What `agentplane validate` and `plan` read: the stack file and the teams directory."""
    root = root or Path.cwd()
    config_path = config or stack_config_path(root, stack)
    teams_dir = teams or root / TEAMS_DIR
    file = display(config_path, root)
    try:
        doc = safeyaml.load_file(config_path)
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(file, "", f"no config for stack {stack!r}: create it or pass --config")]) from None
    except (safeyaml.UnsafeYAML, OSError) as exc:
        raise ConfigError([ConfigIssue(file, "", str(exc))]) from None
    env_raw = env_config_from_stack_document(doc, file)
    docs, issues = read_team_documents(teams_dir, root)
    known = known_environments(config_path.parent) | known_environments(root / STACKS_DIR)
    return build_spec(stack, env_raw, file, docs, known, source="file", prior_issues=issues, root=root)
