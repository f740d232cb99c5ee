"""Environment settings for cert-manager and the platform CA (key `agentplane:certificates`).

Also the two small types the SPIRE section shares: Go durations (what cert-manager and SPIRE
parse) and chart sources pinned to the version the platform is validated against.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from agentplane.config.base import DnsLabel, StrictModel
from agentplane.config.sections.charts import ChartSource

if TYPE_CHECKING:
    from agentplane.config.environment import EnvironmentConfig

# Every component that needs internal TLS asks this ClusterIssuer for certificates.
PLATFORM_CA_ISSUER = "platform-ca"

CERT_MANAGER_CHART = ChartSource(repository="https://charts.jetstack.io", chart="cert-manager", version="v1.21.0")

# --- Go durations -------------------------------------------------------------------------

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> timedelta:
    """A positive duration as Go's time.ParseDuration reads it ("8760h", "1h30m", "90s").

    cert-manager's `duration`/`renewBefore` and SPIRE's TTLs are parsed this way, so `1d`
    or `1 hour` would be rejected by them at `pulumi up`; reject them here instead.
    """
    seconds, position = 0.0, 0
    for match in _GO_PART.finditer(text):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(text):
        raise ValueError(
            f"{text!r} is not a Go duration: use a number and a unit such as 90m, 8760h or 1h30m "
            "(units ns, us, ms, s, m, h; there is no unit for days)"
        )
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def _go_duration(value: str) -> str:
    parse_go_duration(value)
    return value


GoDuration = Annotated[str, Field(strict=True), AfterValidator(_go_duration)]

# --- pinned charts ------------------------------------------------------------------------


def pinned_chart(default: ChartSource) -> Any:
    """A ChartSource field where only the repository may change (an air-gapped mirror).

    Left-out fields default to the pin; chart and version, if given, must equal it:
    the values this platform passes are validated against exactly that chart version.
    """

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {**default.model_dump(), **value}
        return value

    def check(source: ChartSource) -> ChartSource:
        for field in ("chart", "version"):
            if getattr(source, field) != getattr(default, field):
                raise ValueError(
                    f"{field} must be {getattr(default, field)!r} (the {default.chart} {default.version} pin this "
                    f"platform release is validated against); only `repository` may point at a mirror"
                )
        return source

    return Annotated[ChartSource, BeforeValidator(fill), AfterValidator(check)]


# --- the section --------------------------------------------------------------------------


class RootCa(StrictModel):
    """The platform's root CA: created by Pulumi (pulumi-tls, its key kept encrypted in the stack
    state) and handed to cert-manager as the Secret behind the `platform-ca` ClusterIssuer, so
    `pulumi up` itself knows the certificate the Keycloak provider and the gateway must trust."""

    # Absent: "agentplane <stack> root CA".
    common_name: Annotated[str, Field(strict=True, min_length=1, max_length=64)] | None = None
    """Subject common name of the root (at most 64 characters). Default: `agentplane <stack> root CA`."""
    organization: Annotated[str, Field(strict=True, min_length=1, max_length=64)] = "agentplane"
    """Subject organization of the root."""
    duration: GoDuration = "87600h"  # 10 years: a root is replaced deliberately, not routinely
    """Lifetime of the root (`87600h` is 10 years): at least `1h`, whole hours (pulumi-tls counts hours)."""
    # A year of overlap to distribute the renewed root before the old one expires.
    renew_before: GoDuration = "8760h"
    """Re-sign the root (same key) at the first `pulumi up` this long before expiry (`8760h` is 1 year): whole hours,
    shorter than `duration`."""

    @model_validator(mode="after")
    def _renewal_fits(self) -> RootCa:
        # cert-manager's own limits: a certificate lives at least 1h and renews at least 5m before expiry.
        duration, renew = parse_go_duration(self.duration), parse_go_duration(self.renew_before)
        if duration < timedelta(hours=1):
            raise ValueError(f"duration {self.duration!r} is shorter than cert-manager's minimum of 1h")
        if renew < timedelta(minutes=5):
            raise ValueError(f"renewBefore {self.renew_before!r} is shorter than cert-manager's minimum of 5m")
        if renew >= duration:
            raise ValueError(f"renewBefore {self.renew_before!r} must be shorter than duration {self.duration!r}")
        # pulumi-tls creates the root and counts its validity and early renewal in whole hours.
        for field, value, parsed in (("duration", self.duration, duration), ("renewBefore", self.renew_before, renew)):
            if parsed.total_seconds() % 3600:
                raise ValueError(
                    f"{field} {value!r} must be a whole number of hours, such as 8760h (the root is created by "
                    "pulumi-tls, which counts hours)"
                )
        return self


def whole_hours(text: str) -> int:
    """A Go duration in whole hours (what pulumi-tls counts a certificate's validity in)."""
    return int(parse_go_duration(text).total_seconds()) // 3600


# Let's Encrypt's production directory: the default server of an ACME issuer.
LETSENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an e-mail address (the ACME account's contact for expiry notices)")
    return value


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"{value!r} is not an https:// ACME directory URL such as {LETSENCRYPT_DIRECTORY}")
    return value


class AcmeIssuer(StrictModel):
    """A public ACME ClusterIssuer the program creates (HTTP-01 through the cluster's ingress
    controller), for hostnames browsers and CI must trust without the platform CA."""

    name: DnsLabel
    """The ClusterIssuer's name; `identity.tls.issuer` names it."""
    email: Annotated[str, Field(strict=True), AfterValidator(_email)]
    """The ACME account's contact email."""
    server: Annotated[str, Field(strict=True), AfterValidator(_https_url)] = LETSENCRYPT_DIRECTORY
    """The ACME directory (`https://`)."""
    # The IngressClass that serves the HTTP-01 challenge (the one Keycloak's Ingress uses).
    ingress_class_name: Annotated[str, Field(strict=True, min_length=1)]
    """The IngressClass that serves the HTTP-01 challenge (the one Keycloak's Ingress uses)."""

    @model_validator(mode="after")
    def _not_the_platform_ca(self) -> AcmeIssuer:
        if self.name == PLATFORM_CA_ISSUER:
            raise ValueError(
                f"name {self.name!r} is the platform CA's ClusterIssuer; choose another name, such as letsencrypt"
            )
        return self


class CertificatesConfig(StrictModel):
    chart: pinned_chart(CERT_MANAGER_CHART) = CERT_MANAGER_CHART  # type: ignore[valid-type]
    """The cert-manager chart; only `repository` may change (a mirror)."""
    root_ca: RootCa = RootCa()
    """The platform's root CA, created by Pulumi (pulumi-tls) and renewed with the same key."""
    # cert-manager's webhook admits every Certificate and Issuer write. Absent: 2 where
    # `protect: true`, else 1 (resilience.py).
    webhook_replicas: int | None = Field(default=None, strict=True, ge=1, le=10)
    """cert-manager webhook replicas (with a PodDisruptionBudget); a protected stack refuses 1. Default: `2` where
    `protect: true`, else `1`."""
    acme: AcmeIssuer | None = None
    """An ACME ClusterIssuer the program creates (HTTP-01 through that IngressClass), for public hostnames: `{name,
    email, ingressClassName, server}`, `server` by default `https://acme-v02.api.letsencrypt.org/directory`. Name it in
    `identity.tls.issuer`."""

    def issuers(self) -> tuple[str, ...]:
        """The ClusterIssuers the program creates: what a certificate may name."""
        return (PLATFORM_CA_ISSUER,) + ((self.acme.name,) if self.acme is not None else ())


def root_ca_common_name(config: CertificatesConfig, stack: str) -> str:
    return config.root_ca.common_name or f"agentplane {stack} root CA"[:64]


def check_environment(env: EnvironmentConfig) -> list[tuple[str, str]]:
    """A certificate may only name a ClusterIssuer the program creates: a dangling reference
    would leave the certificate unissued and the release waiting for it until it times out."""
    issuers = env.certificates.issuers()
    issuer = env.identity.tls.issuer
    if env.identity.managed and issuer not in issuers:
        return [
            (
                "identity.tls.issuer",
                f"{issuer!r} is not a ClusterIssuer this program creates (it creates: {', '.join(issuers)}); "
                "configure certificates.acme with that name, or use the platform CA",
            )
        ]
    if env.identity.managed and issuer != PLATFORM_CA_ISSUER and not env.identity.ingress.enabled:
        return [
            (
                "identity.tls.issuer",
                f"{issuer!r} (ACME) certifies the public hostname at the Ingress, but identity.ingress.enabled "
                "is false; enable the Ingress or use the platform CA",
            )
        ]
    return []
