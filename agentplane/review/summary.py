"""The per-team review summary: what each team and agent may do in one environment, and what a change alters.

A reviewer of a team file does not want 42 resource lines; they want, for each team and
agent, the effective tier, models, egress, daily token budget, who may call it, the
provenance mode and where its telemetry goes, and what changed in those terms. This module
computes that from the resolved spec (`summarize`), compares two summaries
(`compare_summaries`) and renders them as markdown or text. Pure functions of plain dicts:
the summary is stored in plan.json under `review`, so two plans can be compared without
re-reading any configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentplane.config.platform import AgentSpec, PlatformSpec, TeamSpec

# Shown in this order; the keys of a team's and an agent's entry.
TEAM_FIELDS = (
    "tier",
    "quota",
    "models",
    "egress",
    "budget",
    "owners",
    "members",
    "provenance",
    "telemetry",
    "protected",
    "offboard",
)
AGENT_FIELDS = ("tier", "models", "egress", "budget", "access", "provenance", "telemetry")
LABELS = {
    "tier": "tier",
    "quota": "quota",
    "models": "models",
    "egress": "egress",
    "budget": "daily token budget",
    "owners": "owners",
    "members": "members",
    "access": "access",
    "provenance": "provenance",
    "telemetry": "telemetry",
    "protected": "protected",
    "offboard": "offboarding",
}
NO_EXPORT = "none (collector debug exporter: nothing leaves the cluster)"


def telemetry_backend(spec: PlatformSpec, team: TeamSpec) -> str:
    if team.telemetry is not None:
        return f"team: {team.telemetry.endpoint} ({team.telemetry.protocol})"
    backend = spec.env.telemetry.default_backend
    if backend is not None:
        return f"platform default: {backend.endpoint} ({backend.protocol})"
    return NO_EXPORT


def _agent(spec: PlatformSpec, team: TeamSpec, agent: AgentSpec) -> dict[str, Any]:
    telemetry = telemetry_backend(spec, team) if agent.instrumentation else "off (instrumentation: false)"
    return {
        "tier": agent.tier.name + (" (promoted)" if agent.promoted else ""),
        "models": list(agent.models),
        "egress": list(agent.egress),
        "budget": (
            agent.daily_token_budget
            if agent.daily_token_budget is not None
            else f"shared with the team ({team.daily_token_budget:,})"
        ),
        "access": list(agent.access),
        "provenance": agent.tier.provenance,
        "telemetry": telemetry,
    }


def summarize(spec: PlatformSpec) -> dict[str, Any]:
    """{stack, protect, teams: {team: {fields..., agents: {agent: {fields...}}}}}: JSON-ready."""
    teams = {}
    for team in spec.teams:
        teams[team.name] = {
            "tier": team.tier.name,
            "quota": f"cpu {team.quota.cpu}, memory {team.quota.memory}, pods {team.quota.pods}",
            "models": list(team.models),
            "egress": list(team.egress),
            "budget": team.daily_token_budget,
            "owners": list(team.owners),
            "members": list(team.members),
            "provenance": team.tier.provenance,
            "telemetry": telemetry_backend(spec, team),
            # A protected stack refuses to delete the team's namespace unless it is offboarding.
            "protected": spec.protect and not team.offboard,
            "offboard": team.offboard,
            "file": team.file,
            "agents": {agent.name: _agent(spec, team, agent) for agent in team.agents},
        }
    return {"stack": spec.stack, "protect": spec.protect, "teams": teams}


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class TeamChange:
    team: str
    status: str  # added | removed | changed | unchanged
    fields: tuple[FieldChange, ...] = ()
    agents_added: tuple[str, ...] = ()
    agents_removed: tuple[str, ...] = ()
    agents_changed: tuple[tuple[str, tuple[FieldChange, ...]], ...] = ()
    # Removing this team's file deletes a protected namespace: `pulumi up` will refuse it.
    protected_removal: bool = False

    @property
    def changed(self) -> bool:
        return self.status != "unchanged"


def _field_changes(old: dict[str, Any], new: dict[str, Any], names: tuple[str, ...]) -> tuple[FieldChange, ...]:
    return tuple(FieldChange(n, old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n))


def compare_summaries(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[TeamChange]:
    """Per team (sorted), what changed between two summaries; None is an empty environment."""
    old_teams = (old or {}).get("teams", {})
    new_teams = (new or {}).get("teams", {})
    out = []
    for name in sorted(set(old_teams) | set(new_teams)):
        before, after = old_teams.get(name), new_teams.get(name)
        if before is None:
            out.append(TeamChange(name, "added", agents_added=tuple(sorted(after["agents"]))))
            continue
        if after is None:
            out.append(
                TeamChange(
                    name,
                    "removed",
                    agents_removed=tuple(sorted(before["agents"])),
                    protected_removal=bool(before.get("protected")),
                )
            )
            continue
        fields = _field_changes(before, after, TEAM_FIELDS)
        added = tuple(sorted(set(after["agents"]) - set(before["agents"])))
        removed = tuple(sorted(set(before["agents"]) - set(after["agents"])))
        changed = tuple(
            (agent, ch)
            for agent in sorted(set(before["agents"]) & set(after["agents"]))
            if (ch := _field_changes(before["agents"][agent], after["agents"][agent], AGENT_FIELDS))
        )
        status = "changed" if fields or added or removed or changed else "unchanged"
        out.append(TeamChange(name, status, fields, added, removed, changed))
    return out


def protected_removals(changes: list[TeamChange]) -> list[str]:
    return [c.team for c in changes if c.protected_removal]


# --------------------------------------------------------------------------- rendering


def show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "none"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _change_text(change: FieldChange) -> str:
    if isinstance(change.old, list) and isinstance(change.new, list):
        gained = [v for v in change.new if v not in change.old]
        lost = [v for v in change.old if v not in change.new]
        parts = [f"+{v}" for v in gained] + [f"−{v}" for v in lost]
        return f"{LABELS[change.field]}: {', '.join(parts)} (now: {show(change.new)})"
    return f"{LABELS[change.field]}: {show(change.old)} → {show(change.new)}"


OFFBOARDING_PROCEDURE = (
    "offboard it first: set `offboard: true` in its team file, merge and deploy that change "
    "(it lifts the protection), then delete the file in a later change (docs/teams.md, Offboarding a team)"
)


def protected_removal_message(stack: str, team: str) -> str:
    return (
        f"BLOCKED: this change deletes team `{team}` from the protected stack `{stack}`: "
        f"`pulumi up` would refuse to delete its protected namespace and fail every team's deploy. "
        f"To remove a team, {OFFBOARDING_PROCEDURE}."
    )


def _agent_cells(agent: dict[str, Any]) -> str:
    return " | ".join(show(agent[f]) for f in AGENT_FIELDS)


def render_markdown(
    stack: str, old: dict[str, Any] | None, new: dict[str, Any] | None, *, heading: str = "####"
) -> str:
    """The review summary of one environment: what changed per team, then each changed team's agents."""
    changes = compare_summaries(old, new)
    lines = [f"{heading} Review summary `{stack}`", ""]
    for team in protected_removals(changes):
        lines += [f"> ❌ **{protected_removal_message(stack, team)}**", ""]
    touched = [c for c in changes if c.changed]
    if not touched:
        lines.append("No team or agent changes in tier, models, egress, budget, access, provenance or telemetry.")
        return "\n".join(lines) + "\n"
    for change in touched:
        current = ((new or {}).get("teams", {}) if change.status != "removed" else (old or {}).get("teams", {}))[
            change.team
        ]
        lines.append(
            f"- **team `{change.team}`**: {change.status}"
            + (f" (tier {current['tier']}, provenance {current['provenance']})" if change.status == "added" else "")
        )
        lines += [f"  - {_change_text(f)}" for f in change.fields]
        lines += [f"  - agent `{a}` added" for a in change.agents_added if change.status != "added"]
        lines += [f"  - agent `{a}` removed" for a in change.agents_removed if change.status != "removed"]
        for agent, fields in change.agents_changed:
            lines.append(f"  - agent `{agent}`: " + "; ".join(_change_text(f) for f in fields))
        if change.status != "removed":
            lines += [
                "",
                "  | agent | " + " | ".join(LABELS[f] for f in AGENT_FIELDS) + " |",
                "  |---" * (len(AGENT_FIELDS) + 1) + "|",
            ]
            agents = current["agents"]
            lines += [f"  | `{name}` | {_agent_cells(agents[name])} |" for name in sorted(agents)]
            if not agents:
                lines.append("  | (no agents) |" + " |" * len(AGENT_FIELDS))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_text(summary: dict[str, Any]) -> str:
    """The whole summary of one environment for a terminal (`agentplane plan --summary`)."""
    lines = [f"stack {summary['stack']}" + (" (protected)" if summary.get("protect") else "")]
    for name, team in summary["teams"].items():
        lines.append(f"  team {name}: " + "; ".join(f"{LABELS[f]} {show(team[f])}" for f in TEAM_FIELDS))
        for agent, values in team["agents"].items():
            lines.append(f"    agent {agent}: " + "; ".join(f"{LABELS[f]} {show(values[f])}" for f in AGENT_FIELDS))
    return "\n".join(lines)
