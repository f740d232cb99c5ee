"""State shared by the oracle suite's conftest and test modules: built oracles and check counts.

(A module of its own: pytest imports conftest.py under its own name, so state kept there would
exist twice when a test module imports it.)
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any

import pytest

from tests.oracles import build
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


def write_summary() -> None:
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
