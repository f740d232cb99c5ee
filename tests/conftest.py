"""Test-session setup: the pinned upstream schema data the validation tests read.

On a fresh machine outside this repository's CI layout there is no ../shared/upstream: the
session then uses (or fills, downloading the pinned, checksummed files once) the cache in
~/.cache/agentplane/upstream, or stops with one message naming the one command to run.
AGENTPLANE_FETCH_UPSTREAM=0 forbids the download. See tests/support/fetch_upstream.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import fetch_upstream

ROOT = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session: pytest.Session) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def log(message: str) -> None:
        if reporter is not None:
            reporter.write_line(message)

    where, problem = fetch_upstream.ensure(dict(os.environ), ROOT, log=log)
    if where is None:
        import sys

        print(f"\nerror: {problem}\n", file=sys.stderr)
        pytest.exit("stopped before collecting: no upstream schema data (see the message above)", returncode=4)
    os.environ["AGENTPLANE_UPSTREAM"] = str(where)
