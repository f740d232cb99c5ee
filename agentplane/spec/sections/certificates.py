"""Environment settings for cert-manager and the platform CA (key `agentplane:certificates`).

Also the two small types the SPIRE section shares: Go durations (what cert-manager and SPIRE
parse) and chart sources pinned to the version the platform is validated against.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from agentplane.spec.base import StrictModel
from agentplane.spec.sections.charts import ChartSource

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
    """The platform's root CA: a self-signed certificate held in a Secret in the cert-manager namespace."""

    # Absent: "agentplane <stack> root CA".
    common_name: Annotated[str, Field(strict=True, min_length=1, max_length=64)] | None = None
    organization: Annotated[str, Field(strict=True, min_length=1, max_length=64)] = "agentplane"
    duration: GoDuration = "87600h"  # 10 years: a root is replaced deliberately, not routinely
    # A year of overlap to distribute the renewed root before the old one expires.
    renew_before: GoDuration = "8760h"

    @model_validator(mode="after")
    def _renewal_fits(self) -> "RootCa":
        # cert-manager's own limits: a certificate lives at least 1h and renews at least 5m before expiry.
        duration, renew = parse_go_duration(self.duration), parse_go_duration(self.renew_before)
        if duration < timedelta(hours=1):
            raise ValueError(f"duration {self.duration!r} is shorter than cert-manager's minimum of 1h")
        if renew < timedelta(minutes=5):
            raise ValueError(f"renewBefore {self.renew_before!r} is shorter than cert-manager's minimum of 5m")
        if renew >= duration:
            raise ValueError(f"renewBefore {self.renew_before!r} must be shorter than duration {self.duration!r}")
        return self


class CertificatesConfig(StrictModel):
    chart: pinned_chart(CERT_MANAGER_CHART) = CERT_MANAGER_CHART  # type: ignore[valid-type]
    root_ca: RootCa = RootCa()
    # cert-manager's webhook admits every Certificate and Issuer write. Absent: 2 where
    # `protect: true`, else 1 (resilience.py).
    webhook_replicas: int | None = Field(default=None, strict=True, ge=1, le=10)


def root_ca_common_name(config: CertificatesConfig, stack: str) -> str:
    return config.root_ca.common_name or f"agentplane {stack} root CA"[:64]
