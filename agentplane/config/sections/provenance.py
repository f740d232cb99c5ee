"""Environment settings for image provenance and guardrails (key `agentplane:provenance`).

Who may sign agent images (cosign keyless identities or public keys), which SLSA builders
and source repositories a provenance attestation must name, which group administers the
platform, and how Kyverno itself is installed. Tiers decide *whether* provenance is
enforced or audited (`agentplane:tiers[].provenance`); this section decides *what* passes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from agentplane.config.base import KubernetesGroup, StrictModel
from agentplane.config.sections.charts import ChartSource

if TYPE_CHECKING:  # environment.py imports this module
    from agentplane.config.environment import EnvironmentConfig

# The predicate type every agent image must carry an attestation of (SLSA provenance v1).
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"

KYVERNO_CHART = ChartSource(repository="https://kyverno.github.io/kyverno/", chart="kyverno", version="3.9.0")


def _https_url(value: str) -> str:
    if not re.fullmatch(r"https://[^\s/]+(/\S*)?", value):
        raise ValueError(f"{value!r} is not an https:// URL")
    return value


def _anchored_regexp(value: str) -> str:
    # An unanchored subject pattern such as `github.com/acme/` would also match
    # `github.com/acme-evil/...`: require the operator to state the whole identity.
    if not (value.startswith("^") and value.endswith("$")):
        raise ValueError(
            f"{value!r} must be anchored: start it with ^ and end it with $ so that a look-alike "
            "repository or workflow cannot match, e.g. ^https://github\\.com/acme/[^/]+/\\.github/workflows/release\\.yml@refs/heads/main$"
        )
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    return value


def _public_key(value: str) -> str:
    text = value.strip()
    if not (text.startswith("-----BEGIN PUBLIC KEY-----") and text.endswith("-----END PUBLIC KEY-----")):
        raise ValueError(
            "expected a PEM public key (-----BEGIN PUBLIC KEY----- ... -----END PUBLIC KEY-----), "
            "as written by `cosign generate-key-pair` (cosign.pub)"
        )
    return text + "\n"


def _identity_pattern(kind: str, *, boundary: str):
    """An exact identity, or a prefix ending in `*`. `boundary` is what must precede the `*`."""

    def check(value: str) -> str:
        _https_url(value.rstrip("*") or value)
        if "*" in value.rstrip("*") or value.endswith("**"):
            raise ValueError(f"{value!r}: '*' is allowed only once, at the end (a prefix match)")
        if value.endswith("*") and boundary and not value[:-1].endswith(boundary):
            raise ValueError(
                f"{value!r}: a {kind} prefix must end with {boundary!r} before the '*' "
                f"(e.g. https://github.com/acme/*), or it would also match look-alike names"
            )
        return value

    return check


HttpsUrl = Annotated[str, Field(strict=True), AfterValidator(_https_url)]
SubjectRegExp = Annotated[str, Field(strict=True, min_length=3), AfterValidator(_anchored_regexp)]
PublicKeyPem = Annotated[str, Field(strict=True), AfterValidator(_public_key)]
BuilderId = Annotated[str, Field(strict=True), AfterValidator(_identity_pattern("builder", boundary=""))]
SourceRepository = Annotated[str, Field(strict=True), AfterValidator(_identity_pattern("repository", boundary="/"))]
ImageGlob = Annotated[str, Field(strict=True, min_length=1, pattern=r"^\S+$")]
ImagePrefix = Annotated[str, Field(strict=True, min_length=3, pattern=r"^[a-z0-9.-]+(:[0-9]+)?/\S+$")]


class KeylessIdentity(StrictModel):
    """A cosign keyless (Fulcio) signing identity: the OIDC issuer and the certificate subject."""

    issuer: HttpsUrl
    """The OIDC issuer of the signing certificate (`https://`)."""
    subject_reg_exp: SubjectRegExp
    """The certificate subject, as a regular expression anchored at both ends (`^…$`)."""


class Signer(StrictModel):
    """Exactly one of `keyless` or `publicKey`."""

    keyless: KeylessIdentity | None = None
    """A cosign keyless (Fulcio) identity."""
    public_key: PublicKeyPem | None = None
    """A cosign public key (PEM)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Signer:
        if (self.keyless is None) == (self.public_key is None):
            raise ValueError(
                "a signer is either {keyless: {issuer, subjectRegExp}} or {publicKey: <PEM>}, exactly one of them"
            )
        return self


class ProvenanceConfig(StrictModel):
    # Identities allowed to sign agent images and their provenance attestations.
    signers: tuple[Signer, ...] = ()
    """`{keyless: {issuer, subjectRegExp}}` or `{publicKey: <PEM>}`. `subjectRegExp` must be anchored (`^…$`). Empty:
    `plan` warns and `pulumi up` refuses; a tier with `provenance: enforce` and no signers is a validation error (every
    pod would be rejected)."""
    # SLSA provenance `runDetails.builder.id` values accepted; a trailing `*` is a prefix match.
    builders: tuple[BuilderId, ...] = ()
    """Accepted SLSA `runDetails.builder.id`s; a trailing `*` is a prefix. Required with `signers`."""
    # Source repositories a provenance attestation may name; `https://github.com/acme/*` = an org.
    source_repositories: tuple[SourceRepository, ...] = ()
    """Accepted source repositories (`https://…`); `https://github.com/acme/*` accepts an organisation (the prefix must
    end in `/`). Required with `signers`."""
    # Image references verified (Kyverno globs); anything else in a tenant pod is not checked.
    images: tuple[ImageGlob, ...] = ("*",)
    """Kyverno globs of the images verified."""
    # Image prefixes the platform itself injects into agent pods (e.g. OpenTelemetry
    # auto-instrumentation init containers); they are not signed by the tenants' CI.
    exempt_images: tuple[ImagePrefix, ...] = ()
    """Image prefixes the platform injects and that are not verified (prefer full references with a digest)."""
    # Ambient registry credentials Kyverno uses to read signatures of private images
    # (e.g. `github` for private ghcr.io images); public registries need none.
    registry_providers: tuple[Literal["default", "amazon", "azure", "google", "github"], ...] = ()
    """Ambient registry credentials for Kyverno (`default`, `amazon`, `azure`, `google`, `github`)."""
    # Groups (as Kubernetes sees them, with any OIDC prefix) that may change platform-owned
    # labels, Kyverno policies and policy exceptions. The identity `pulumi up` runs as must be
    # in one of them (or in system:masters).
    admin_groups: tuple[KubernetesGroup, ...] = Field(default=("platform-admins",), min_length=1)
    """Groups (as Kubernetes sees them, OIDC prefix included) exempt from the guardrails. Add the group of the deploy
    identity."""
    # PolicyExceptions are honoured only in the Kyverno namespace, which only admins can write.
    policy_exceptions: bool = Field(default=True, strict=True)
    """Honour PolicyExceptions in the `kyverno` namespace only; `false` ignores them everywhere."""
    # Kyverno admission controller replicas; default 3 where `agentplane:protect`, else 1.
    replicas: int | None = Field(default=None, ge=1, le=15, strict=True)
    """Kyverno admission controller replicas (the other controllers run 2 when this is above 1). Default: `3` where
    `agentplane:protect`, else `1`."""
    chart: ChartSource = KYVERNO_CHART
    """The Kyverno chart: `{repository, chart, version}`, all three when set (e.g. an air-gapped mirror)."""

    @model_validator(mode="after")
    def _complete(self) -> ProvenanceConfig:
        # A provenance rule needs all three: who signs, which builder built it, from which source.
        if self.signers and not self.builders:
            raise ValueError(
                "builders: list the SLSA builder ids (runDetails.builder.id) accepted in provenance attestations"
            )
        if self.signers and not self.source_repositories:
            raise ValueError(
                "sourceRepositories: list the repositories (or https://host/org/*) agent images may be built from"
            )
        if not self.signers and (self.builders or self.source_repositories):
            raise ValueError(
                "signers: builders and sourceRepositories are checked on signed attestations; list the signers too"
            )
        if "*" in self.images and len(self.images) > 1:
            raise ValueError("images: '*' already matches every image; remove the other patterns or the '*'")
        return self

    def missing_for_deploy(self) -> list[str]:
        if not self.signers:
            return [
                "signers is empty, so no agent image can be verified and provenance is neither enforced nor "
                "audited; add the identity your CI signs images with (see docs/components/provenance.md)"
            ]
        return []


def missing_for_deploy(env: EnvironmentConfig) -> list[str]:
    """What the provenance settings lack for `pulumi up` (ProvenanceConfig.missing_for_deploy)."""
    return env.provenance.missing_for_deploy()


def check_environment(env: EnvironmentConfig) -> list[tuple[str, str]]:
    """Enforcing provenance without signers would reject every pod of those tiers: refuse it."""
    enforced = [t.name for t in env.tiers if t.provenance == "enforce"]
    if not enforced or env.provenance.signers:
        return []
    return [
        (
            "provenance.signers",
            f"tier(s) {', '.join(enforced)} enforce image provenance, so every pod in them would be "
            "rejected without signers; list the identities your CI signs agent images with "
            "({keyless: {issuer, subjectRegExp}} or {publicKey: <PEM>}), see docs/components/provenance.md",
        )
    ]
