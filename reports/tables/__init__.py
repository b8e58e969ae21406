"""The paper's tables from a results folder, our numbers beside the paper's: one module per
family, and here the registry.

Each builder ``(results, plan, n_boot=2000) -> Table``; :data:`TABLES` names them all,
:data:`TABLE_TARGETS` the plan targets each reads, and :func:`build_tables` writes each as
``<name>.csv`` (machine-friendly: one flat column per number, full precision), ``<name>.md`` and
``<name>.tex`` (human-friendly: formatted cells; :mod:`reports.table`).

- :mod:`reports.tables.main`: ``table1``, ours beside the paper (the layout, shared with the
  sweeps, is :mod:`reports.comparison`);
- :mod:`reports.tables.sweeps`: ``table2``, ``table3``, ``table7`` (the grid targets);
- :mod:`reports.tables.significance`: ``significance``, each Durian arm against its base arm, and
  ``learning``, each arm against the base model;
- :mod:`reports.tables.appendix`: ``appendix_a``, ``appendix_b_perceptual``, ``appendix_b_confidence``;
- :mod:`reports.tables.truth`: ``ground_truth``, difficulty against the world's ground truth (smoke and study).

A cell is never silently empty: a missing or malformed result file raises
:class:`~reports.results.ResultError` naming it; NaN is written only for a number that does not
exist (the paper has none, a benchmark the plan does not evaluate) and shows as "—", with a note.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from durian.experiment import Plan
from reports.table import Table
from reports.tables.appendix import appendix_a, appendix_b_confidence, appendix_b_perceptual
from reports.tables.main import table1
from reports.tables.significance import SIGNIFICANCE_TARGETS, durian_pairs, learning, significance
from reports.tables.sweeps import table2, table3, table7
from reports.tables.truth import ground_truth

Builder = Callable[..., Table]
TABLES: dict[str, Builder] = {
    "table1": table1,
    "learning": learning,
    "significance": significance,
    "table2": table2,
    "table3": table3,
    "table7": table7,
    "appendix_a": appendix_a,
    "appendix_b_perceptual": appendix_b_perceptual,
    "appendix_b_confidence": appendix_b_confidence,
    "ground_truth": ground_truth,
}
# the plan targets each table reads runs of
TABLE_TARGETS: dict[str, tuple[str, ...]] = {
    "table1": ("table1",), "learning": ("table1",), "significance": SIGNIFICANCE_TARGETS, "table2": ("table2_groups",),
    "table3": ("table3_weights",), "table7": ("table7_rollout",), "appendix_a": ("table1",),
    "appendix_b_perceptual": ("table1",), "appendix_b_confidence": ("table1",), "ground_truth": ("table1",),
}


def available_tables(plan: Plan) -> list[str]:
    """The tables the plan can build: those whose plan targets it has; significance, when its
    targets hold a Durian arm with its base arm; learning, when the plan has the base model."""
    def buildable(name: str) -> bool:
        if name == "significance":
            return bool(durian_pairs(plan))
        has_targets = all(t in plan.targets for t in TABLE_TARGETS[name])
        return has_targets and (plan.base_run is not None if name == "learning" else True)

    return [name for name in TABLES if buildable(name)]


def build_tables(results: str | Path, plan: Plan, names: Sequence[str] | None, out_dir: str | Path,
                 n_boot: int = 2000) -> list[Table]:
    """Build and write the named tables (None: :func:`available_tables`) into ``out_dir``."""
    names = available_tables(plan) if names is None else list(names)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)} (have {', '.join(TABLES)})")
    tables = []
    for name in names:
        table = TABLES[name](results, plan, n_boot=n_boot)
        table.write(out_dir)
        tables.append(table)
    return tables
