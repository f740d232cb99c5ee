"""`agentplane catalog`: every agent on the platform, per environment and team, as configured
(and, with --live, as running).

From the configuration alone (no cluster): for each stack, team and agent the effective tier,
models, egress, daily token budget, access, telemetry backend and provenance mode, the same
terms as the per-team review summary (agentplane/review/summary.py).

With `--live`, kubectl (the stack's `agentplane:cluster` context/kubeconfig) adds, per agent:

* workload health: its pods (label `agentplane.io/agent`, which admission sets from the
  ServiceAccount) in the team's namespace, ready / total;
* provenance: Kyverno's PolicyReports (`wgpolicyk8s.io/v1alpha2`, one per resource, `scope`
  naming it) for the platform's image-provenance policies: `verified` when every reported pod
  passed, `FAILED` when one failed, `no report` when Kyverno reported nothing (yet).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentplane.command import EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError, report, selected_stacks, stack_arguments
from agentplane.errors import ConfigError
from agentplane.review.summary import AGENT_FIELDS, LABELS, show, summarize

LIVE_TIMEOUT_SECONDS = 60
AGENT_LABEL = "agentplane.io/agent"
COLUMNS = ("stack", "team", "agent", *AGENT_FIELDS)
LIVE_COLUMNS = ("workload", "image provenance")


class LiveError(Exception):
    """The cluster could not be asked (no kubectl, unreachable, not allowed)."""


@dataclass(frozen=True)
class Cluster:
    context: str | None
    kubeconfig: str | None


def rows(spec) -> list[dict[str, Any]]:
    """One row per agent (a team without agents gets one row with agent None)."""
    review = summarize(spec)
    out = []
    for team, entry in review["teams"].items():
        if not entry["agents"]:
            out.append({"stack": spec.stack, "team": team, "agent": None, "namespace": _namespace(spec, team)})
        for agent, values in entry["agents"].items():
            out.append(
                {"stack": spec.stack, "team": team, "agent": agent, "namespace": _namespace(spec, team), **values}
            )
    return out


def _namespace(spec, team: str) -> str:
    return spec.team(team).namespace


# --------------------------------------------------------------------------- live


def _kubectl(cluster: Cluster, *args: str) -> dict[str, Any]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise LiveError("kubectl is not installed or not on PATH (https://kubernetes.io/docs/tasks/tools/)")
    command = [kubectl]
    if cluster.kubeconfig:
        command += ["--kubeconfig", cluster.kubeconfig]
    if cluster.context:
        command += ["--context", cluster.context]
    command += [*args, "-o", "json", f"--request-timeout={LIVE_TIMEOUT_SECONDS}s"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=LIVE_TIMEOUT_SECONDS + 10, check=False)
    except subprocess.TimeoutExpired:
        raise LiveError(f"`kubectl {' '.join(args)}` did not answer within {LIVE_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        where = cluster.context or "the current kubeconfig context"
        raise LiveError(f"`kubectl {' '.join(args)}` failed against {where}: {done.stderr.strip()[-500:]}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise LiveError(f"`kubectl {' '.join(args)}` did not print JSON") from None


def fetch_live(cluster: Cluster) -> tuple[dict[str, Any], dict[str, Any]]:
    pods = _kubectl(cluster, "get", "pods", "--all-namespaces", "-l", AGENT_LABEL)
    reports = _kubectl(cluster, "get", "policyreports.wgpolicyk8s.io", "--all-namespaces")
    return pods, reports


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def live_state(
    pods: dict[str, Any], reports: dict[str, Any], policies: Sequence[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, agent) -> {pods, ready, phases, provenance: verified|FAILED|no report, failed_pods}."""
    state: dict[tuple[str, str], dict[str, Any]] = {}
    pod_agent: dict[tuple[str, str], str] = {}
    for pod in pods.get("items") or []:
        meta = pod.get("metadata") or {}
        agent = (meta.get("labels") or {}).get(AGENT_LABEL)
        namespace = meta.get("namespace")
        if not agent or not namespace:
            continue
        entry = state.setdefault((namespace, agent), {"pods": 0, "ready": 0, "passed": 0, "failed": [], "reported": 0})
        entry["pods"] += 1
        entry["ready"] += _ready(pod)
        pod_agent[(namespace, meta.get("name", ""))] = agent
    for policy_report in reports.get("items") or []:
        scope = policy_report.get("scope") or {}
        namespace = scope.get("namespace") or (policy_report.get("metadata") or {}).get("namespace")
        if scope.get("kind") != "Pod" or (namespace, scope.get("name")) not in pod_agent:
            continue
        agent = pod_agent[(namespace, scope["name"])]
        entry = state[(namespace, agent)]
        for result in policy_report.get("results") or []:
            if result.get("policy") not in policies:
                continue
            entry["reported"] += 1
            if result.get("result") == "pass":
                entry["passed"] += 1
            elif result.get("result") in ("fail", "error"):
                entry["failed"].append(scope["name"])
    return state


def describe_live(entry: dict[str, Any] | None) -> dict[str, str]:
    if entry is None:
        return {"workload": "no pods", "image provenance": "no report"}
    workload = f"{entry['ready']}/{entry['pods']} ready"
    if entry["failed"]:
        provenance = f"FAILED ({', '.join(sorted(set(entry['failed'])))})"
    elif entry["reported"]:
        provenance = "verified"
    else:
        provenance = "no report"
    return {"workload": workload, "image provenance": provenance}


def add_live(table: list[dict[str, Any]], state: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**row, **(describe_live(state.get((row["namespace"], row["agent"]))) if row["agent"] else {})} for row in table
    ]


# --------------------------------------------------------------------------- rendering


def _cell(row: dict[str, Any], column: str) -> str:
    if column in ("stack", "team"):
        return row[column]
    if column == "agent":
        return row["agent"] or "(no agents)"
    return show(row.get(column)) if column in row else ""


def render_table(table: list[dict[str, Any]], live: bool = False) -> str:
    columns = [*COLUMNS, *(LIVE_COLUMNS if live else ())]
    header = [LABELS.get(c, c) for c in columns]
    cells = [[_cell(row, c) for c in columns] for row in table]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def to_json(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items()} for row in table]


# --------------------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    stack_arguments(parser, all_stacks=True)
    parser.add_argument("--json", action="store_true", help="machine-readable rows on stdout")
    parser.add_argument(
        "--live",
        action="store_true",
        help="ask the stack's cluster (kubectl) for each agent's workload health and image provenance",
    )


def run(args: argparse.Namespace) -> int:
    from agentplane.builders.provenance import provenance_policy_name
    from agentplane.config.load import load_from_files

    try:
        stacks = selected_stacks(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    table: list[dict] = []
    problems: list[str] = []
    for stack in stacks:
        try:
            spec = load_from_files(stack, args.config, args.teams)
        except ConfigError as exc:
            return report(exc)
        found = rows(spec)
        if args.live:
            cluster = Cluster(spec.env.cluster.context, spec.env.cluster.kubeconfig)
            try:
                pods, reports = fetch_live(cluster)
            except LiveError as exc:
                problems.append(f"{stack}: {exc}")
                found = [
                    {**r, "workload": "unknown (cluster unreachable)", "image provenance": "unknown"}
                    if r["agent"]
                    else r
                    for r in found
                ]
            else:
                policies = [provenance_policy_name(mode) for mode in ("audit", "enforce")]
                found = add_live(found, live_state(pods, reports, policies))
        table += found
    if args.json:
        print(json.dumps(to_json(table), indent=2))
    else:
        print(render_table(table, live=args.live))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_INVALID if problems else EXIT_OK
