"""The Pulumi policy pack: the checks of `checks.py` as mandatory stack policies.

`pulumi preview --policy-pack policies/pack` (and the CI previews and deploys) run them over
every resource the program registers. Whether the environment is protected comes from the
stack's own config (`agentplane:protect`, which the engine passes to policy packs), or from
the pack config `protectedStacks` for stacks that must be protected whatever their config says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

try:  # imported as policies.pack.crossguard (tests) or from the pack directory (Pulumi)
    from . import checks
except ImportError:  # pragma: no cover - the pack directory is on sys.path when Pulumi runs it
    import checks  # type: ignore[no-redef]

PACK_NAME = "agentplane"


def plain(value: Any) -> Any:
    """A policy resource's props as plain dicts and lists; values unknown during preview
    become checks.UNKNOWN instead of raising when read."""
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = checks.UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = []
        for i in range(len(value)):
            try:
                items.append(plain(value[i]))
            except UnknownValueError:
                items.append(checks.UNKNOWN)
        return items
    return value


def resources_of(args: StackValidationArgs) -> list[dict[str, Any]]:
    return [
        {
            "type": r.resource_type,
            "urn": r.urn,
            "name": r.name,
            "props": plain(r.props),
            "protect": bool(r.opts.protect),
        }
        for r in args.resources
    ]


def stack_is_protected(config: Mapping[str, Any]) -> bool:
    """The stack's `agentplane:protect`, or the stack listed in the pack config `protectedStacks`."""
    protect = pulumi.Config("agentplane").get_bool("protect") or False
    try:
        stack = pulumi.get_stack()
    except Exception:  # noqa: BLE001 - no engine settings (a unit test): only the config counts
        stack = None
    return bool(protect) or (stack is not None and stack in (config.get("protectedStacks") or ()))


def _report(violations: list[checks.Violation], report_violation: ReportViolation) -> None:
    for violation in violations:
        report_violation(violation.message, violation.urn or None)


def _stack_policy(
    name: str, description: str, check: Callable[[list[dict[str, Any]]], list[checks.Violation]]
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        _report(check(resources_of(args)), report_violation)

    return StackValidationPolicy(
        name=name, description=description, enforcement_level=EnforcementLevel.MANDATORY, validate=validate
    )


def _protected_policy() -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        protected = stack_is_protected(args.get_config())
        _report(checks.protected_resources(resources_of(args), protected=protected), report_violation)

    return StackValidationPolicy(
        name="protected-resources",
        description=(
            "In a protected environment, namespaces, CRD-bearing Helm releases, data and the root CA key are "
            "protected; a renewing certificate is not."
        ),
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
        config_schema=PolicyConfigSchema(
            properties={"protectedStacks": {"type": "array", "items": {"type": "string"}, "default": []}}
        ),
    )


DESCRIPTIONS = {
    "tenant-namespace-isolation": (
        "Every tenant namespace enforces Pod Security restricted and has a ResourceQuota, a LimitRange and a "
        "default-deny NetworkPolicy."
    ),
    "pinned-chart-versions": "Every Helm chart is pinned to an exact version.",
    "images-pinned-by-digest": "No image by a mutable tag where the program sets images.",
    "no-cluster-wide-tenant-rights": "Nothing grants tenants cluster-wide rights.",
}


def policies() -> list[StackValidationPolicy]:
    return [
        *(_stack_policy(name, DESCRIPTIONS[name], check) for name, check in checks.CHECKS.items()),
        _protected_policy(),
    ]
