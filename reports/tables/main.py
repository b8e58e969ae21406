"""Table 1, the main comparison: the paper's rows we do not run (quoted), then ours, each beside
the paper's row for it (layout: :mod:`reports.comparison`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from durian.experiment import BASE_RUN, Plan
from reports.comparison import (
    comparison_caption,
    comparison_display,
    comparison_notes,
    evaluated_model,
    measure,
    paper_numbers,
    quoted_cells,
    row_label,
    training_data,
)
from reports.outcomes import group_runs, protocol
from reports.reference import PAPER_BASE_MODEL, TABLE1_PAPER_ROWS, quoted_table1_rows, table1_paper_row
from reports.table import Table


def table1(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Main comparison: the paper's rows we do not measure (quoted), then ours: the base run and
    each arm of target ``table1`` (mean over its seeds)."""
    results = Path(results)
    arms = group_runs(plan.runs("table1"), lambda run: run.arm)
    measured: list[tuple[str, list[str]]] = ([(BASE_RUN, [plan.base_run])] if plan.base_run else [])
    measured += [(arm, list(runs)) for arm, runs in arms.items()]
    proto = protocol(results, plan, [run for _, runs in measured for run in runs])

    records = [{"section": row["section"], "model": row["model"], "data_size": row["data_size"], "source": "quoted",
                "arm": None, "runs": None, "seeds": 0, **quoted_cells(plan, paper_numbers(pd.Series(row)))}
               for row in quoted_table1_rows(arm for arm, _ in measured).to_dict("records")]
    notes = comparison_notes(plan)
    first = plan.benchmarks[0]
    model = evaluated_model(results, measured[0][1][0], first) if measured else PAPER_BASE_MODEL
    trained = [run for arm, runs in measured if arm != BASE_RUN for run in runs]
    data = training_data(results, trained, plan.scale)
    if model != PAPER_BASE_MODEL:
        notes.append(f"Our rows are {model}, not the paper's {PAPER_BASE_MODEL}: its paper lines compare "
                     "a different model and are no reproduction check.")
    for arm, runs in measured:
        label = row_label(arm, evaluated_model(results, runs[0], first))
        if arm not in TABLE1_PAPER_ROWS:
            notes.append(f"{label} ({arm}): no paper numbers (not in the paper; added at the reviewers' request).")
        records.append({"section": "ours", "model": label,
                        "data_size": "none (untrained)" if arm == BASE_RUN else data, "source": "ours",
                        "arm": arm, "runs": " ".join(runs), "seeds": len(runs),
                        **measure(results, plan, runs, paper_numbers(table1_paper_row(arm)), n_boot)})
    frame = pd.DataFrame(records)
    notes.append("Quoted rows (source = quoted) are printed as in the paper; we did not run them.")
    title = "Table 1: main results"
    named = frame.rename(columns={"model": "Model", "data_size": "Data"})
    display = comparison_display(named, ["Model", "Data"], plan)
    ours = f"Ours: {model}" + (f", trained on {data}." if trained else ", untrained.")
    caption = comparison_caption(title, [len(runs) for arm, runs in measured if arm != BASE_RUN], proto, n_boot,
                                 ours)
    return Table("table1", title, caption, frame, notes, display)
