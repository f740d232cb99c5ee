"""Shared by the end-to-end tests: which tools a real local cluster needs, and whether we have them."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

# What infra/up and the checks need on PATH, and where to get each.
TOOLS = {
    "docker": "https://docs.docker.com/engine/install/",
    "kind": "https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "pulumi": "https://www.pulumi.com/docs/iac/download-install/",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/",
}
# Set in the e2e workflow: there a missing tool is a broken job, not a reason to skip.
REQUIRED_ENV = "AGENTPLANE_E2E_REQUIRED"


def missing_tools() -> list[str]:
    missing = [f"{tool} ({url})" for tool, url in TOOLS.items() if shutil.which(tool) is None]
    if shutil.which("docker") is not None:
        try:
            engine = subprocess.run(["docker", "info"], capture_output=True, timeout=60, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            engine = False
        if not engine:
            missing.append("a running docker engine (`docker info` fails)")
    return missing


@pytest.fixture(scope="session")
def e2e_tools() -> None:
    missing = missing_tools()
    if not missing:
        return
    reason = "end-to-end tests need " + ", ".join(missing)
    if os.environ.get(REQUIRED_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRED_ENV}=1)")
    pytest.skip(reason)
