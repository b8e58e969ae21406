"""The HTML report: one self-contained file (CSS inline, figures embedded as base64 PNG, no URL
outside the page), rendered with jinja2 from ``reports/templates/report.html``.

Top to bottom: a summary (each Durian arm against its base arm per benchmark: difference in
points, 95% interval, p, coloured win / loss / inconclusive, from the ``significance`` table),
the tables, the figures, then the provenance of every run the report rests on.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from durian.experiment import BASE_RUN, Plan
from reports.figures import FIGURE_DPI, benchmark_label
from reports.results import REPORT_ERRORS, ResultError, load_eval, load_provenance
from reports.table import DASH, Table, write_atomic

# a cell right-aligned as a number: 12, -0.4, 50.0 [25.0, 75.0], 3 / 4, 2 vs 1, 12 s
NUMERIC = re.compile(r"^[+\-−]?\d+(\.\d+)?(e[+-]?\d+)?( \[[^\]]*\])?( (s|min|h|%))?$|^\d+ (/|vs) \d+$")
DISPLAY_DPI = 110  # CSS pixels per figure inch
VERDICTS = {
    "win": "better: the 95% interval of the difference lies above 0",
    "loss": "worse: the 95% interval lies below 0",
    "inconclusive": "inconclusive: the 95% interval contains 0",
}


def verdict(low: float, high: float) -> str:
    if low > 0:
        return "win"
    if high < 0:
        return "loss"
    return "inconclusive"


def summary(significance: Table | None) -> dict[str, Any] | None:
    """The summary grid from the ``significance`` table's frame: one row per (Durian arm, base
    arm), one cell per benchmark; None without the table."""
    if significance is None:
        return None
    frame = significance.frame
    if frame.empty:
        return {"benchmarks": [], "rows": [], "verdicts": VERDICTS, "empty": significance.notes[-1]}
    benchmarks = list(dict.fromkeys(frame["benchmark"]))
    rows = []
    for (arm, base), group in frame.groupby(["arm", "base_arm"], sort=False):
        cells = {}
        for record in group.itertuples():
            cells[record.benchmark] = {
                "diff": f"{record.diff_pts:+.1f}", "interval": f"[{record.low_pts:+.1f}, {record.high_pts:+.1f}]",
                "p": f"{record.p_value:.2g}", "verdict": verdict(record.low_pts, record.high_pts)}
        counts = {v: sum(c["verdict"] == v for c in cells.values()) for v in VERDICTS}
        rows.append({"arm": arm, "base": base, "cells": [cells.get(b) for b in benchmarks], "counts": counts,
                     "seeds": f"{group['seeds'].iloc[0]} vs {group['base_seeds'].iloc[0]}"})
    return {"benchmarks": [benchmark_label(b) for b in benchmarks], "rows": rows, "verdicts": VERDICTS, "empty": None}


def _seconds(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    value = float(value)
    return f"{value:.0f} s" if value < 600 else f"{value / 3600:.2f} h" if value >= 3600 else f"{value / 60:.1f} min"


def _joined(values: Sequence[Any]) -> str:
    unique = [str(v) for v in dict.fromkeys(values) if v is not None]
    return ", ".join(unique) or DASH


def provenance(results: str | Path, plan: Plan, runs: Sequence[str], *, partial: bool = False) -> Table:
    """One row per run: what it was (arm, seed, resolved config hash, code and library versions)
    and how it was scored and timed. The base run has no training, so no training columns.
    ``partial``: a missing or malformed result file leaves its cells out (named in a note) instead
    of failing, as a partial build leaves out the items that need it."""
    untrained = {"arm": BASE_RUN, "seed": DASH, "config_sha256": DASH, "code_version": DASH, "verl": DASH,
                 "train_seconds": None}
    left_out: list[str] = []

    def load(loader, *args):
        try:
            return loader(results, *args)
        except REPORT_ERRORS as err:
            if not partial:
                raise
            left_out.append(str(err))
            return None

    records = []
    for run in runs:
        if run == plan.base_run:
            train = untrained
        else:
            train = load(load_provenance, run) or {**untrained, "arm": DASH}
        loaded = [load(load_eval, run, benchmark) for benchmark in plan.benchmarks]
        evals = [e for e in loaded if e is not None]
        scoring = [f"judge ({e.get('judge_model')})" if e["scoring"] == "judge" else e["scoring"] for e in evals]
        generation = [e["generation"] if isinstance(e["generation"], dict) else {} for e in evals]
        decoding = [f"{e['backend']}, T={g.get('temperature')}, {g.get('max_new_tokens')} tokens"
                    for e, g in zip(evals, generation)]
        eval_seconds = [e.get("seconds") for e in evals]
        records.append({
            "Run": run, "Arm": train["arm"], "Seed": train["seed"], "Config (sha256)": train["config_sha256"],
            "Code version": str(train["code_version"])[:12], "verl": train["verl"],
            "lmms-eval": _joined([e["lmms_eval_version"] for e in evals]), "Scoring": _joined(scoring),
            "Generation": _joined(decoding), "Questions": sum(int(e["n"]) for e in evals),
            "Train wall time": _seconds(train["train_seconds"]),
            "Eval wall time": _seconds(None if None in eval_seconds or None in loaded
                                       else sum(map(float, eval_seconds)))})
    frame = pd.DataFrame(records)
    caption = (f"Every run behind this report: the sha256 (first 12 hex digits) of its resolved config.yaml, the "
               f"code version (git commit) it trained with, library versions, how it was scored on "
               f"{len(plan.benchmarks)} benchmarks ({', '.join(benchmark_label(b) for b in plan.benchmarks)}), "
               "and wall times (training: all attempts; evaluation: summed over benchmarks).")
    notes = [f"{DASH}: not recorded, or no training (base model)."]
    notes += [f"Left out of this row (partial build): {error}" for error in left_out]
    return Table("provenance", "Provenance", caption, frame, notes)


def _cell(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        text = DASH
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return {"text": text, "num": bool(NUMERIC.match(text)) or text == DASH}


def _table_context(table: Table) -> dict[str, Any]:
    shown = table.shown()
    rows = [[_cell(v) for v in row] for row in shown.itertuples(index=False)]
    # a rule above each group of lines (a labelled line, then lines whose label is blank) and above
    # the first single line after one
    blank = [not cells or cells[0]["text"] == "" for cells in rows] + [False]
    rows = [{"cells": cells, "group_start": i > 0 and not blank[i] and (blank[i + 1] or blank[i - 1])}
            for i, cells in enumerate(rows)]
    return {"id": table.name, "anchor": f"table-{table.name}", "title": table.title, "caption": table.caption,
            "notes": table.notes,
            "columns": [str(c) for c in shown.columns], "rows": rows}


def _figure_context(name: str, title: str, caption: str, png: Path) -> dict[str, Any]:
    data = Path(png).read_bytes()
    width, height = struct.unpack(">II", data[16:24])  # the PNG header's IHDR chunk
    # every figure shown at the same scale (so the same text size), drawn finer than shown: sharp on HiDPI
    scale = DISPLAY_DPI / FIGURE_DPI
    return {"id": f"figure-{name}", "anchor": f"section-{name}", "name": name, "title": title, "caption": caption,
            "src": f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}",
            "width": round(width * scale), "height": round(height * scale)}


def _environment() -> jinja2.Environment:
    template = resources.files("reports") / "templates" / "report.html"
    if not template.is_file():
        raise ResultError(f"missing report template: {template}")
    return jinja2.Environment(loader=jinja2.DictLoader({"report.html": template.read_text(encoding="utf-8")}),
                              autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def render(plan: Plan, *, title: str, sections: Sequence[tuple[str, Any]], tables: Sequence[Table] = (),
           provenance_table: Table | None = None, skipped: Mapping[str, str] | None = None) -> str:
    """The report as a string. ``sections``, in order: ``("table", Table)`` or ``("figure", (name,
    title, caption, png path))``; ``tables``: all tables built (the summary comes from
    ``significance``); ``skipped``: item -> why it was left out (a partial build)."""
    significance = next((t for t in tables if t.name == "significance"), None)
    context = {
        "title": title, "plan": plan, "benchmarks": [benchmark_label(b) for b in plan.benchmarks],
        "summary": summary(significance),
        "sections": [{"kind": kind, **(_table_context(item) if kind == "table" else _figure_context(*item))}
                     for kind, item in sections],
        "provenance": _table_context(provenance_table) if provenance_table is not None else None,
        "skipped": dict(skipped or {}),
    }
    return _environment().get_template("report.html").render(context)


def write_report(path: str | Path, html: str) -> Path:
    """Write the report atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, html)
    return path
