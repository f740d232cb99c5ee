"""Shared pydantic building blocks: strict models, names, quantities, secrets."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel

from agentplane.quantity import parse_quantity

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class StrictModel(BaseModel):
    """Unknown keys are errors (typos must not be silently ignored); fields are camelCase in YAML."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=to_camel,
        str_strip_whitespace=False,
    )


def _dns_label(max_length: int):
    def check(value: str) -> str:
        if len(value) > max_length:
            raise ValueError(f"{value!r} is {len(value)} characters; at most {max_length} are allowed")
        if not DNS_LABEL.match(value):
            raise ValueError(
                f"{value!r} is not a DNS-1123 label (lowercase letters, digits and '-', "
                "starting and ending with a letter or digit)"
            )
        return value

    return check


DnsLabel = Annotated[str, Field(strict=True), AfterValidator(_dns_label(63))]

_DNS_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")


def _dns_name(value: str) -> str:
    if len(value) > 253 or not _DNS_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a DNS name: use lowercase labels of letters, digits and '-' separated by dots, "
            "such as gateway.example.com (no scheme, port or path)"
        )
    return value


# A host name such as keycloak.example.com (Keycloak's, the gateway's).
DnsName = Annotated[str, Field(strict=True), AfterValidator(_dns_name)]
TeamName = Annotated[str, Field(strict=True), AfterValidator(_dns_label(40))]


def _group(value: str) -> str:
    if not value or value != value.strip() or any(c.isspace() for c in value) or len(value) > 255:
        raise ValueError(f"{value!r} is not a group name (1-255 characters, no whitespace)")
    return value


GroupName = Annotated[str, Field(strict=True), AfterValidator(_group)]


def _quantity(value: Any) -> Any:
    # YAML turns `cpu: 2` into an int; a quantity is a string in Kubernetes, so accept and normalise.
    if isinstance(value, bool):
        raise ValueError("expected a quantity string such as \"2\", \"500m\" or \"4Gi\"")
    if isinstance(value, int):
        return str(value)
    return value


def _check_quantity(value: str) -> str:
    if parse_quantity(value) <= 0:
        raise ValueError(f"{value!r} must be greater than zero")
    return value


Quantity = Annotated[str, BeforeValidator(_quantity), Field(strict=True), AfterValidator(_check_quantity)]


def _whole_pods(value: str) -> str:
    amount = parse_quantity(value)
    if amount != amount.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number of pods")
    return value


PodCount = Annotated[Quantity, AfterValidator(_whole_pods)]
TokenBudget = Annotated[int, Field(strict=True, ge=0)]


class Quota(StrictModel):
    cpu: Quantity
    memory: Quantity
    pods: PodCount


# What stands in for a secret the offline plan (or a preview) cannot decrypt. `pulumi up`
# never uses it: it refuses to run while a secret it needs is unavailable.
SECRET_STAND_IN = "plan-placeholder"


class Secret(StrictModel):
    """A value that must never appear in plain text in a plan.

    In a stack file it is `{secure: <ciphertext>}` (written by `pulumi config set --secret`).
    Under `pulumi up` the engine hands the program the decrypted value; the offline plan
    has no passphrase, so `value` is None there and components use a redacted stand-in.
    """

    secure: str | None = None
    value: str | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _from_plain(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, str):
            # Only the engine may hand us a plain string (it decrypted a secure value).
            # In a file a plain string is a credential committed in clear text.
            if (info.context or {}).get("source") == "file":
                raise ValueError(
                    "a secret must not be stored in plain text; set it with "
                    "`pulumi config set --secret` so the file holds {secure: ...}"
                )
            return {"value": data}
        return data

    @property
    def available(self) -> bool:
        return self.value is not None

    @property
    def deploy_value(self) -> str:
        """The decrypted value, or SECRET_STAND_IN where it cannot be decrypted (plan, preview)."""
        return self.value if self.value is not None else SECRET_STAND_IN


def agent_client_id(team: str, agent: str) -> str:
    """An agent's Keycloak client ID, which is its tokens' `azp` claim (identity and gateway agree on it).

    `.` cannot occur in a team or agent name (DNS labels), so the pair is unambiguous.
    """
    return f"{team}.{agent}"
