"""Tables 2, 3 and 7: one row per grid setting of the plan's sweep targets (reasoning groups K,
advantage weights, rollout n), ours beside the paper's row with the same setting (layout as in
:mod:`reports.comparison`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from durian.experiment import Plan, Run, arm_label
from reports.comparison import (
    AVERAGE,
    comparison_caption,
    comparison_display,
    comparison_notes,
    measure,
    paper_numbers,
)
from reports.outcomes import group_runs, protocol
from reports.reference import PAPER_COLUMNS, paper_table
from reports.table import DASH, Table


def grid_table(results: str | Path, plan: Plan, n_boot: int, *, name: str, title: str, target: str,
               keys: Sequence[str], key: Callable[[Run], tuple], paper: pd.DataFrame) -> Table:
    """Rows per grid setting (``key`` of a run, columns ``keys``) of ``target``, beside the paper
    row with the same setting (matched to 6 decimals)."""
    results = Path(results)
    groups = group_runs(plan.runs(target), lambda run: (run.arm, *key(run)))
    proto = protocol(results, plan, [run_id for runs in groups.values() for run_id in runs])
    paper_rows = {tuple(round(float(row[k]), 6) for k in keys): row for _, row in paper.iterrows()}
    records = []
    unmatched = []
    for (arm, *setting), runs in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1:])):
        row = paper_rows.get(tuple(round(float(v), 6) for v in setting))
        numbers = paper_numbers(row)
        if numbers and AVERAGE not in numbers and all(c in numbers for c in PAPER_COLUMNS.values()):
            numbers[AVERAGE] = float(np.mean([numbers[c] for c in PAPER_COLUMNS.values()]))
        if row is None:
            unmatched.append(", ".join(f"{k}={v}" for k, v in zip(keys, setting)))
        records.append({**dict(zip(keys, setting)), "arm": arm, "source": "ours", "runs": " ".join(runs),
                        "seeds": len(runs), **measure(results, plan, list(runs), numbers, n_boot)})
    frame = pd.DataFrame(records)
    notes = comparison_notes(plan)
    notes.append(f"Paper {AVERAGE}: our mean of the paper's five numbers (the paper prints none here).")
    if unmatched:
        notes.append(f"No paper row for: {'; '.join(unmatched)} ({DASH} in paper and difference cells).")
    if frame["arm"].nunique() > 1:
        notes.append(f"Arms: {', '.join(frame['arm'].unique())}.")
    else:
        notes.append(f"Arm: {frame['arm'].iloc[0]} ({arm_label(frame['arm'].iloc[0])}).")
    display = comparison_display(frame, list(keys), plan)
    return Table(name, title, comparison_caption(title, frame["seeds"], proto, n_boot), frame, notes, display)


def table2(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Number of reasoning groups K (target ``table2_groups``) vs the paper's table 2."""
    return grid_table(results, plan, n_boot, name="table2", title="Table 2: number of reasoning groups K",
                      target="table2_groups", keys=("groups",), key=lambda run: (run.num_reasoning_groups,),
                      paper=paper_table("table2"))


def table3(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Weight triples (alpha_ori, alpha_percep, alpha_reason) (target ``table3_weights``) vs table 3."""
    return grid_table(results, plan, n_boot, name="table3", title="Table 3: advantage weights",
                      target="table3_weights", keys=("alpha_ori", "alpha_percep", "alpha_reason"),
                      key=lambda run: tuple(run.weights), paper=paper_table("table3"))


def table7(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Rollout n (target ``table7_rollout``) vs the paper's table 7 (appendix E)."""
    return grid_table(results, plan, n_boot, name="table7", title="Table 7: rollout number n",
                      target="table7_rollout", keys=("rollout",), key=lambda run: (run.rollout_n,),
                      paper=paper_table("table7"))
