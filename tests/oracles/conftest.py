"""Fixtures of the oracle suite: built oracles, a real API server, and build/oracles/summary.json.

Run with ``.venv/bin/python -m pytest -q -m oracle tests/oracles`` (the default run deselects the
``oracle`` marker: a cold build takes tens of minutes). Without Go every test skips with a reason
saying how to get it, unless ``AGENTPLANE_ORACLES_REQUIRED=1`` (set by .ci/run), where a missing
Go or a failed build is an error.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.oracles import build
from tests.oracles.kube import Client, start_cluster
from tests.support.plans import ROOT

REQUIRED_ENV = "AGENTPLANE_ORACLES_REQUIRED"
SUMMARY = ROOT / "build" / "oracles" / "summary.json"

# oracle name -> {"version", "checks": {check: {"passed": n, "failed": n}}}
_RESULTS: dict[str, dict[str, Any]] = defaultdict(lambda: {"checks": defaultdict(lambda: {"passed": 0, "failed": 0})})


def built(name: str) -> build.Oracle:
    """The oracle, built (or reused from the cache); skip without Go unless required."""
    oracle = build.ORACLES[name]
    try:
        build.build(oracle)
    except build.GoMissing as error:
        if os.environ.get(REQUIRED_ENV) == "1":
            pytest.fail(f"{error} ({REQUIRED_ENV}=1: a missing Go is a broken run here)", pytrace=False)
        pytest.skip(str(error))
    except build.OracleBuildError as error:
        pytest.fail(f"building oracle {name} failed: {error}", pytrace=False)
    _RESULTS[name]["version"] = oracle.version
    _RESULTS[name]["build_seconds"] = build.build_info(oracle).get("seconds")
    return oracle


def record(oracle: str, check: str, passed: bool) -> None:
    _RESULTS[oracle]["checks"][check]["passed" if passed else "failed"] += 1


@pytest.fixture(scope="session")
def oracle_record():
    return record


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[Client]:
    kubernetes = built("kubernetes")
    etcd = built("etcd")
    with tempfile.TemporaryDirectory(prefix="agentplane-kube-") as tmp:
        cluster = start_cluster(
            Path(tmp), etcd.binary("etcd"), kubernetes.binary("kube-apiserver"), kubernetes.binary("kube-controller-manager"))
        record("etcd", "stores the oracle API server's state", True)
        try:
            yield cluster.client
        finally:
            cluster.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _RESULTS:
        return
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        name: {
            "version": result.get("version"),
            "build_seconds": result.get("build_seconds"),
            "checks": {check: dict(counts) for check, counts in sorted(result["checks"].items())},
            "passed": sum(c["passed"] for c in result["checks"].values()),
            "failed": sum(c["failed"] for c in result["checks"].values()),
        }
        for name, result in sorted(_RESULTS.items())
    }
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
