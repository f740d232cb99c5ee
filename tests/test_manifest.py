"""The shared output conventions (agentplane/manifest.py): labels the policies key on, metadata,
and security contexts that pass Pod Security `restricted`."""

from __future__ import annotations

import itertools

import pytest

from agentplane import manifest
from agentplane.manifest import labels, metadata, restricted_container, restricted_pod
from policies.pack import checks


def test_policy_pack_keys_on_the_labels_the_builders_set() -> None:
    # The pack is standard-library only (it runs wherever Pulumi runs it), so it keeps its own
    # copies: a label renamed on one side only would make its checks pass over every namespace.
    assert checks.LABEL_TENANT == manifest.LABEL_TENANT
    assert checks.LABEL_PLATFORM == manifest.LABEL_PLATFORM
    assert checks.LABEL_OFFBOARDING == manifest.LABEL_OFFBOARDING


def test_every_object_is_managed_by_agentplane_and_platform_owned_only_when_asked() -> None:
    assert labels() == {"app.kubernetes.io/managed-by": "agentplane"}
    owned = labels(tenant="payments", platform_owned=True, extra={manifest.LABEL_AGENT: "invoice-triage"})
    assert owned == {
        "app.kubernetes.io/managed-by": "agentplane",
        "agentplane.io/tenant": "payments",
        "agentplane.io/platform-owned": "true",
        "agentplane.io/agent": "invoice-triage",
    }
    assert manifest.LABEL_PLATFORM_OWNED not in labels(tenant="payments")


def test_metadata_of_cluster_scoped_objects_has_no_namespace_and_objects_share_nothing() -> None:
    assert metadata("agentplane-tier-standard") == {"name": "agentplane-tier-standard", "labels": labels()}
    shared = labels(tenant="payments")
    first, second = metadata("a", "payments", shared), metadata("b", "payments", shared)
    first["labels"][manifest.LABEL_PLATFORM_OWNED] = "true"
    first.setdefault("annotations", {})["x"] = "y"
    # A builder adding to one object's metadata never changes another's, nor the labels it passed.
    assert manifest.LABEL_PLATFORM_OWNED not in second["labels"] and manifest.LABEL_PLATFORM_OWNED not in shared
    assert "annotations" not in second


def _refusals(pod: dict, container: dict) -> list[str]:
    """The `restricted` controls these helpers cover, as Pod Security admission applies them to
    one container of a pod (kubernetes.io/docs/concepts/security/pod-security-standards,
    "Restricted": privilege escalation, capabilities, running as non-root, seccomp)."""
    found = []
    if container.get("allowPrivilegeEscalation") is not False:
        found.append("allowPrivilegeEscalation")
    capabilities = container.get("capabilities") or {}
    if "ALL" not in capabilities.get("drop", []) or capabilities.get("add"):
        found.append("capabilities")
    if container.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
        found.append("runAsNonRoot")
    if 0 in (container.get("runAsUser"), pod.get("runAsUser")):
        found.append("runAsUser")
    seccomp = container.get("seccompProfile") or pod.get("seccompProfile") or {}
    if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
        found.append("seccompProfile")
    return found


@pytest.mark.parametrize("read_only, user", list(itertools.product([True, False], [None, 65532])))
def test_a_restricted_pod_makes_any_restricted_container_pass(read_only: bool, user: int | None) -> None:
    container = restricted_container(read_only_root_filesystem=read_only, run_as_user=user)
    assert _refusals(restricted_pod(), container) == []
    assert _refusals(restricted_pod(run_as_user=999, run_as_group=1000, fs_group=1000), container) == []


def test_a_container_that_sets_its_own_user_and_profile_passes_without_the_pod_saying_so() -> None:
    # The init containers the telemetry operator injects into tenant pods, whatever the pod says.
    alone = restricted_container(run_as_non_root=True, run_as_user=65532, run_as_group=65532, seccomp_profile=True)
    assert _refusals({}, alone) == []
    # keycloakx: the pod context sets the profile, each container the user.
    keycloak = restricted_container(read_only_root_filesystem=False, run_as_non_root=True, run_as_user=1000)
    assert _refusals(restricted_pod(run_as_non_root=False, fs_group=1000), keycloak) == []
    # Neither saying it is refused: the parameters are not decoration.
    assert _refusals(restricted_pod(run_as_non_root=False), restricted_container()) == ["runAsNonRoot"]
    assert _refusals({}, restricted_container(run_as_non_root=True)) == ["seccompProfile"]


def test_root_is_refused_when_the_context_is_built() -> None:
    with pytest.raises(ValueError, match="user 0"):
        restricted_container(run_as_user=0)
    with pytest.raises(ValueError, match="user 0"):
        restricted_pod(run_as_user=0)
