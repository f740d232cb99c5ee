"""The end-to-end suite runs only when asked for, and only against a cluster it creates itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_plain_pytest_deselects_every_e2e_test():
    done = _collect("tests/e2e")
    selected = [line for line in done.stdout.splitlines() if "::" in line]
    assert not any(re.search(r"::test_(controllers|onboarding|unsigned)", line) for line in selected), selected
    assert re.search(r"\d+ deselected", done.stdout), done.stdout


def test_asking_for_the_e2e_marker_selects_them():
    done = _collect("-m", "e2e", "tests/e2e")
    selected = [line for line in done.stdout.splitlines() if "::" in line]
    assert any("test_controllers_become_ready" in line for line in selected), done.stdout
    assert any("test_unsigned_image_is_rejected_in_an_enforce_tier" in line for line in selected)


def test_the_e2e_suite_uses_a_cluster_and_state_of_its_own():
    from tests.e2e import test_local_cluster as e2e

    assert re.fullmatch(r"agentplane-e2e-[0-9a-f]{8}", e2e.CLUSTER_NAME)
    assert e2e.KUBE_CONTEXT == f"kind-{e2e.CLUSTER_NAME}" != "kind-agentplane"
    assert e2e.INFRA_ARGS == ("--cluster", e2e.CLUSTER_NAME, "--state-dir", str(e2e.STATE_DIR))
    assert not str(e2e.STATE_DIR).startswith(str(ROOT)), "never the repository's .pulumi-state/"
    source = (ROOT / "tests" / "e2e" / "test_local_cluster.py").read_text()
    # Every infra/up and infra/down call names the run's own cluster; down never asks (--yes).
    calls = re.findall(r'sh\("infra/(up|down)"([^)]*)\)', source)
    assert calls and all("*INFRA_ARGS" in args for _, args in calls), calls
    assert all('"--yes"' in args for script, args in calls if script == "down")
    assert "already exists: this run did not create it" in source
