"""The mutation gate's list stays in step with the code: every mutant applies to exactly one place."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).parent / "mutation" / "run.py"


def _runner():
    spec = importlib.util.spec_from_file_location("mutation_run", RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_every_mutant_applies_to_exactly_one_place_in_the_code():
    mutants = _runner().load_mutants()
    assert len(mutants) >= 20, "the gate should hold at least the security-relevant mutants listed in the testing docs"
    assert all(m.why.strip() for m in mutants)


def test_a_stale_mutant_is_an_error_not_a_skip(tmp_path):
    runner = _runner()
    (tmp_path / "code.py").write_text("x = 1\nx = 1\n")
    (tmp_path / "list.yaml").write_text("- {id: a, file: code.py, find: 'x = 1', replace: 'x = 2', why: w}\n")
    with pytest.raises(runner.MutantListError, match="occurs 2 times"):
        runner.load_mutants(tmp_path / "list.yaml", root=tmp_path)
    (tmp_path / "list.yaml").write_text("- {id: a, file: code.py, find: 'y = 1', replace: 'x = 2', why: w}\n")
    with pytest.raises(runner.MutantListError, match="occurs 0 times"):
        runner.load_mutants(tmp_path / "list.yaml", root=tmp_path)
    (tmp_path / "list.yaml").write_text("- {id: a, file: code.py, find: 'x', replace: 'y', why: w, extra: 1}\n")
    with pytest.raises(runner.MutantListError, match="unknown field"):
        runner.load_mutants(tmp_path / "list.yaml", root=tmp_path)
