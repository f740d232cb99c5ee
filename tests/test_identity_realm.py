"""The realm as code: onboarding is local to the new team; an existing Keycloak gets only the realm."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import pulumi
import pytest
import yaml

from agentplane.engine import PLACEHOLDER, REDACTED
from agentplane.plan import plan_document, run_program
from tests.support.plans import (
    ROOT,
    by_urn,
    engine_config_for_up,
    example_plan,
    plan_with_teams,
    resources_of,
    run_as_pulumi_up,
    stack_document,
)

COMPONENT = "identity"
NEW_TEAM = """\
name: ledger
owners: [ledger-admins]
members: [ledger-devs, ledger-auditors]
environments:
  dev: {tier: standard}
agents:
  - name: reconciler
    promote: {dev: standard}
  - name: auditor
"""
EXISTING = {
    "url": "https://sso.example.com/auth",
    "adminUsername": "platform-admin",
    "adminPassword": {"secure": "v1:AAAAencrypted"},
}


def _identity_by_urn(doc: dict) -> dict[str, dict]:
    return {urn: r for urn, r in by_urn(doc).items() if r["component"] == COMPONENT}


@functools.cache
def _onboarded() -> dict:
    return plan_with_teams("dev", add={"ledger.yaml": NEW_TEAM})


def test_onboarding_adds_the_teams_group_and_clients() -> None:
    added = resources_of(_onboarded(), component=COMPONENT, team="ledger")
    groups = sorted(r["inputs"]["name"] for r in added if r["type"] == "keycloak:index/group:Group")
    assert groups == ["ledger", "ledger-admins", "ledger-auditors", "ledger-devs"]
    clients = sorted(r["inputs"]["clientId"] for r in added if r["type"] == "keycloak:openid/client:Client")
    assert clients == ["ledger.auditor", "ledger.reconciler"]
    secrets = sorted(
        (r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"])
        for r in added
        if r["inputs"].get("kind") == "Secret"
    )
    assert secrets == [("ledger", "auditor-oidc"), ("ledger", "reconciler-oidc")]


def test_onboarding_changes_no_other_identity_object() -> None:
    before, after = _identity_by_urn(example_plan("dev")), _identity_by_urn(_onboarded())
    assert set(before) <= set(after), "onboarding removed identity objects"
    for urn in before:
        assert after[urn]["inputs"] == before[urn]["inputs"], f"{urn} changed"
        assert after[urn]["dependsOn"] == before[urn]["dependsOn"], f"{urn} now waits for something else"
        assert (after[urn]["protect"], after[urn]["retainOnDelete"]) == (
            before[urn]["protect"],
            before[urn]["retainOnDelete"],
        )
    new = [after[urn] for urn in set(after) - set(before)]
    assert new and all(r["team"] == "ledger" for r in new), [r["name"] for r in new if r["team"] != "ledger"]


def test_offboarding_removes_only_that_teams_identity_objects() -> None:
    before = _identity_by_urn(example_plan("dev"))
    after = _identity_by_urn(plan_with_teams("dev", remove=("research.yaml",)))
    removed = [before[urn] for urn in set(before) - set(after)]
    assert removed and all(r["team"] == "research" for r in removed)
    assert all(after[urn]["inputs"] == before[urn]["inputs"] for urn in after)


# --- an existing Keycloak --------------------------------------------------------------------


def _dev_config_with(identity: dict) -> dict:
    return stack_document("dev", identity=identity)


@functools.cache
def _existing_plan() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "Pulumi.dev.yaml"
        config.write_text(yaml.safe_dump(_dev_config_with({"existing": EXISTING})))
        plan = run_program("dev", root=ROOT, config=config)
        return {**plan_document(plan), "warnings": plan.warnings}


def test_existing_keycloak_installs_nothing_but_the_realm() -> None:
    doc = _existing_plan()
    mine = resources_of(doc, component=COMPONENT)
    types = {r["type"] for r in mine}
    assert not [
        t
        for t in types
        if t.startswith(
            ("kubernetes:helm.sh", "kubernetes:postgresql.cnpg.io", "kubernetes:cert-manager.io", "random:")
        )
    ]
    assert not [r for r in mine if r["inputs"].get("kind") == "Namespace"]
    assert {"pulumi:providers:keycloak", "keycloak:index/realm:Realm", "keycloak:openid/client:Client"} <= types
    # Only the agents' client Secrets, in their team namespaces, are Kubernetes objects here.
    assert {r["inputs"]["metadata"]["namespace"] for r in mine if r["type"].startswith("kubernetes:")} == {
        "payments",
        "research",
        "support",
    }
    realm = next(r for r in mine if r["type"] == "keycloak:index/realm:Realm")
    assert realm["dependsOn"] == []  # nothing of ours to wait for


def test_existing_keycloak_provider_logs_in_with_the_configured_credentials() -> None:
    provider = next(
        r for r in resources_of(_existing_plan(), component=COMPONENT) if r["type"] == "pulumi:providers:keycloak"
    )
    inputs = provider["inputs"]
    assert (inputs["url"], inputs["basePath"]) == ("https://sso.example.com", "/auth")
    assert (inputs["username"], inputs["password"], inputs["realm"]) == ("platform-admin", REDACTED, "master")
    assert inputs["initialLogin"] in (False, "false")
    text = json.dumps(_existing_plan())
    assert PLACEHOLDER not in text and "AAAAencrypted" not in text


def test_existing_keycloak_plan_warns_that_the_password_is_encrypted() -> None:
    assert any("identity.existing.adminPassword is encrypted" in w for w in _existing_plan()["warnings"])


def _pulumi_up(identity: dict, monkeypatch: pytest.MonkeyPatch):
    """The program as `pulumi up` runs it; everything else it needs is present, so only identity decides."""
    return run_as_pulumi_up(engine_config_for_up(stack_document("dev", identity=identity)), monkeypatch)


def test_pulumi_up_refuses_an_existing_keycloak_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(pulumi.RunError, match=r"agentplane:identity: existing.adminPassword .* cannot log in"):
        _pulumi_up({"existing": {"url": "https://sso.example.com"}}, monkeypatch)


def test_pulumi_up_uses_the_decrypted_credential_as_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "decrypted-by-the-engine-7f3a"
    registrations, _ = _pulumi_up(
        {"existing": {"url": "https://sso.example.com", "adminUsername": "platform-admin", "adminPassword": password}},
        monkeypatch,
    )
    provider = next(r for r in registrations if r.type == "pulumi:providers:keycloak")
    assert provider.inputs["password"] == REDACTED
    assert not any(password in json.dumps(r.inputs) for r in registrations)
