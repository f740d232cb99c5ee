"""Per-piece environment and team-file settings; every key has a default.

A section module holds one platform piece's settings models and, as plain module functions, the
checks the loader runs for it. `SECTIONS` below is the one list the loader reads: it never looks
a hook up by name. Adding a piece is one section module and one `Section(...)` line here.

The hooks, their signatures and when the loader runs them (each kind in `SECTIONS` order):

`check_environment(env) -> [(field, message)]`
    After the stack config is read, for every run. `env` is the validated EnvironmentConfig,
    or, when some top-level keys failed validation, one where those keys stand for values a
    check may not read: a check that reads one is skipped (its key's own errors are reported).
    Fields are relative to `agentplane:`; the issues name the stack file.
`check_team(team, env, stack) -> [(field, message)]`
    For every team file that validates on its own, when the stack config is valid, after the
    loader's own team checks (name, tiers, ceilings, egress). Fields are the team file's.
`check_platform(env, teams) -> [(field, message)]`
    Once, when every file is valid and every reference resolves; `teams` are the team files
    deployed to this stack. Fields are relative to `agentplane:`; the issues name the stack file.
`missing_for_deploy(env) -> [message]`
    On a valid spec: what `pulumi up` needs that `plan` does not (credentials, digests). Each
    message becomes the warning `agentplane:<key>: <message>`, after the warnings about
    encrypted values; `plan` and a preview print them, `pulumi up` refuses to run with any.

Problems are data, never exceptions: a hook returns them and the loader reports every problem
of every file together (agentplane.errors.ConfigError, which sorts them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentplane.config.sections import (
    certificates,
    gateway,
    identity,
    images,
    provenance,
    resilience,
    telemetry,
    workload_identity,
)

if TYPE_CHECKING:
    from agentplane.config.environment import EnvironmentConfig
    from agentplane.config.team import TeamFile

# (field path, message)
Problem = tuple[str, str]
EnvironmentCheck = Callable[["EnvironmentConfig"], list[Problem]]
TeamCheck = Callable[["TeamFile", "EnvironmentConfig", str], list[Problem]]
PlatformCheck = Callable[["EnvironmentConfig", list["TeamFile"]], list[Problem]]
DeployRequirements = Callable[["EnvironmentConfig"], list[str]]

# The hook names, as a section module defines them and as `Section` names its fields.
HOOKS = ("check_environment", "check_team", "check_platform", "missing_for_deploy")


@dataclass(frozen=True)
class Section:
    """One platform piece's checks, as the loader runs them (see the module docstring)."""

    key: str
    """The stack-config key of the piece's settings (`agentplane:<key>`), which its deploy warnings name."""
    check_environment: EnvironmentCheck | None = None
    check_team: TeamCheck | None = None
    check_platform: PlatformCheck | None = None
    missing_for_deploy: DeployRequirements | None = None


# Every section, in the order the loader runs each kind of hook; deploy warnings are listed in
# this order, so a new section goes where its warnings should appear.
SECTIONS: tuple[Section, ...] = (
    Section("certificates", check_environment=certificates.check_environment),
    Section("identity", check_team=identity.check_team, missing_for_deploy=identity.missing_for_deploy),
    Section("spire", check_environment=workload_identity.check_environment),
    Section(
        "telemetry",
        check_team=telemetry.check_team,
        check_platform=telemetry.check_platform,
        missing_for_deploy=telemetry.missing_for_deploy,
    ),
    Section(
        "provenance", check_environment=provenance.check_environment, missing_for_deploy=provenance.missing_for_deploy
    ),
    Section(
        "gateway",
        check_environment=gateway.check_environment,
        check_team=gateway.check_team,
        missing_for_deploy=gateway.missing_for_deploy,
    ),
    # Replicas and backups of other pieces' settings (gateway.budget.store, identity.database.backup).
    Section("resilience", check_environment=resilience.check_environment),
    Section("images", check_environment=images.check_environment, missing_for_deploy=images.missing_for_deploy),
    Section("adopt"),  # no checks: its models validate themselves
)
