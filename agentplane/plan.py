"""The offline plan: the real program under Pulumi's in-process mock engine.

No CLI, cluster or network: the same `program.main` that `pulumi up` runs registers every
resource with a recording monitor, which keeps what a reviewer needs (URN, parent, options,
dependencies, inputs with secrets redacted). It complements `pulumi preview`, which diffs
against live state; it does not replace it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import yaml

from agentplane.errors import ConfigError, ConfigIssue
from agentplane.config.base import SECRET_STAND_IN
from agentplane.config.files import TEAMS_DIR, read_stack_config, stack_config_path
from agentplane.config.messages import display
from agentplane.summary import summarize
from agentplane.config.platform import PlatformSpec

PROJECT = "agentplane"
REDACTED = "[secret]"
UNKNOWN = "[unknown]"
# Wire markers of Pulumi's property serialization (pulumi.runtime.rpc).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    protect: bool
    retain_on_delete: bool
    depends_on: tuple[str, ...]
    provider: str
    inputs: dict[str, Any]
    # The aliases the program declared, as the engine receives them: a URN, or a spec whose empty
    # fields mean "as now" (a renamed component's earlier type). The engine extends them to the
    # children (tests/support/pulumi_engine.py), so `pulumi up` moves state instead of replacing.
    aliases: tuple[dict[str, Any], ...] = ()


@dataclass
class Plan:
    spec: PlatformSpec
    registrations: list[Registration]
    warnings: list[str] = field(default_factory=list)

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}


def redact(value: Any) -> Any:
    """Strip Pulumi wire markers: secrets become [secret], unknowns [unknown], references their URN."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return _redact_leaves(value.get("value"))
        if sig == _RESOURCE_SIG:
            return value.get("urn", "")
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                return REDACTED
            return redact(value["value"]) if "value" in value else UNKNOWN
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if value == _UNKNOWN_VALUE:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Struct carries every number as a double
    return value


def _redact_leaves(value: Any) -> Any:
    """A secret's shape stays reviewable (which keys a Secret holds); every value is hidden."""
    if isinstance(value, dict) and value.get(_SIG_KEY) is None:
        return {k: _redact_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_leaves(v) for v in value]
    return REDACTED


def _redact_kubernetes_secret(inputs: dict[str, Any]) -> dict[str, Any]:
    # A Secret's payload is sensitive even when a component forgot to mark it secret.
    if inputs.get("kind") == "Secret" and inputs.get("apiVersion") == "v1":
        for key in ("data", "stringData"):
            if isinstance(inputs.get(key), dict):
                inputs[key] = {k: REDACTED for k in inputs[key]}
    return inputs


ALIAS_SPEC_FIELDS = ("name", "type", "stack", "project", "parentUrn", "noParent")


def _alias_spec(alias) -> dict[str, Any]:
    """One alias of a RegisterResource request as plain data: {"urn": ...} or the spec's set fields."""
    if alias.WhichOneof("alias") == "urn":
        return {"urn": alias.urn}
    return {name: getattr(alias.spec, name) for name in ALIAS_SPEC_FIELDS if getattr(alias.spec, name)}


def _make_monitor_class():
    from google.protobuf import json_format
    from pulumi.runtime import mocks

    class RecordingMonitor(mocks.MockMonitor):
        """The stock mock monitor, plus a record of every registration's options."""

        def __init__(self, m: mocks.Mocks):
            super().__init__(m)
            self.lock = threading.Lock()
            self.registrations: list[Registration] = []
            self.thread_loops: list[asyncio.AbstractEventLoop] = []

        def _ensure_thread_loop(self) -> None:
            # The engine calls the monitor from executor threads, which need an event loop to
            # deserialize properties. Own them so they are closed when the plan ends, not at exit.
            try:
                if not asyncio.get_event_loop().is_closed():
                    return
            except RuntimeError:
                pass
            # No usable loop in this thread: none yet, or one closed by an earlier plan.
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            with self.lock:
                self.thread_loops.append(loop)

        def close(self) -> None:
            for loop in self.thread_loops:
                loop.close()
            self.thread_loops.clear()

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # As the engine makes them (pulumi/pulumi@v3.272.0 pkg/resource/deploy/deployment.go,
            # generateURN): a child's type is its parent's whole qualified type, `$`, its own type;
            # the root stack's type is left out. (The stock mock keeps only the parent's last type.)
            if parent and "::pulumi:pulumi:Stack::" not in parent:
                type_ = f"{parent.split('::')[2]}${type_}"
            return "urn:pulumi:" + "::".join([self.stack, PROJECT, type_, name])

        def RegisterResource(self, request):  # noqa: N802 - gRPC method name
            self._ensure_thread_loop()
            response = super().RegisterResource(request)
            if request.type == "pulumi:pulumi:Stack":
                return response
            inputs = redact(json_format.MessageToDict(request.object))
            registration = Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=request.custom,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                depends_on=tuple(sorted(set(request.dependencies))),
                provider=request.provider.split("::")[-2] if request.provider else "",
                inputs=_redact_kubernetes_secret(inputs),
                aliases=tuple(_alias_spec(alias) for alias in request.aliases),
            )
            with self.lock:
                self.registrations.append(registration)
            return response

    return RecordingMonitor


# Outputs a provider computes at `pulumi up` that dependants read (a generated password, a
# client secret). The plan stands in the same fixed value as for undecryptable config; it is
# redacted wherever it lands.
PLACEHOLDER = SECRET_STAND_IN
COMPUTED_OUTPUTS: dict[str, dict[str, Any]] = {
    "random:index/randomPassword:RandomPassword": {"result": PLACEHOLDER, "bcryptHash": PLACEHOLDER},
    "random:index/randomString:RandomString": {"result": PLACEHOLDER},
    # The service-account user's id exists only once Keycloak created the client: unknown here.
    "keycloak:openid/client:Client": {"clientSecret": PLACEHOLDER, "serviceAccountUserId": UNKNOWN},
    # The platform root CA: its key is generated at `pulumi up` (a secret output, redacted), and
    # so is the certificate, which the plan shows as unknown wherever it is handed on.
    "tls:index/privateKey:PrivateKey": {"privateKeyPem": PLACEHOLDER},
    "tls:index/selfSignedCert:SelfSignedCert": {"certPem": UNKNOWN},
}


def _make_mocks():
    import pulumi

    class PlanMocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            # Outputs mirror inputs, so names and namespaces flow into dependants as they would.
            return f"{args.name}-id", {**dict(args.inputs), **COMPUTED_OUTPUTS.get(args.typ, {})}

        def call(self, args):
            return {}, None

    return PlanMocks()


def _engine_config(env_raw: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Stack-file config as the engine hands it to a program: JSON strings; `secure` values stay encrypted."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in env_raw.items():
        full = f"{PROJECT}:{key}"
        config[full] = value if isinstance(value, str) else json.dumps(value)
        if "secure" in json.dumps(value):
            secret_keys.append(full)
    return config, secret_keys


def run_under_mocks(stack: str, engine_config: dict[str, str], secret_keys: list[str], program: Callable[[], Any]) -> tuple[list[Registration], list[str]]:
    """Run `program` under the recording mock engine; return its registrations (sorted) and warnings."""
    import logging

    import pulumi
    from pulumi.runtime import settings, stack as runtime_stack
    from pulumi.runtime.sync_await import _sync_await

    settings.reset_options()
    mocks = _make_mocks()
    monitor = _make_monitor_class()(mocks)
    monitor.stack = stack
    warnings: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                warnings.append(record.getMessage())

    logger = logging.getLogger("agentplane.plan.engine")
    logger.handlers = [_Collect()]
    logger.propagate = False
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=logger)
    pulumi.runtime.set_all_config(engine_config, secret_keys)
    try:
        _sync_await(runtime_stack.run_pulumi_func(program))
    finally:
        monitor.close()
    return sorted(monitor.registrations, key=lambda r: r.urn), sorted(set(warnings))


def run_program(stack: str, *, config: Path | None = None, teams: Path | None = None, root: Path | None = None) -> Plan:
    """Validate the inputs, run the program under the mock engine, check every name it derived
    (agentplane.derived), and return every registration. `validate` and `plan` both run this,
    so whatever `plan` refuses, `validate` refuses, with the same file and field."""
    from agentplane import program
    from agentplane.derived import check_plan
    from agentplane.config.load import load_from_files

    from components.kube import duplicates_reported_after_run

    root = root or Path.cwd()
    # The files as files first: what only a file can show (a plain-text secret, a symlink).
    load_from_files(stack, config, teams, root)
    config_path = config or stack_config_path(root, stack)
    teams_dir = teams or root / TEAMS_DIR
    config_label = display(config_path, root)
    env_raw = read_stack_config(config_path, stack, config_label)
    engine_config, secret_keys = _engine_config(env_raw)

    specs: list[PlatformSpec] = []

    def run() -> None:
        # The program validates everything before it registers anything; on invalid input it
        # raises ConfigError here and the registrations list stays empty.
        specs.append(
            program.main(teams_dir=teams_dir, config_label=config_label, offline=True, known_root=root, config_dir=config_path.parent)
        )

    with duplicates_reported_after_run():
        registrations, warnings = run_under_mocks(stack, engine_config, secret_keys, run)
    plan = Plan(spec=specs[0], registrations=registrations, warnings=warnings)
    if issues := check_plan(plan, config_label):
        raise ConfigError(issues)
    return plan


# --- writing -----------------------------------------------------------------------------


def component_of(reg: Registration, by_urn: dict[str, Registration]) -> str:
    """The top-level component (a direct child of the stack) a resource belongs to."""
    current = reg
    while current.parent in by_urn:
        current = by_urn[current.parent]
    return current.name if not current.custom else "_stack"


def team_of(reg: Registration, by_urn: dict[str, Registration]) -> str | None:
    current: Registration | None = reg
    while current is not None:
        # A team's part of a piece is a component whose one input is its team (components/*).
        if not current.custom and "team" in current.inputs:
            return current.inputs["team"]
        current = by_urn.get(current.parent)
    return None


def is_kubernetes_object(reg: Registration) -> bool:
    return reg.custom and reg.type.startswith("kubernetes:") and "kind" in reg.inputs and "metadata" in reg.inputs


def object_path(reg: Registration, component: str) -> str:
    if is_kubernetes_object(reg):
        meta = reg.inputs["metadata"]
        group = reg.inputs["apiVersion"].rpartition("/")[0]
        kind = reg.inputs["kind"].lower() + (f".{group}" if group else "")
        return f"{component}/{meta.get('namespace') or '_cluster'}/{kind}-{meta['name']}.yaml"
    token = reg.type.replace(":", "_").replace("/", "_")
    return f"{component}/_resources/{token}-{reg.name}.yaml"


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True, width=120)


def plan_document(plan: Plan) -> dict[str, Any]:
    by_urn = plan.by_urn()
    resources = []
    for reg in plan.registrations:
        resources.append(
            {
                "urn": reg.urn,
                "type": reg.type,
                "name": reg.name,
                "parent": reg.parent,
                "protect": reg.protect,
                "retainOnDelete": reg.retain_on_delete,
                "dependsOn": list(reg.depends_on),
                "provider": reg.provider,
                "component": component_of(reg, by_urn),
                "team": team_of(reg, by_urn),
                "inputs": reg.inputs,
            }
        )
        if reg.aliases and not reg.custom:
            # A renamed component's earlier type, for reviewers. (Provider SDKs add type aliases
            # of their own to many custom resources; they are recorded but not shown.)
            resources[-1]["aliases"] = list(reg.aliases)
    teams = {
        t.name: {"namespace": t.namespace, "tier": t.tier.name, "agents": {a.name: a.tier.name for a in t.agents}}
        for t in plan.spec.teams
    }
    # The per-team review summary: what `agentplane diff` and `pr-diff` compare in a reviewer's terms.
    review = summarize(plan.spec)
    return {"stack": plan.spec.stack, "teams": teams, "review": review, "resources": resources}


def write_plan(plan: Plan, out: Path) -> dict[str, str]:
    """Write plan.json and one YAML file per object into `out`, replacing an earlier plan there."""
    if out.exists() and any(out.iterdir()) and not (out / "plan.json").exists():
        raise ConfigError([ConfigIssue(str(out), "", "output directory is not empty and holds no earlier plan; refusing to overwrite it")])
    document = plan_document(plan)
    by_urn = plan.by_urn()
    files: dict[str, str] = {}
    for reg in plan.registrations:
        if reg.custom:
            body = reg.inputs if is_kubernetes_object(reg) else {"type": reg.type, "name": reg.name, "inputs": reg.inputs}
            files[object_path(reg, component_of(reg, by_urn))] = dump_yaml(body)
    staging = Path(tempfile.mkdtemp(prefix=".plan-", dir=out.parent if out.parent.exists() else None))
    try:
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        (staging / "plan.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return files


def resource_counts(plan: Plan) -> tuple[dict[str, int], dict[str, int]]:
    """Registered resources per component and per team (`summary` and `summary_document`)."""
    by_urn = plan.by_urn()
    per_component: dict[str, int] = {}
    per_team: dict[str, int] = {}
    for reg in plan.registrations:
        if not reg.custom:
            continue
        component = component_of(reg, by_urn)
        per_component[component] = per_component.get(component, 0) + 1
        if team := team_of(reg, by_urn):
            per_team[team] = per_team.get(team, 0) + 1
    return per_component, per_team


def summary(plan: Plan) -> str:
    """A table per component and per team, for the terminal."""
    per_component, per_team = resource_counts(plan)
    lines = [f"stack {plan.spec.stack}: {sum(per_component.values())} resources", "", f"{'component':<24}{'resources':>10}"]
    lines += [f"{name:<24}{count:>10}" for name, count in sorted(per_component.items())]
    lines += ["", f"{'team':<24}{'tier':<14}{'resources':>10}  agents (tier)"]
    for team in plan.spec.teams:
        agents = ", ".join(f"{a.name} ({a.tier.name})" for a in team.agents) or "-"
        lines.append(f"{team.name:<24}{team.tier.name:<14}{per_team.get(team.name, 0):>10}  {agents}")
    return "\n".join(lines)


def summary_document(plan: Plan) -> dict[str, Any]:
    """`plan --json`: resources per component and per team, and the per-team review summary."""
    per_component, per_team = resource_counts(plan)
    return {
        "stack": plan.spec.stack,
        "resources": sum(per_component.values()),
        "components": dict(sorted(per_component.items())),
        "teams": {t.name: {"resources": per_team.get(t.name, 0)} for t in plan.spec.teams},
        "review": summarize(plan.spec),
        "warnings": list(plan.warnings),
    }
