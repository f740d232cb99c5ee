"""Load and validate the stack config and every team file into one PlatformSpec.

All problems in all files are collected and raised together as a ConfigError; a
PlatformSpec exists only when every input is valid, so nothing is ever registered
from a partly valid configuration.

This module is the order of the steps; each step is its own module: files.py reads the files,
messages.py words pydantic's errors, checks.py runs the cross-checks and each section's hooks
(sections.SECTIONS), resolve.py builds the TeamSpecs, deploy.py lists what `pulumi up` still needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentplane.config import checks, deploy, untrusted
from agentplane.config.environment import EnvironmentConfig
from agentplane.config.files import (
    CONFIG_NAMESPACE,
    TEAMS_DIR,
    project_environments,
    read_stack_config,
    read_team_documents,
    stack_config_path,
)
from agentplane.config.messages import display, pydantic_issues
from agentplane.config.platform import PlatformSpec
from agentplane.config.resolve import resolve_team
from agentplane.config.team import TeamFile
from agentplane.errors import ConfigError, ConfigIssue


def validate_environment(raw: dict[str, Any], file: str, *, source: str) -> EnvironmentConfig:
    """The stack config's `agentplane:` keys as an EnvironmentConfig, or one ConfigError naming `file`."""

    # Field paths in a stack file carry the config namespace, as operators write them.
    def issue(field: str, message: str) -> ConfigIssue:
        return ConfigIssue(file, f"{CONFIG_NAMESPACE}:{field}" if field else "", message)

    if source == "file" and (plain := checks.plain_credentials(raw)):
        raise ConfigError([issue(field, message) for field, message in plain])
    try:
        env = EnvironmentConfig.model_validate(raw, context={"source": source})
    except ValidationError as exc:
        # The structural errors, and in the same run the cross-checks of every section that is
        # itself well formed; a check that reads a malformed section is not run.
        structural = [issue(i.field, i.message) for i in pydantic_issues(exc, EnvironmentConfig, file)]
        crossed: list[tuple[str, str]] = []
        if isinstance(raw, dict):
            crossed = checks.environment_problems(checks.well_formed_sections(raw, exc, source))
        raise ConfigError(structural + [issue(field, message) for field, message in crossed]) from None
    problems = checks.environment_problems(env)
    if problems:
        raise ConfigError([issue(field, message) for field, message in problems])
    return env


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
            message = f"the top level must be a mapping of team fields, not {type(doc).__name__}"
            issues.append(ConfigIssue(file, "", message))
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
            issues += checks.team_issues(team, file, path.stem, env, stack, known_envs | {stack})
        teams.append((team, file))

    issues += checks.reference_issues(teams, env)
    if issues or env is None:
        raise ConfigError(issues)
    resolved = tuple(
        resolve_team(team, file, env, stack)
        for team, file in sorted(teams, key=lambda pair: pair[0].name)
        if stack in team.environments
    )
    # Cross-checks of the environment against every team of this stack.
    deployed = [team for team, _ in teams if stack in team.environments]
    issues += checks.platform_issues(env, env_file, deployed)
    if issues:
        raise ConfigError(issues)
    return PlatformSpec(stack=stack, env=env, teams=resolved, warnings=tuple(deploy.deploy_warnings(env)))


def load_from_files(
    stack: str, config: Path | None = None, teams: Path | None = None, root: Path | None = None
) -> PlatformSpec:
    """What `agentplane validate` and `plan` read: the stack file and the teams directory."""
    root = root or Path.cwd()
    config_path = config or stack_config_path(root, stack)
    teams_dir = teams or root / TEAMS_DIR
    file = display(config_path, root)
    env_raw = read_stack_config(config_path, stack, file)
    docs, issues = read_team_documents(teams_dir, root)
    known = project_environments(root, config_path.parent)
    return build_spec(stack, env_raw, file, docs, known, source="file", prior_issues=issues, root=root)
