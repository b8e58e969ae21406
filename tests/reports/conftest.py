"""Fixtures of the report tests. ``results_folder`` is a small, fully known results folder; see
``tests/support/reports_fixtures.py`` (``write_results`` builds variants, ``PATTERNS`` says who
answered what)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reports_fixtures import write_standard

from durian.experiment import Plan


@pytest.fixture
def results_folder(tmp_path: Path) -> tuple[Path, Plan]:
    """(results root, its Plan): base run + table1 runs (grpo x2 seeds, grpo-durian x2, dapo,
    dapo-durian), fig3/table2/table3/table7 grid runs, six benchmarks of four questions each."""
    root = tmp_path / "results" / "test"
    return root, write_standard(root)
