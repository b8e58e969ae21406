"""Ours beside the paper: the cells, display, notes and caption every comparison table shares
(``table1`` in :mod:`reports.tables.main`, ``table2`` / ``table3`` / ``table7`` in
:mod:`reports.tables.sweeps`).

Layout: one CSV row per model / setting with, per benchmark column C, ``C_ours``, ``C_low``,
``C_high`` (mean over seeds and 95% bootstrap interval, %), ``C_paper`` (%) and ``C_diff`` (ours -
paper, points); "Average" is the mean of the five paper benchmarks; in-domain benchmarks
(geometry3k) have no paper column. Rows the paper prints but we do not measure are
``source == "quoted"`` with paper numbers only. The md/tex show each measured row as three lines:
ours [interval], paper, difference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from durian.experiment import BASE_RUN, IN_DOMAIN_BENCHMARKS, PAPER_BENCHMARKS, Plan, arm_label, benchmark_label
from reports.outcomes import outcomes, seeds_phrase
from reports.reference import PAPER_BASE_MODEL, PAPER_COLUMNS, PAPER_PROTOCOL, TABLE1_PAPER_ROWS
from reports.results import load_eval
from reports.stats import bootstrap_average_ci, bootstrap_mean_ci
from reports.table import DASH, fmt_interval, fmt_pct, fmt_signed, is_missing

AVERAGE = "Average"


def row_label(arm: str, base_model: str | None = None) -> str:
    """The model column of an arm's row (BASE_RUN: the base model): the paper's row name where the
    paper has one, else ``+ <arm label>``; the base row names ``base_model`` (the model actually
    evaluated, :func:`evaluated_model`) when it is not the paper's. The one place a row's model label
    comes from."""
    if arm == BASE_RUN and base_model is not None and base_model != PAPER_BASE_MODEL:
        return base_model
    return TABLE1_PAPER_ROWS.get(arm) or f"+ {arm_label(arm)}"


def evaluated_model(results: Path, run: str, benchmark: str) -> str:
    """The model a run's eval JSON names (``model_name``, else the last part of ``model``)."""
    result = load_eval(results, run, benchmark)
    return str(result.get("model_name") or str(result["model"]).rstrip("/").rsplit("/", 1)[-1])


def training_data(results: Path, runs: Sequence[str], scale: str) -> str:
    """The training data the runs' resolved configs name (``data.train_files``), with the scale;
    ``scale <scale>`` alone when the configs do not say."""
    names = set()
    for run in runs:
        path = Path(results) / "train" / run / "config.yaml"
        try:
            data = (yaml.safe_load(path.read_text()) or {}).get("data") or {}
        except (OSError, yaml.YAMLError):
            data = {}
        files = data.get("train_files")
        files = files if isinstance(files, list) else [files] if files else []
        names.update(_data_name(str(f)) for f in files)
    return f"{' + '.join(sorted(names))} (scale {scale})" if names else f"scale {scale}"


def _data_name(path: str) -> str:
    if "geometry3k" in path.lower():
        return f"{benchmark_label('geometry3k')} train"
    if "/world/" in path or path.startswith("world/"):
        return "tiny world train split"
    return Path(path).name


def benchmark_columns(plan: Plan) -> list[str]:
    """Paper benchmarks (always, in the paper's order), then the plan's other benchmarks."""
    return list(PAPER_BENCHMARKS) + [b for b in plan.benchmarks if b not in PAPER_BENCHMARKS]


def value_columns(plan: Plan) -> list[str]:
    columns = [benchmark_label(b) for b in PAPER_BENCHMARKS] + [AVERAGE]
    return columns + [benchmark_label(b) for b in plan.benchmarks if b not in PAPER_BENCHMARKS]


def measure(results: Path, plan: Plan, runs: Sequence[str], paper: dict[str, float], n_boot: int) -> dict[str, Any]:
    """Flat cells ``<C>_ours/low/high/paper/diff`` for runs (the seeds of one arm or setting)."""
    cells: dict[str, Any] = {}
    matrices = {}
    for benchmark in benchmark_columns(plan):
        if benchmark in plan.benchmarks:
            _, matrices[benchmark] = outcomes(results, runs, benchmark)
            stats = bootstrap_mean_ci(matrices[benchmark], n_boot=n_boot)
        else:
            stats = (math.nan,) * 3
        column = benchmark_label(benchmark)
        cells.update(_cells(column, stats, paper.get(column, math.nan)))
    if all(b in matrices for b in PAPER_BENCHMARKS):
        stats = bootstrap_average_ci([matrices[b] for b in PAPER_BENCHMARKS], n_boot=n_boot)
    else:
        stats = (math.nan,) * 3
    cells.update(_cells(AVERAGE, stats, paper.get(AVERAGE, math.nan)))
    return cells


def _cells(column: str, stats: tuple[float, float, float], paper: float) -> dict[str, float]:
    mean, low, high = (100.0 * x for x in stats)
    paper = float(paper) if not is_missing(paper) else math.nan
    return {f"{column}_ours": mean, f"{column}_low": low, f"{column}_high": high,
            f"{column}_paper": paper, f"{column}_diff": mean - paper}


def quoted_cells(plan: Plan, paper: dict[str, float]) -> dict[str, float]:
    cells: dict[str, float] = {}
    for column in value_columns(plan):
        value = paper.get(column, math.nan)
        cells.update({f"{column}_ours": math.nan, f"{column}_low": math.nan, f"{column}_high": math.nan,
                      f"{column}_paper": float(value) if not is_missing(value) else math.nan,
                      f"{column}_diff": math.nan})
    return cells


def comparison_display(frame: pd.DataFrame, labels: Sequence[str], plan: Plan) -> pd.DataFrame:
    """Three lines per measured row (ours [interval], paper, difference), one per quoted row."""
    columns = value_columns(plan)
    rows = []
    for record in frame.to_dict("records"):
        label = {name: record[name] for name in labels}
        if record["source"] == "quoted":
            rows.append({**label, "": "paper (quoted)", **{c: fmt_pct(record[f"{c}_paper"]) for c in columns}})
            continue
        blank = {name: "" for name in labels}
        seeds = int(record["seeds"])
        ours = ("ours (no training)" if record.get("arm") == BASE_RUN
                else f"ours ({seeds} seed{'s' if seeds > 1 else ''})")
        rows.append({**label, "": ours,
                     **{c: fmt_interval(record[f"{c}_ours"], record[f"{c}_low"], record[f"{c}_high"])
                        for c in columns}})
        rows.append({**blank, "": "paper", **{c: fmt_pct(record[f"{c}_paper"]) for c in columns}})
        rows.append({**blank, "": "ours - paper", **{c: fmt_signed(record[f"{c}_diff"]) for c in columns}})
    return pd.DataFrame(rows, columns=[*labels, "", *columns])


def comparison_notes(plan: Plan) -> list[str]:
    notes = [(f"{DASH} in a paper or difference cell: the paper has no number there; "
              f"in-domain benchmarks ({', '.join(benchmark_label(b) for b in IN_DOMAIN_BENCHMARKS)}) are ours only."),
             (f"{AVERAGE}: unweighted mean of the five paper benchmarks ({', '.join(PAPER_COLUMNS.values())}); "
              "its interval resamples each benchmark's questions.")]
    missing = [b for b in PAPER_BENCHMARKS if b not in plan.benchmarks]
    if missing:
        notes.append(f"Not evaluated in scale {plan.scale!r} ({DASH} in our cells, and in {AVERAGE}): "
                     f"{', '.join(benchmark_label(b) for b in missing)}.")
    return notes


def comparison_caption(title: str, seeds: Iterable[int], proto: str, n_boot: int, ours: str = "") -> str:
    """``ours``: what our rows are (model and training data), named from the run files."""
    ours = f" {ours}" if ours else ""
    return (f"{title}. Accuracy (%): ours as {seeds_phrase(seeds)}, 95% bootstrap interval over questions "
            f"({n_boot} resamples), beside the paper's numbers; ours - paper in points.{ours} {proto} "
            f"{PAPER_PROTOCOL}")


def paper_numbers(row: pd.Series | None) -> dict[str, float]:
    if row is None:
        return {}
    return {k: v for k, v in row.items() if k in (*PAPER_COLUMNS.values(), AVERAGE) and not is_missing(v)}
