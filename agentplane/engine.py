"""The mock Pulumi engine: the real program run in-process, every registration recorded.

The one module built on Pulumi SDK internals for the offline plan (pinned `pulumi` 3.272.0,
pyproject.toml). On an SDK upgrade, check this module, the model of how the engine matches URNs
and aliases (agentplane/review/matching.py), and `agentplane.program.received_config` (which
reads the config the engine hands the program through `pulumi.runtime.config`). This module
relies on:

- `pulumi.runtime.mocks.MockMonitor`, subclassed: its `RegisterResource(request)` (called from
  executor threads, which need their own event loop), its `make_urn(parent, type_, name)`
  (replaced: the stock one keeps only the parent's last type), and the `stack` attribute set here;
- `pulumi.runtime.Mocks` (`new_resource(args)` with `args.typ`, `args.name`, `args.inputs`;
  `call(args)`), `pulumi.runtime.set_mocks(mocks, project=, stack=, preview=, monitor=, logger=)`
  and `pulumi.runtime.set_all_config(config, secret_keys)`;
- `pulumi.runtime.settings.reset_options()`, `pulumi.runtime.stack.run_pulumi_func(program)` and
  `pulumi.runtime.sync_await._sync_await`;
- the RegisterResourceRequest fields `type`, `name`, `parent`, `custom`, `protect`,
  `retainOnDelete`, `dependencies`, `provider`, `object` and `aliases` (the `urn`/`spec` oneof and
  every field the spec sets: name, type, stack, project, parentUrn, noParent), read with
  `google.protobuf.json_format.MessageToDict`;
- the wire markers of the property serialization (pulumi.runtime.rpc: `_special_sig_key`,
  `_special_secret_sig`, `_special_resource_sig`, `_special_output_value_sig`, `UNKNOWN`);
- the URN scheme of the engine: pulumi/pulumi pkg/v3 resource/deploy/deployment.go, generateURN
  (identical at v3.260.0 and v3.274.0; see agentplane/review/matching.py).

What it hands on is plain data (Registration), with secrets redacted: the plan document and its
files are written by agentplane.plan.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentplane.config.base import SECRET_STAND_IN

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
    """One RegisterResource request as plain data: what the plan shows and checks."""

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
    # children (agentplane/review/matching.py), so `pulumi up` moves state instead of replacing.
    aliases: tuple[dict[str, Any], ...] = ()


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


def _alias_spec(alias) -> dict[str, Any]:
    """One alias of a RegisterResource request as plain data: {"urn": ...} or the spec's set fields."""
    if alias.WhichOneof("alias") == "urn":
        return {"urn": alias.urn}
    # Every field the SDK set, known or not: the matching model refuses one it does not mirror.
    return {field.name: value for field, value in alias.spec.ListFields()}


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
            # As the engine makes them (pulumi/pulumi pkg/v3@v3.274.0 resource/deploy/deployment.go,
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


def engine_config(env_raw: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Stack-file config as the engine hands it to a program: JSON strings; `secure` values stay encrypted."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in env_raw.items():
        full = f"{PROJECT}:{key}"
        config[full] = value if isinstance(value, str) else json.dumps(value)
        if "secure" in json.dumps(value):
            secret_keys.append(full)
    return config, secret_keys


def run_under_mocks(
    stack: str, config: dict[str, str], secret_keys: list[str], program: Callable[[], Any]
) -> tuple[list[Registration], list[str]]:
    """Run `program` under the recording mock engine; return its registrations (sorted) and warnings."""
    import logging

    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime import stack as runtime_stack
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

    logger = logging.getLogger("agentplane.engine")
    logger.handlers = [_Collect()]
    logger.propagate = False
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=logger)
    pulumi.runtime.set_all_config(config, secret_keys)
    try:
        _sync_await(runtime_stack.run_pulumi_func(program))
    finally:
        monitor.close()
    return sorted(monitor.registrations, key=lambda r: r.urn), sorted(set(warnings))
