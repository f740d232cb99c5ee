"""The Pulumi program: validated spec -> platform components. `pulumi up` and `agentplane plan` both run `main`."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
from pulumi.runtime import config as runtime_config

from agentplane.config.files import (
    TEAMS_DIR,
    env_config_from_engine,
    project_environments,
    read_team_documents,
    stack_config_path,
)
from agentplane.config.load import build_spec
from agentplane.config.platform import PlatformSpec
from agentplane.errors import ConfigError

TEAMS_DIR_ENV = "AGENTPLANE_TEAMS_DIR"


def received_config() -> dict[str, str]:
    """All config the engine gave the program: the language host passes it in PULUMI_CONFIG,
    in-process runs (the offline plan, tests) set it directly."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def load_from_engine(stack: str, teams_dir: Path, config_label: str, known_envs: set[str], root: Path) -> PlatformSpec:
    docs, issues = read_team_documents(teams_dir, root)
    return build_spec(
        stack,
        env_config_from_engine(received_config()),
        config_label,
        docs,
        known_envs,
        source="engine",
        prior_issues=issues,
        root=root,
    )


def define_platform(spec: PlatformSpec) -> dict[str, pulumi.ComponentResource]:
    """Every platform piece, in dependency order. Imported lazily: tests set mocks first."""
    from components.certificates import Certificates, CertificatesArgs
    from components.gateway.platform import Gateway, GatewayArgs
    from components.identity.platform import Identity, IdentityArgs
    from components.kube import kubernetes_provider, start_run
    from components.provenance import Provenance, ProvenanceArgs
    from components.telemetry import Telemetry, TelemetryArgs
    from components.tenants import Tenants, TenantsArgs
    from components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs

    start_run()
    provider = kubernetes_provider(spec)
    base = pulumi.ResourceOptions(providers={"kubernetes": provider})
    # The platform root first: every tenant namespace gets its certificate. Then the tenant
    # namespaces: identity, telemetry and gateway put per-team objects into them.
    certificates = Certificates("certificates", CertificatesArgs(spec), base)
    tenants = Tenants("tenants", TenantsArgs(spec, ca_certificate=certificates.root_ca_pem), base)
    identity = Identity(
        "identity",
        IdentityArgs(
            spec,
            root_ca_pem=certificates.root_ca_pem,
            issuer_dependencies=certificates.issuer_dependencies,
            tenant_namespaces=tenants.team_namespaces,
        ),
        base,
    )
    workload_identity = WorkloadIdentity("workload-identity", WorkloadIdentityArgs(spec), base)
    telemetry = Telemetry("telemetry", TelemetryArgs(spec, tenant_namespaces=tenants.team_namespaces), base)
    gateway = Gateway(
        "gateway",
        GatewayArgs(
            spec,
            issuer_url=identity.issuer_url,
            audience=identity.audience,
            issuer_name=certificates.issuer_name,
            ca_issuer=certificates.ca_issuer,
            root_ca_pem=certificates.root_ca_pem,
            otlp_grpc_endpoint=telemetry.otlp_grpc_endpoint,
            otlp_token=telemetry.gateway_token,
            tenant_namespaces=tenants.team_namespaces,
        ),
        base,
    )
    provenance = Provenance("provenance", ProvenanceArgs(spec), base)
    pulumi.export("teams", {t.name: {"namespace": t.namespace, "tier": t.tier.name} for t in spec.teams})
    # The platform root (public): what anything outside the cluster trusts platform TLS with.
    pulumi.export("platformCaCertificate", certificates.root_ca_pem)
    return {
        "tenants": tenants,
        "certificates": certificates,
        "identity": identity,
        "workload-identity": workload_identity,
        "telemetry": telemetry,
        "gateway": gateway,
        "provenance": provenance,
    }


def main(
    *,
    teams_dir: Path | None = None,
    config_label: str | None = None,
    offline: bool = False,
    known_root: Path | None = None,
    config_dir: Path | None = None,
) -> PlatformSpec:
    """Validate everything, then register the platform. Nothing is registered from invalid input.

    The keyword arguments exist for `agentplane plan --config/--teams`; `pulumi up` passes none.
    """
    root = known_root or Path.cwd()
    stack = pulumi.get_stack()
    teams_dir = teams_dir or Path(os.environ.get(TEAMS_DIR_ENV, root / TEAMS_DIR))
    config_label = config_label or stack_config_path(Path(), stack).as_posix()
    try:
        known_envs = project_environments(root, config_dir)
        spec = load_from_engine(stack, teams_dir, config_label, known_envs, root)
    except ConfigError as exc:
        if offline:
            raise  # the offline plan reports the errors itself, one per line
        raise pulumi.RunError(exc.render()) from None
    if spec.warnings:
        if offline or pulumi.runtime.is_dry_run():
            for warning in spec.warnings:
                pulumi.log.warn(warning)
        else:
            raise pulumi.RunError(
                "`pulumi up` needs settings the preview could do without:\n  - " + "\n  - ".join(spec.warnings)
            )
    define_platform(spec)
    return spec
