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
        # A field's docstring is its description: docs/configuration.md and the JSON Schema read it.
        use_attribute_docstrings=True,
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

# The one grammar of every name a team chooses (team, agent, group, MCP server and Service):
# an RFC 1035 label. ASCII lowercase only, so no two names differ by case or by a look-alike
# letter; a letter first, because Services (agents, MCP servers) must be RFC 1035 labels.
NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Team names become namespaces and prefixes of derived names (`<team>-agent-<agent>`).
MAX_TEAM_NAME = 40
MAX_NAME = 63
# An agent is its ServiceAccount; `default` is the namespace's own, which every pod without
# a serviceAccountName runs as.
RESERVED_AGENT_NAMES = frozenset({"default"})


def name_problem(value: object, max_length: int = MAX_NAME) -> str | None:
    """Why `value` is not a name (None when it is). The value is quoted only when it is short,
    printable ASCII: a rejected value may be anything."""
    if not isinstance(value, str):
        return "must be a string"
    shown = repr(value) if value.isascii() and value.isprintable() and len(value) <= 80 else "the value"
    if len(value) > max_length:
        return f"{shown} is {len(value)} characters; at most {max_length} are allowed"
    if not NAME.match(value):
        return (
            f"{shown} is not a name: lowercase ASCII letters, digits and '-', "
            f"starting with a letter and ending with a letter or digit, at most {max_length} characters"
        )
    return None


def team_name_problem(value: object) -> str | None:
    return name_problem(value, MAX_TEAM_NAME)


def _name(max_length: int, reserved: frozenset[str] = frozenset(), what: str = "name"):
    def check(value: str) -> str:
        if problem := name_problem(value, max_length):
            raise ValueError(problem)
        if value in reserved:
            raise ValueError(f"{value!r} is reserved for Kubernetes itself; choose another {what}")
        return value

    return check


TeamName = Annotated[str, Field(strict=True), AfterValidator(_name(MAX_TEAM_NAME))]
AgentName = Annotated[
    str,
    Field(strict=True),
    AfterValidator(_name(MAX_NAME, RESERVED_AGENT_NAMES, "agent name (the namespace's default ServiceAccount)")),
]
# A Service (an MCP server's) or any other name a team picks in its own namespace.
Name = Annotated[str, Field(strict=True), AfterValidator(_name(MAX_NAME))]
# A group of a team file. Tokens and RoleBindings carry it under its team (group_path), so a
# team can never name another team's group, an admin group or a Kubernetes system group.
GroupName = Annotated[str, Field(strict=True), AfterValidator(_name(MAX_NAME))]


def group_path(team: str, group: str) -> str:
    """The name a team's group has in tokens and to Kubernetes: its Keycloak full path.

    Team names are unique and a group is unique within its team, so no two teams ever share a
    path; and no path is an admin or system group (those never start with '/').
    """
    return f"/{team}/{group}"


def team_group_path(team: str) -> str:
    """The team's own Keycloak group (its agents' service accounts are in it)."""
    return f"/{team}"


def group_leaf(path: str) -> str:
    return path.rpartition("/")[2]


def _kubernetes_group(value: str) -> str:
    """A group as Kubernetes sees it (a client certificate's organisation, an OIDC group with
    the API server's prefix): printable ASCII without whitespace, and never a `system:` group,
    which Kubernetes assigns itself (system:authenticated is every user)."""
    if (
        not value
        or len(value) > 255
        or not value.isascii()
        or not value.isprintable()
        or any(c.isspace() for c in value)
    ):
        raise ValueError("a group name is 1-255 printable ASCII characters without whitespace")
    if value.lower().startswith("system:"):
        raise ValueError(
            f"{value!r} is a Kubernetes system group (system:authenticated is every user, system:masters "
            "bypasses RBAC); name a group of people"
        )
    return value


KubernetesGroup = Annotated[str, Field(strict=True), AfterValidator(_kubernetes_group)]


def _quantity(value: Any) -> Any:
    # YAML turns `cpu: 2` into an int; a quantity is a string in Kubernetes, so accept and normalise.
    if isinstance(value, bool):
        raise ValueError('expected a quantity string such as "2", "500m" or "4Gi"')
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
        if isinstance(data, dict) and "value" in data:
            # `value` is where the engine's decrypted string goes; written in a file it is a
            # credential in plain text (never echoed here).
            raise ValueError(
                "a secret must not be stored in plain text ({value: ...}); set it with "
                "`pulumi config set --secret` so the file holds {secure: ...}"
            )
        if isinstance(data, dict) and "secure" in data and not (isinstance(data["secure"], str) and data["secure"]):
            raise ValueError("`secure` holds the ciphertext `pulumi config set --secret` wrote: a non-empty string")
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
