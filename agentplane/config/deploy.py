"""Deploy-time warnings: what `pulumi up` needs that the offline plan can do without.

`plan` and a preview print them; `pulumi up` refuses to run while any remains (agentplane.program).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from agentplane.config.base import Secret
from agentplane.config.environment import EnvironmentConfig
from agentplane.config.files import CONFIG_NAMESPACE
from agentplane.config.sections import SECTIONS


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


def deploy_warnings(env: EnvironmentConfig) -> list[str]:
    warnings = list(_secret_warnings(env, CONFIG_NAMESPACE))
    # What `pulumi up` needs that `plan` does not (e.g. credentials), section by section.
    for section in SECTIONS:
        if section.missing_for_deploy is not None:
            warnings += [f"{CONFIG_NAMESPACE}:{section.key}: {m}" for m in section.missing_for_deploy(env)]
    return warnings
