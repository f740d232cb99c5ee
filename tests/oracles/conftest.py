"""Fixtures of the oracle suite: built oracles, a real API server, and build/oracles/summary.json.

Run with ``.venv/bin/python -m pytest -q -m oracle tests/oracles`` (the default run deselects the
``oracle`` marker: a cold build takes tens of minutes). Without Go every test skips with a reason
saying how to get it, unless ``AGENTPLANE_ORACLES_REQUIRED=1`` (set by .ci/run), where a missing
Go or a failed build is an error.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oracles.harness import built, record, write_summary
from tests.oracles.kube import Client, start_cluster


@pytest.fixture(scope="session")
def oracle_record():
    return record


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[Client]:
    kubernetes = built("kubernetes")
    etcd = built("etcd")
    with tempfile.TemporaryDirectory(prefix="agentplane-kube-") as tmp:
        cluster = start_cluster(
            Path(tmp),
            etcd.binary("etcd"),
            kubernetes.binary("kube-apiserver"),
            kubernetes.binary("kube-controller-manager"),
        )
        record("etcd", "stores the oracle API server's state", True)
        try:
            yield cluster.client
        finally:
            cluster.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    write_summary()
