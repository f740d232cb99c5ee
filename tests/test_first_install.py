"""The first `pulumi up` as shipped: Helm timeouts and rollbacks per release, readiness gates,
image digests the policy pack accepts, the gateway's trust in Keycloak's JWKS endpoint, and the
private path CI takes to Keycloak's admin API."""

from __future__ import annotations

import pulumi
import pytest
import yaml

from agentplane import admin_tunnel
from agentplane.builders.certificates import CA_BUNDLE, CA_BUNDLE_KEY
from agentplane.builders.gateway import platform as gateway_build
from agentplane.builders.identity import keycloak as identity_build
from agentplane.builders.identity import urls as identity_urls
from agentplane.builders.releases import (
    DEPLOY_JOB_TIMEOUT,
    POSTGRES_READY_TIMEOUT,
    RELEASES,
    first_install_bound,
    release_policy,
)
from agentplane.config.load import load_from_files
from agentplane.config.sections.identity import KEYCLOAK_IMAGE, KEYCLOAK_VERSION
from agentplane.plan import plan_document, run_program
from policies.pack import checks
from tests.support.plans import ROOT, STACKS, engine_config_for_up, example_plan, run_as_pulumi_up, stack_document
from tests.support.upstream import upstream_dir, validate_objects

RELEASE = "kubernetes:helm.sh/v3:Release"
CERT_MANAGER = "kubernetes-cert-manager:index:CertManager"
# A digest of the right shape for tests only; real digests come from the registry (docs/operations.md).
TEST_DIGEST = "sha256:" + "ab" * 32


def _releases(stack: str) -> list[dict]:
    return [r for r in example_plan(stack)["resources"] if r["type"] == RELEASE]


# --- Helm timeouts and rollbacks ---------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_release_has_its_documented_timeout_and_rollback(stack: str) -> None:
    releases = _releases(stack)
    assert len(releases) >= 7
    for release in releases:
        policy = release_policy(release["inputs"]["chart"].rsplit("/", 1)[-1])
        assert release["inputs"]["timeout"] == policy.timeout, release["name"]
        assert release["inputs"]["atomic"] is policy.atomic, release["name"]
        # Explicit, never Helm's default; only CRD-only charts keep 300 s (nothing to pull or start).
        assert release["inputs"]["timeout"] > 300 or policy.why == "CRDs only", release["name"]
    (cert_manager,) = [r for r in example_plan(stack)["resources"] if r["type"] == CERT_MANAGER]
    options = cert_manager["inputs"]["helmOptions"]
    assert (options["timeout"], options["atomic"]) == (
        RELEASES["cert-manager"].timeout,
        RELEASES["cert-manager"].atomic,
    )


def test_no_rollback_where_the_release_holds_migrated_state() -> None:
    # A rollback after Keycloak (or SPIRE's datastore) migrated its schema would run the older
    # version on the newer schema; a failed first install is then re-run, not uninstalled.
    assert RELEASES["keycloakx"].atomic is False and RELEASES["spire"].atomic is False
    keycloak = [r for r in _releases("prod") if r["inputs"]["chart"] == "keycloakx"][0]["inputs"]
    assert keycloak["atomic"] is False and keycloak["cleanupOnFail"] is False
    # Keycloak's window fits its image pull and first build: keycloakx's startup probe alone
    # allows 315 s per pod (codecentric/helm-charts@keycloakx-7.1.11 values.yaml startupProbe).
    chart = yaml.safe_load((upstream_dir() / "charts" / "keycloakx-7.1.11" / "values.yaml").read_text())
    probe = yaml.safe_load(chart["startupProbe"])
    probe_seconds = probe["initialDelaySeconds"] + probe["failureThreshold"] * probe["periodSeconds"]
    replicas = load_from_files("prod", root=ROOT).env.identity.keycloak.replicas
    assert RELEASES["keycloakx"].timeout >= probe_seconds * replicas + 300


def test_every_chart_the_program_installs_has_a_policy_and_no_other() -> None:
    used = {r["inputs"]["chart"].rsplit("/", 1)[-1] for stack in STACKS for r in _releases(stack)} | {"cert-manager"}
    assert used == set(RELEASES)
    with pytest.raises(KeyError, match="has no timeout"):
        release_policy("some-new-chart")


def test_the_longest_first_install_chain_fits_the_deploy_job() -> None:
    assert first_install_bound() == 600 + POSTGRES_READY_TIMEOUT + 1200
    assert first_install_bound() < DEPLOY_JOB_TIMEOUT
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    assert {job["timeout-minutes"] * 60 for job in deploy["jobs"].values()} == {DEPLOY_JOB_TIMEOUT}


# --- readiness gates ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_keycloaks_window_starts_when_postgres_is_ready(stack: str) -> None:
    doc = example_plan(stack)
    (cluster,) = [r for r in doc["resources"] if r["inputs"].get("kind") == "Cluster"]
    annotations = cluster["inputs"]["metadata"]["annotations"]
    # pulumi/pulumi-kubernetes@v4.32.0:provider/pkg/metadata/overrides.go (ReadyCondition) and
    # annotations.go; CloudNativePG's ConditionClusterReady is "Ready" (api/v1/cluster_types.go).
    assert annotations["pulumi.com/waitFor"] == "condition=Ready"
    assert int(annotations["pulumi.com/timeoutSeconds"]) == POSTGRES_READY_TIMEOUT
    (keycloak,) = [r for r in doc["resources"] if r["type"] == RELEASE and r["inputs"]["chart"] == "keycloakx"]
    assert cluster["urn"] in keycloak["dependsOn"]


# --- images ------------------------------------------------------------------------------------


def _keycloak_values(doc: dict) -> dict:
    (release,) = [r for r in doc["resources"] if r["type"] == RELEASE and r["inputs"]["chart"] == "keycloakx"]
    return release["inputs"]["values"]


def test_a_configured_digest_pins_keycloak_and_passes_the_pack(tmp_path) -> None:
    doc = stack_document("prod", images={"keycloak": TEST_DIGEST})
    config = tmp_path / "Pulumi.prod.yaml"
    config.write_text(yaml.safe_dump(doc))
    plan = run_program("prod", root=ROOT, config=config)
    assert not [w for w in plan.warnings if "images" in w]
    values = _keycloak_values(plan_document(plan))
    # keycloakx renders `repository@digest` when a digest is set (codecentric/helm-charts@
    # keycloakx-7.1.11:charts/keycloakx/templates/statefulset.yaml, the keycloak container's image).
    assert values["image"] == {"tag": KEYCLOAK_VERSION, "digest": TEST_DIGEST}
    assert checks.images_pinned_by_digest(checks.from_plan(plan_document(plan))) == []


def test_without_a_digest_keycloak_runs_the_charts_own_image() -> None:
    values = _keycloak_values(example_plan("staging"))
    assert "image" not in values
    chart = yaml.safe_load((upstream_dir() / "charts" / "keycloakx-7.1.11" / "Chart.yaml").read_text())
    defaults = yaml.safe_load((upstream_dir() / "charts" / "keycloakx-7.1.11" / "values.yaml").read_text())
    assert chart["appVersion"] == defaults["image"]["tag"] == KEYCLOAK_VERSION
    assert defaults["image"]["repository"] == KEYCLOAK_IMAGE


def test_the_shipped_prod_stack_plans_but_pulumi_up_refuses_a_tag_only_keycloak(monkeypatch) -> None:
    warnings = run_program("prod", root=ROOT).warnings
    assert any(w.startswith("agentplane:images: keycloak is not set") for w in warnings), warnings
    with pytest.raises(pulumi.RunError, match=r"agentplane:images: keycloak is not set.*by digest"):
        run_as_pulumi_up(engine_config_for_up(stack_document("prod"), "prod"), monkeypatch, "prod")


def test_unprotected_stacks_may_run_the_chart_image() -> None:
    for stack in ("dev", "staging"):
        assert not [w for w in run_program(stack, root=ROOT).warnings if "images" in w]


@pytest.mark.parametrize(
    "digest", ["26.5.6", "sha256:" + "AB" * 32, "sha256:abc", "sha512:" + "ab" * 64, "@sha256:" + "ab" * 32]
)
def test_a_digest_that_is_not_one_is_an_error_naming_the_field(digest: str) -> None:
    from agentplane.config.files import env_config_from_stack_document
    from agentplane.config.load import validate_environment
    from agentplane.errors import ConfigError

    raw = env_config_from_stack_document(stack_document("prod", images={"keycloak": digest}), "stacks/Pulumi.prod.yaml")
    with pytest.raises(ConfigError) as info:
        validate_environment(raw, "stacks/Pulumi.prod.yaml", source="file")
    ((issue),) = info.value.issues
    assert issue.field == "agentplane:images.keycloak" and "is not an image digest" in issue.message


def test_a_protected_postgres_image_by_tag_is_refused() -> None:
    from agentplane.config.files import env_config_from_stack_document
    from agentplane.config.load import validate_environment
    from agentplane.errors import ConfigError

    prod = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]["agentplane:identity"]
    for image, ok in (
        ("ghcr.io/cloudnative-pg/postgresql:18.1", False),
        (f"ghcr.io/cloudnative-pg/postgresql:18.1@{TEST_DIGEST}", True),
    ):
        identity = {**prod, "database": {**prod["database"], "imageName": image}}
        raw = env_config_from_stack_document(stack_document("prod", identity=identity), "stacks/Pulumi.prod.yaml")
        if ok:
            validate_environment(raw, "stacks/Pulumi.prod.yaml", source="file")
            continue
        with pytest.raises(ConfigError) as info:
            validate_environment(raw, "stacks/Pulumi.prod.yaml", source="file")
        assert [i.field for i in info.value.issues] == ["agentplane:identity.database.imageName"]


# --- the gateway's trust in Keycloak's signing keys ------------------------------------------


def _jwks_backend(doc: dict) -> dict:
    (backend,) = [
        r
        for r in doc["resources"]
        if r["inputs"].get("kind") == "AgentgatewayBackend"
        and r["inputs"]["metadata"]["name"] == gateway_build.JWKS_BACKEND
    ]
    return backend


@pytest.mark.parametrize("stack", ("staging", "prod"))
def test_the_jwks_backend_verifies_keycloak_with_the_platform_root(stack: str) -> None:
    doc = example_plan(stack)
    backend = _jwks_backend(doc)
    tls = backend["inputs"]["spec"]["policies"]["tls"]
    assert tls["caCertificateRefs"] == [{"name": CA_BUNDLE}]
    assert "insecureSkipVerify" not in tls
    # The ConfigMap is in the backend's namespace under the key agentgateway reads (`ca.crt`:
    # agentgateway/agentgateway@v1.4.1:controller/pkg/agentgateway/remotehttp/ca_bundle.go).
    (bundle,) = [
        r
        for r in doc["resources"]
        if r["inputs"].get("kind") == "ConfigMap"
        and r["inputs"]["metadata"]["name"] == CA_BUNDLE
        and r["inputs"]["metadata"]["namespace"] == backend["inputs"]["metadata"]["namespace"]
    ]
    assert set(bundle["inputs"]["data"]) == {CA_BUNDLE_KEY}
    assert bundle["urn"] in backend["dependsOn"]
    (root,) = [r for r in doc["resources"] if r["type"] == "tls:index/selfSignedCert:SelfSignedCert"]
    assert root["urn"] in bundle["dependsOn"]
    assert validate_objects([backend["inputs"]]) == []


def test_dev_reads_signing_keys_over_plain_http_without_a_ca() -> None:
    doc = example_plan("dev")
    assert "policies" not in _jwks_backend(doc)["inputs"]["spec"]
    assert not [
        r
        for r in doc["resources"]
        if r["inputs"].get("kind") == "ConfigMap"
        and r["inputs"]["metadata"]["name"] == CA_BUNDLE
        and r["inputs"]["metadata"]["namespace"] == "agentplane-gateway"
    ]


def test_a_jwks_endpoint_with_a_public_certificate_keeps_the_system_roots() -> None:
    spec = load_from_files("staging", root=ROOT)
    public = spec.env.identity.model_copy(
        update={"tls": spec.env.identity.tls.model_copy(update={"issuer": "letsencrypt"})}
    )
    url = f"https://{public.hostname}/realms/agentplane/protocol/openid-connect/certs"
    assert identity_urls.served_by_platform_ca(spec.env.identity, url)
    assert not identity_urls.served_by_platform_ca(public, url)
    # The in-cluster Service is always platform-CA signed, whatever the public issuer.
    assert identity_urls.served_by_platform_ca(public, "https://keycloak-http.agentplane-identity.svc:8443/realms/x")
    assert not identity_urls.served_by_platform_ca(public, "http://keycloak-http.agentplane-identity.svc/realms/x")


# --- the private path to Keycloak's admin API ----------------------------------------------------


@pytest.mark.parametrize("stack", ("staging", "prod"))
def test_ci_reaches_the_admin_api_through_the_cluster(stack: str) -> None:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    host, port = admin_tunnel.tunnel_target(doc)
    assert (host, port) == ("keycloak-http.agentplane-identity.svc", identity_urls.KEYCLOAK_HTTPS_PORT)
    loop = admin_tunnel.port_forward_loop(port, admin_tunnel.kubectl_target(doc))
    assert loop[2].startswith("while true; do")  # restarted: on a first install the Service appears mid-run
    forward = loop[4:]
    assert forward[0] == "kubectl" and forward[-3:] == ["port-forward", "service/keycloak-http", "8443:8443"]
    assert "--namespace=agentplane-identity" in forward
    # The cluster the Kubernetes provider deploys to, not whatever the kubeconfig's current context is.
    assert f"--context={doc['config']['agentplane:cluster']['context']}" in forward
    # Keycloak's certificate names the host the provider dials.
    assert host in identity_build.certificate_dns_names(load_from_files(stack, root=ROOT).env.identity)


def _run_loop_with_fake_kubectl(tmp_path, cluster: dict) -> list[str]:
    """Runs the real background loop for a moment with a `kubectl` that records its arguments."""
    import os
    import signal
    import subprocess
    import time

    record = tmp_path / "kubectl-args"
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    # Written aside and renamed: the record appears whole or not at all.
    fake.write_text(
        f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {record}.part && mv {record}.part {record}\n'
    )
    fake.chmod(0o755)
    argv = admin_tunnel.port_forward_loop(
        8443, admin_tunnel.kubectl_target({"config": {"agentplane:cluster": cluster}})
    )
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    process = subprocess.Popen(argv, env=env, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # generous: a loaded machine starts processes slowly
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return record.read_text().splitlines()


def test_stack_values_reach_kubectl_as_arguments_never_as_shell_text(tmp_path) -> None:
    # Abuse case: a stack file whose cluster context carries shell syntax.
    context = "prod'; touch pwned; echo '$(touch pwned2)"
    args = _run_loop_with_fake_kubectl(tmp_path, {"context": context, "kubeconfig": "/tmp/kube config"})
    assert args[:2] == [f"--context={context}", "--kubeconfig=/tmp/kube config"]
    assert args[-3:] == ["port-forward", "service/keycloak-http", "8443:8443"]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://keycloak-http.agentplane-identity.svc", "no port: 443, not Keycloak's Service port, and privileged"),
        ("https://keycloak-http.agentplane-identity.svc:443", "a privileged local port"),
        ("https://keycloak-http.agentplane-identity.svc:99999", "not a port"),
        ("https://keycloak-http.agentplane-identity.svc:84x3", "not a number"),
    ],
)
def test_a_provider_url_the_tunnel_cannot_serve_is_a_clear_error(
    url: str, why: str, tmp_path, monkeypatch, capsys
) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.x.yaml").write_text(
        yaml.safe_dump({"config": {"agentplane:identity": {"providerUrl": url}}})
    )
    monkeypatch.chdir(tmp_path)
    assert admin_tunnel.main(["--stack", "x", "--check"]) == 2, why
    err = capsys.readouterr().err
    assert "agentplane:identity.providerUrl" in err and "Traceback" not in err


def test_a_kubeconfig_given_as_contents_is_refused_by_the_tunnel() -> None:
    with pytest.raises(admin_tunnel.TunnelConfigError, match="agentplane:cluster.kubeconfig"):
        admin_tunnel.kubectl_target(
            {"config": {"agentplane:cluster": {"kubeconfig": "apiVersion: v1\nkind: Config\n"}}}
        )


def test_the_hosts_entry_is_added_once(tmp_path, monkeypatch) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    calls: list[list[str]] = []

    def fake_run(argv, input=None, **_):
        calls.append(argv)
        with hosts.open("a") as f:
            f.write(input)

    monkeypatch.setattr(admin_tunnel, "HOSTS_FILE", hosts)
    monkeypatch.setattr(admin_tunnel.subprocess, "run", fake_run)
    started: list[list[str]] = []
    monkeypatch.setattr(admin_tunnel.subprocess, "Popen", lambda argv, **_: started.append(argv))
    monkeypatch.chdir(ROOT)
    assert admin_tunnel.main(["--stack", "prod"]) == 0
    assert admin_tunnel.main(["--stack", "prod"]) == 0
    assert calls == [["sudo", "tee", "-a", str(hosts)]]
    # The loop that runs forwards through prod's own context.
    assert started and all("--context=prod-admin@agentplane-prod" in argv for argv in started)
    assert hosts.read_text().splitlines().count("127.0.0.1 keycloak-http.agentplane-identity.svc") == 1


def test_no_tunnel_for_a_public_or_local_provider_url() -> None:
    assert admin_tunnel.tunnel_target(yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())) is None
    assert (
        admin_tunnel.tunnel_target(
            {
                "config": {
                    "agentplane:identity": {"providerUrl": "https://evil.example/keycloak-http.agentplane-identity.svc"}
                }
            }
        )
        is None
    )
    assert (
        admin_tunnel.tunnel_target(
            {
                "config": {
                    "agentplane:identity": {"providerUrl": "https://keycloak-http.agentplane-identity.svc.evil.example"}
                }
            }
        )
        is None
    )


def test_the_tunnel_check_mode_changes_nothing(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert admin_tunnel.main(["--stack", "staging", "--check"]) == 0
    assert "forwarding keycloak-http.agentplane-identity.svc:8443" in capsys.readouterr().out
    assert admin_tunnel.main(["--stack", "dev", "--check"]) == 0
    assert "no tunnel needed" in capsys.readouterr().out


@pytest.mark.parametrize("workflow", ["deploy.yml", "drift.yml", "preview.yml"])
def test_every_workflow_that_reaches_a_live_stack_opens_the_private_path_first(workflow: str) -> None:
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())["jobs"]
    live = [
        job
        for job in jobs.values()
        if any("pulumi" in (s.get("run", "") + s.get("uses", "")) and "stack" in json_text(s) for s in job["steps"])
    ]
    assert live
    for job in live:
        names = [s.get("name", "") for s in job["steps"]]
        tunnel = names.index("Private path to Keycloak's admin API")
        kubeconfig = next(i for i, n in enumerate(names) if n.startswith("Kubeconfig"))
        pulumi_step = next(i for i, s in enumerate(job["steps"]) if "pulumi" in s.get("name", "") and i > kubeconfig)
        assert kubeconfig < tunnel < pulumi_step
        assert "python -m agentplane.admin_tunnel --stack" in job["steps"][tunnel]["run"]


def json_text(step: dict) -> str:
    import json

    return json.dumps(step)


# --- trust distribution to workloads --------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_tenant_namespace_gets_the_platform_root(stack: str) -> None:
    doc = example_plan(stack)
    spec = load_from_files(stack, root=ROOT)
    assert spec.teams
    (root,) = [r for r in doc["resources"] if r["type"] == "tls:index/selfSignedCert:SelfSignedCert"]
    for team in spec.teams:
        (bundle,) = [
            r
            for r in doc["resources"]
            if r["inputs"].get("kind") == "ConfigMap"
            and r["inputs"]["metadata"] == {**r["inputs"]["metadata"], "name": CA_BUNDLE, "namespace": team.namespace}
        ]
        assert bundle["team"] == team.name  # shown with the team's changes in a PR's plan diff
        assert bundle["inputs"]["data"] == {CA_BUNDLE_KEY: "[unknown]"}  # the root, known at `pulumi up`
        assert root["urn"] in bundle["dependsOn"]
        (namespace,) = [
            r["urn"]
            for r in doc["resources"]
            if r["inputs"].get("kind") == "Namespace" and r["inputs"]["metadata"]["name"] == team.namespace
        ]
        assert namespace in bundle["dependsOn"]


def test_the_option_names_exist_in_the_pinned_sdks() -> None:
    """timeout/atomic/cleanup_on_fail (pulumi-kubernetes 4.34.2 helm.v3.Release and
    pulumi-kubernetes-cert-manager 0.2.0 ReleaseArgs), client_timeout/root_ca_certificate
    (pulumi-keycloak 6.14.1 Provider): a misspelt keyword would fail at `pulumi up` only."""
    import inspect

    import pulumi_keycloak
    import pulumi_kubernetes as k8s
    import pulumi_kubernetes_cert_manager as cert_manager

    release = inspect.signature(k8s.helm.v3.ReleaseArgs.__init__).parameters
    assert {"timeout", "atomic", "cleanup_on_fail"} <= set(release)
    assert {"timeout", "atomic", "cleanup_on_fail"} <= set(
        inspect.signature(cert_manager.ReleaseArgs.__init__).parameters
    )
    assert {"client_timeout", "root_ca_certificate"} <= set(
        inspect.signature(pulumi_keycloak.ProviderArgs.__init__).parameters
    )


# --- a publicly issued (ACME) Keycloak hostname ------------------------------------------------


def _acme_plan(tmp_path, provider_url: str | None) -> dict:
    """staging with Keycloak's hostname issued by an ACME ClusterIssuer the program creates."""
    doc = stack_document("staging")
    doc["config"]["agentplane:certificates"] = {
        "acme": {"name": "letsencrypt", "email": "ops@agentplane.example.com", "ingressClassName": "nginx"}
    }
    identity = doc["config"]["agentplane:identity"]
    identity["tls"] = {"issuer": "letsencrypt"}
    if provider_url is None:
        identity.pop("providerUrl", None)
    else:
        identity["providerUrl"] = provider_url
    config = tmp_path / "Pulumi.staging.yaml"
    config.write_text(yaml.safe_dump(doc))
    return plan_document(run_program("staging", root=ROOT, config=config))


def test_the_realm_waits_for_the_public_certificate_it_is_reached_through(tmp_path) -> None:
    """With the provider at the public hostname (system roots), the realm must not start while
    the Ingress still serves a placeholder: the ACME Certificate's Ready condition
    (cert-manager/cert-manager@v1.21.0:pkg/apis/certmanager/v1/types_certificate.go,
    CertificateConditionReady = "Ready") gates Keycloak's release, and with it the realm."""
    from agentplane.builders.releases import PUBLIC_CERTIFICATE_READY_TIMEOUT

    doc = _acme_plan(tmp_path, None)
    by_urn = {r["urn"]: r for r in doc["resources"]}
    (public,) = [
        r
        for r in doc["resources"]
        if r["inputs"].get("kind") == "Certificate" and r["inputs"]["spec"]["issuerRef"]["name"] == "letsencrypt"
    ]
    annotations = public["inputs"]["metadata"].get("annotations") or {}
    assert annotations.get("pulumi.com/waitFor") == "condition=Ready"
    assert int(annotations["pulumi.com/timeoutSeconds"]) == PUBLIC_CERTIFICATE_READY_TIMEOUT
    (realm,) = [r for r in doc["resources"] if r["type"] == "keycloak:index/realm:Realm"]

    def closure(urn: str) -> set[str]:
        seen, todo = set(), [urn]
        while todo:
            for dep in by_urn[todo.pop()]["dependsOn"]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    assert public["urn"] in closure(realm["urn"])
    # The provider there trusts the system roots, not the platform CA.
    (provider,) = [r for r in doc["resources"] if r["type"] == "pulumi:providers:keycloak"]
    assert provider["inputs"].get("rootCaCertificate") is None
    # The ACME wait fits the first-install bound: cert-manager, the order, then Keycloak.
    assert (
        RELEASES["cert-manager"].timeout + PUBLIC_CERTIFICATE_READY_TIMEOUT + RELEASES["keycloakx"].timeout
        <= first_install_bound()
    )
