"""The paper's tables from a results folder, our numbers beside the paper's.

Each builder ``(results, plan, n_boot=2000) -> Table``; :data:`TABLES` names them all and
:func:`build_tables` writes each as ``<name>.csv`` (machine-friendly: one flat column per number,
full precision), ``<name>.md`` and ``<name>.tex`` (human-friendly: formatted cells).

Layouts
- ``table1``, ``table2``, ``table3``, ``table7``: one CSV row per model / setting with, per
  benchmark column C, ``C_ours``, ``C_low``, ``C_high`` (mean over seeds and 95% bootstrap
  interval, %), ``C_paper`` (%) and ``C_diff`` (ours - paper, points); "Average" is the mean of
  the five paper benchmarks; in-domain benchmarks (geometry3k) have no paper column. Rows the
  paper prints but we do not measure are ``source == "quoted"`` with paper numbers only. The
  md/tex show each measured row as three lines: ours [interval], paper, difference.
- ``significance``: one row per (Durian arm, benchmark): paired bootstrap against its base arm
  (see :mod:`reports.stats` for the p-value), with Holm-adjusted p-values over the table.
- ``appendix_a``: training metrics per arm and step (mean over seeds), the paper's table 4 quoted.
- ``appendix_b_perceptual`` / ``appendix_b_confidence``: per run and benchmark, the share of the
  wrong answers in each perceptual group / confidence decile, the paper's tables 5 / 6 quoted.

A cell is never silently empty: a missing or malformed result file raises
:class:`~reports.results.ResultError` naming it; NaN is written only for a number that does not
exist (the paper has none, a benchmark the plan does not evaluate) and shows as "—", with a note.
"""

from __future__ import annotations

import functools
import math
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports.reference import (
    BASE_ARMS,
    IN_DOMAIN,
    PAPER_BENCHMARKS,
    PAPER_COLUMNS,
    TABLE1_PAPER_ROWS,
    paper_table,
    quoted_table1_rows,
    table1_paper_row,
)
from reports.results import Plan, ResultError, RunSpec, eval_path, load_eval, load_metrics, load_samples
from reports.stats import bootstrap_average_ci, bootstrap_mean_ci, holm, paired_bootstrap

DASH = "—"
AVERAGE = "Average"
COLUMN_NAMES = {**PAPER_COLUMNS, "geometry3k": "Geometry3K"}
ARM_LABELS = {
    "grpo": "Vanilla GRPO",
    "grpo-durian": "Durian (based on Vanilla GRPO)",
    "dapo": "Vanilla DAPO",
    "dapo-durian": "Durian (based on Vanilla DAPO)",
    "dapo-durian-perceptual": "Durian, perceptual only (based on Vanilla DAPO)",
    "dapo-durian-reasoning": "Durian, reasoning only (based on Vanilla DAPO)",
    "drgrpo": "Dr. GRPO",
    "grpo-batchstd": "GRPO, batch-level std",
}
PERCEPTUAL = ("low", "medium", "high")
DECILES = tuple(f"g{i}" for i in range(1, 11))
PROTOCOL_FIELDS = ("scoring", "judge_model", "backend", "lmms_eval_version", "limit")
GENERATION_FIELDS = ("temperature", "do_sample", "max_new_tokens", "min_pixels", "max_pixels")


# ---------------------------------------------------------------------------------------------
# Table and its files


@dataclass
class Table:
    """A table: ``frame`` is the machine-friendly data (the CSV); ``display`` (optional) the same
    formatted for people (the Markdown and LaTeX; ``frame`` when None)."""

    name: str
    title: str
    caption: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    display: pd.DataFrame | None = None

    def shown(self) -> pd.DataFrame:
        return self.frame if self.display is None else self.display

    def markdown(self) -> str:
        notes = "".join(f"- {note}\n" for note in self.notes)
        text = f"## {self.title}\n\n{self.caption}\n\n{markdown_table(self.shown())}\n"
        return text + (f"\n{notes}" if notes else "")

    def latex(self) -> str:
        shown = self.shown().map(lambda value: DASH if _missing(value) else str(value))
        body = shown.to_latex(index=False, escape=True, caption=latex_escape(self.caption),
                              label=f"tab:{self.name}", position="htbp")
        notes = "".join(f"% {line}\n" for note in self.notes for line in note.splitlines())
        return f"% {self.title}\n{notes}{body}".replace(DASH, "---")

    def write(self, out_dir: str | Path) -> list[Path]:
        """``<name>.csv``, ``<name>.md``, ``<name>.tex`` in ``out_dir``, each written atomically."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        texts = {"csv": self.frame.to_csv(index=False, float_format="%.6g"), "md": self.markdown(), "tex": self.latex()}
        paths = []
        for suffix, text in texts.items():
            path = out_dir / f"{self.name}.{suffix}"
            write_atomic(path, text)
            paths.append(path)
        return paths


def write_atomic(path: Path, text: str) -> None:
    """Write a temporary file beside ``path`` (default permissions) and rename it over ``path``."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub pipe table (no ``tabulate`` dependency); ``|`` in cells is escaped."""
    def cell(value: Any) -> str:
        text = DASH if _missing(value) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    header = [cell(c) for c in frame.columns]
    rows = [[cell(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


# ---------------------------------------------------------------------------------------------
# Formatting


def _missing(value: Any) -> bool:
    if value is None or isinstance(value, (list, tuple, np.ndarray)):
        return value is None
    return bool(pd.isna(value))


def _pct(value: float) -> str:
    return DASH if _missing(value) else f"{value:.1f}"


def _signed(value: float) -> str:
    return DASH if _missing(value) else f"{value:+.1f}"


def _interval(mean: float, low: float, high: float) -> str:
    return DASH if _missing(mean) else f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def _p(value: float) -> str:
    return DASH if _missing(value) else f"{value:.3g}"


def _seeds_phrase(counts: Iterable[int]) -> str:
    counts = sorted(set(counts))
    if not counts:
        return "mean over 0 seeds"
    span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"mean over {span} seed{'s' if counts[-1] > 1 else ''}"


def _column(benchmark: str) -> str:
    return COLUMN_NAMES.get(benchmark, benchmark)


def _arm_label(arm: str) -> str:
    return TABLE1_PAPER_ROWS.get(arm) or f"+ {ARM_LABELS.get(arm, arm)}"


# ---------------------------------------------------------------------------------------------
# Reading outcomes


def _samples_path(results: Path, run: str, benchmark: str) -> Path:
    return Path(results) / "eval" / run / f"{benchmark}.samples.jsonl"


def _checked_samples(results: Path, run: str, benchmark: str) -> pd.DataFrame:
    """A run's samples on a benchmark, checked against its eval JSON (count and accuracy); read
    once per build: cached while neither file changes (callers must not modify the frame)."""
    files = (eval_path(results, run, benchmark), _samples_path(results, run, benchmark))
    stamp = tuple((s.st_mtime_ns, s.st_size) for s in (f.stat() for f in files if f.exists()))
    return _read_checked_samples(Path(results), run, benchmark, stamp)


@functools.lru_cache(maxsize=1024)
def _read_checked_samples(results: Path, run: str, benchmark: str, stamp: tuple) -> pd.DataFrame:
    result = load_eval(results, run, benchmark)
    samples = load_samples(results, run, benchmark)
    path = _samples_path(results, run, benchmark)
    if len(samples) != result["n"]:
        raise ResultError(
            f"{path}: {len(samples)} samples, but {eval_path(results, run, benchmark)} says n={result['n']}")
    if abs(samples["correct"].mean() - result["accuracy"]) > 1e-9:
        raise ResultError(f"{path}: {samples['correct'].mean():.6f} of the samples are correct, but "
                          f"{eval_path(results, run, benchmark)} says accuracy={result['accuracy']}")
    return samples


def outcomes(results: str | Path, runs: Sequence[str], benchmark: str) -> tuple[list[str], np.ndarray]:
    """(question ids, [runs x questions] 0/1 matrix) of ``runs`` on ``benchmark``, aligned by
    question id; every run must have answered the same questions."""
    results = Path(results)
    ids: list[str] | None = None
    rows = []
    for run in runs:
        correct = _checked_samples(results, run, benchmark).set_index("id")["correct"]
        if ids is None:
            ids = list(correct.index)
        elif set(correct.index) != set(ids):
            raise ResultError(
                f"runs {runs[0]!r} and {run!r} answered different questions of {benchmark}: "
                f"{_samples_path(results, runs[0], benchmark)} vs {_samples_path(results, run, benchmark)}")
        rows.append(correct.loc[ids].to_numpy(dtype=np.float64))
    if ids is None:
        raise ResultError(f"no runs to read for {benchmark}")
    return ids, np.vstack(rows)


def protocol(results: str | Path, plan: Plan, runs: Sequence[str]) -> str:
    """One line naming how ``runs`` were evaluated on the plan's benchmarks (scoring, judge model,
    backend, decoding, question limit and count); raises ResultError when the runs of one table
    were evaluated under different protocols on a benchmark."""
    described: dict[tuple, list[str]] = {}
    for benchmark in plan.benchmarks:
        seen: dict[tuple, str] = {}
        for run in runs:
            result = load_eval(results, run, benchmark)
            generation = result["generation"] if isinstance(result["generation"], dict) else {}
            key = (tuple(result.get(f) for f in PROTOCOL_FIELDS), tuple(generation.get(f) for f in GENERATION_FIELDS))
            seen.setdefault(key, run)
            if len(seen) > 1:
                (first_key, first), (other_key, other) = list(seen.items())[:2]
                raise ResultError(
                    f"runs {first!r} and {other!r} were evaluated under different protocols on {benchmark}: "
                    f"{_describe(first_key)} ({eval_path(results, first, benchmark)}) vs "
                    f"{_describe(other_key)} ({eval_path(results, other, benchmark)})")
        if seen:
            count = load_eval(results, runs[0], benchmark)["n"]
            described.setdefault(next(iter(seen)), []).append(f"{benchmark} (n={count})")
    parts = [f"{_describe(key)} on {', '.join(names)}" for key, names in described.items()]
    return "Protocol: " + "; ".join(parts) + "."


def _describe(key: tuple) -> str:
    (scoring, judge, backend, version, limit), (temperature, do_sample, max_new, min_px, max_px) = key
    scored = f"judge scoring ({judge})" if scoring == "judge" else f"{scoring} scoring"
    decoding = "greedy" if not do_sample and not temperature else f"sampling, T={temperature}"
    limit_text = "all questions" if limit is None else f"limit {limit} questions"
    return (f"{scored}, lmms-eval {version} {backend} backend, {decoding}, max {max_new} new tokens, "
            f"{min_px}-{max_px} pixels, {limit_text}")


# ---------------------------------------------------------------------------------------------
# Ours beside the paper


def _benchmark_columns(plan: Plan) -> list[str]:
    """Paper benchmarks (always, in the paper's order), then the plan's other benchmarks."""
    return list(PAPER_BENCHMARKS) + [b for b in plan.benchmarks if b not in PAPER_BENCHMARKS]


def _value_columns(plan: Plan) -> list[str]:
    columns = [_column(b) for b in PAPER_BENCHMARKS] + [AVERAGE]
    return columns + [_column(b) for b in plan.benchmarks if b not in PAPER_BENCHMARKS]


def _measure(results: Path, plan: Plan, runs: Sequence[str], paper: dict[str, float], n_boot: int) -> dict[str, Any]:
    """Flat cells ``<C>_ours/low/high/paper/diff`` for runs (the seeds of one arm or setting)."""
    cells: dict[str, Any] = {}
    matrices = {}
    for benchmark in _benchmark_columns(plan):
        if benchmark in plan.benchmarks:
            _, matrices[benchmark] = outcomes(results, runs, benchmark)
            stats = bootstrap_mean_ci(matrices[benchmark], n_boot=n_boot)
        else:
            stats = (math.nan,) * 3
        cells.update(_cells(_column(benchmark), stats, paper.get(_column(benchmark), math.nan)))
    if all(b in matrices for b in PAPER_BENCHMARKS):
        stats = bootstrap_average_ci([matrices[b] for b in PAPER_BENCHMARKS], n_boot=n_boot)
    else:
        stats = (math.nan,) * 3
    cells.update(_cells(AVERAGE, stats, paper.get(AVERAGE, math.nan)))
    return cells


def _cells(column: str, stats: tuple[float, float, float], paper: float) -> dict[str, float]:
    mean, low, high = (100.0 * x for x in stats)
    paper = float(paper) if not _missing(paper) else math.nan
    return {f"{column}_ours": mean, f"{column}_low": low, f"{column}_high": high,
            f"{column}_paper": paper, f"{column}_diff": mean - paper}


def _quoted_cells(plan: Plan, paper: dict[str, float]) -> dict[str, float]:
    cells: dict[str, float] = {}
    for column in _value_columns(plan):
        value = paper.get(column, math.nan)
        cells.update({f"{column}_ours": math.nan, f"{column}_low": math.nan, f"{column}_high": math.nan,
                      f"{column}_paper": float(value) if not _missing(value) else math.nan,
                      f"{column}_diff": math.nan})
    return cells


def _comparison_display(frame: pd.DataFrame, labels: Sequence[str], plan: Plan) -> pd.DataFrame:
    """Three lines per measured row (ours [interval], paper, difference), one per quoted row."""
    columns = _value_columns(plan)
    rows = []
    for record in frame.to_dict("records"):
        label = {name: record[name] for name in labels}
        if record["source"] == "quoted":
            rows.append({**label, "": "paper (quoted)", **{c: _pct(record[f"{c}_paper"]) for c in columns}})
            continue
        blank = {name: "" for name in labels}
        seeds = int(record["seeds"])
        ours = "ours (no training)" if record.get("arm") == "base" else f"ours ({seeds} seed{'s' if seeds > 1 else ''})"
        rows.append({**label, "": ours,
                     **{c: _interval(record[f"{c}_ours"], record[f"{c}_low"], record[f"{c}_high"]) for c in columns}})
        rows.append({**blank, "": "paper", **{c: _pct(record[f"{c}_paper"]) for c in columns}})
        rows.append({**blank, "": "ours - paper", **{c: _signed(record[f"{c}_diff"]) for c in columns}})
    return pd.DataFrame(rows, columns=[*labels, "", *columns])


def _comparison_notes(plan: Plan) -> list[str]:
    notes = [(f"{DASH} in a paper or difference cell: the paper has no number there; "
              f"in-domain benchmarks ({', '.join(_column(b) for b in IN_DOMAIN)}) are ours only."),
             (f"{AVERAGE}: unweighted mean of the five paper benchmarks ({', '.join(PAPER_COLUMNS.values())}); "
              "its interval resamples each benchmark's questions.")]
    missing = [b for b in PAPER_BENCHMARKS if b not in plan.benchmarks]
    if missing:
        notes.append(f"Not evaluated in profile {plan.profile!r} ({DASH} in our cells, and in {AVERAGE}): "
                     f"{', '.join(_column(b) for b in missing)}.")
    return notes


def _comparison_caption(title: str, seeds: Iterable[int], proto: str, n_boot: int) -> str:
    return (f"{title}. Accuracy (%): ours as {_seeds_phrase(seeds)}, 95% bootstrap interval over questions "
            f"({n_boot} resamples), beside the paper's numbers; ours - paper in points. {proto}")


def _group(specs: Iterable[RunSpec], key: Callable[[RunSpec], Any]) -> dict[Any, list[RunSpec]]:
    groups: dict[Any, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(key(spec), []).append(spec)
    return groups


def _paper_numbers(row: pd.Series | None) -> dict[str, float]:
    if row is None:
        return {}
    return {k: v for k, v in row.items() if k in (*PAPER_COLUMNS.values(), AVERAGE) and not _missing(v)}


# ---------------------------------------------------------------------------------------------
# Builders


def table1(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Main comparison: the paper's rows we do not measure (quoted), then ours: the base run and
    each arm of target ``table1`` (mean over its seeds)."""
    results = Path(results)
    arms = _group(plan.runs("table1"), lambda s: s.arm)
    measured: list[tuple[str, list[str]]] = ([("base", [plan.base_run])] if plan.base_run else [])
    measured += [(arm, [s.id for s in specs]) for arm, specs in arms.items()]
    proto = protocol(results, plan, [run for _, runs in measured for run in runs])

    records = [{"section": row["section"], "model": row["model"], "data_size": row["data_size"], "source": "quoted",
                "arm": None, "runs": None, "seeds": 0, **_quoted_cells(plan, _paper_numbers(pd.Series(row)))}
               for row in quoted_table1_rows(arm for arm, _ in measured).to_dict("records")]
    notes = _comparison_notes(plan)
    for arm, runs in measured:
        label = TABLE1_PAPER_ROWS["base"] if arm == "base" else _arm_label(arm)
        if arm not in TABLE1_PAPER_ROWS:
            notes.append(f"{label} ({arm}): no paper numbers (not in the paper; added at the reviewers' request).")
        records.append({"section": "ours", "model": label, "data_size": f"profile {plan.profile}", "source": "ours",
                        "arm": arm, "runs": " ".join(runs), "seeds": len(runs),
                        **_measure(results, plan, runs, _paper_numbers(table1_paper_row(arm)), n_boot)})
    frame = pd.DataFrame(records)
    notes.append("Quoted rows (source = quoted) are printed as in the paper; we did not run them.")
    title = "Table 1: main results"
    named = frame.rename(columns={"model": "Model", "data_size": "Data"})
    display = _comparison_display(named, ["Model", "Data"], plan)
    caption = _comparison_caption(title, [len(runs) for arm, runs in measured if arm != "base"], proto, n_boot)
    return Table("table1", title, caption, frame, notes, display)


def _grid_table(results: str | Path, plan: Plan, n_boot: int, *, name: str, title: str, target: str,
                keys: Sequence[str], key: Callable[[RunSpec], tuple], paper: pd.DataFrame) -> Table:
    """Rows per grid setting (``key`` of a run, columns ``keys``) of ``target``, beside the paper
    row with the same setting (matched to 6 decimals)."""
    results = Path(results)
    groups = _group(plan.runs(target), lambda s: (s.arm, *key(s)))
    proto = protocol(results, plan, [s.id for specs in groups.values() for s in specs])
    paper_rows = {tuple(round(float(row[k]), 6) for k in keys): row for _, row in paper.iterrows()}
    records = []
    unmatched = []
    for (arm, *setting), specs in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1:])):
        row = paper_rows.get(tuple(round(float(v), 6) for v in setting))
        numbers = _paper_numbers(row)
        if numbers and AVERAGE not in numbers and all(c in numbers for c in PAPER_COLUMNS.values()):
            numbers[AVERAGE] = float(np.mean([numbers[c] for c in PAPER_COLUMNS.values()]))
        if row is None:
            unmatched.append(", ".join(f"{k}={v}" for k, v in zip(keys, setting)))
        runs = [s.id for s in specs]
        records.append({**dict(zip(keys, setting)), "arm": arm, "source": "ours", "runs": " ".join(runs),
                        "seeds": len(runs), **_measure(results, plan, runs, numbers, n_boot)})
    frame = pd.DataFrame(records)
    notes = _comparison_notes(plan)
    notes.append(f"Paper {AVERAGE}: our mean of the paper's five numbers (the paper prints none here).")
    if unmatched:
        notes.append(f"No paper row for: {'; '.join(unmatched)} ({DASH} in paper and difference cells).")
    if frame["arm"].nunique() > 1:
        notes.append(f"Arms: {', '.join(frame['arm'].unique())}.")
    else:
        notes.append(f"Arm: {frame['arm'].iloc[0]} ({_arm_label(frame['arm'].iloc[0]).lstrip('+ ')}).")
    display = _comparison_display(frame, list(keys), plan)
    return Table(name, title, _comparison_caption(title, frame["seeds"], proto, n_boot), frame, notes, display)


def table2(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Number of reasoning groups K (target ``table2_groups``) vs the paper's table 2."""
    return _grid_table(results, plan, n_boot, name="table2", title="Table 2: number of reasoning groups K",
                       target="table2_groups", keys=("groups",), key=lambda s: (s.num_reasoning_groups,),
                       paper=paper_table("table2"))


def table3(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Weight triples (alpha_ori, alpha_percep, alpha_reason) (target ``table3_weights``) vs table 3."""
    return _grid_table(results, plan, n_boot, name="table3", title="Table 3: advantage weights",
                       target="table3_weights", keys=("alpha_ori", "alpha_percep", "alpha_reason"),
                       key=lambda s: tuple(s.weights), paper=paper_table("table3"))


def table7(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Rollout n (target ``table7_rollout``) vs the paper's table 7 (appendix E)."""
    return _grid_table(results, plan, n_boot, name="table7", title="Table 7: rollout number n",
                       target="table7_rollout", keys=("rollout",), key=lambda s: (s.rollout_n,),
                       paper=paper_table("table7"))


def _arm_runs(plan: Plan, targets: Sequence[str]) -> dict[str, list[str]]:
    """arm -> its run ids over ``targets`` (those the plan has), each run once, plan order."""
    arms: dict[str, list[str]] = {}
    for target in targets:
        for spec in plan.targets.get(target, {}).values():
            if spec.id not in arms.setdefault(spec.arm, []):
                arms[spec.arm].append(spec.id)
    return arms


SIGNIFICANCE_TARGETS = ("table1", "fig3_ablation")


def _durian_pairs(plan: Plan) -> list[tuple[str, str]]:
    """(Durian arm, its base arm) for each Durian arm of the significance targets whose base arm is there too."""
    arms = _arm_runs(plan, SIGNIFICANCE_TARGETS)
    return [(arm, BASE_ARMS[arm]) for arm in arms if arm in BASE_ARMS and BASE_ARMS[arm] in arms]


SIGNIFICANCE_COLUMNS = ("arm", "base_arm", "benchmark", "diff_pts", "low_pts", "high_pts", "p_value", "p_holm",
                        "n_questions", "seeds", "base_seeds", "runs", "base_runs")


def significance(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Each Durian arm of targets table1 / fig3_ablation against its base arm, per benchmark:
    paired bootstrap over questions (seed-averaged correctness per question)."""
    results = Path(results)
    arms = _arm_runs(plan, SIGNIFICANCE_TARGETS)
    pairs = _durian_pairs(plan)
    notes = [f"{arm}: no {BASE_ARMS[arm]} runs in the plan to test against." for arm in arms
             if arm in BASE_ARMS and BASE_ARMS[arm] not in arms]
    title = "Significance: each Durian arm against its base arm"
    if not pairs:  # a plan of baselines only: an explicit empty table, not an error
        note = (f"No Durian arm with its base arm in this plan (arms: {', '.join(arms) or 'none'}): "
                "nothing to test.")
        frame = pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)
        return Table("significance", title, f"{title}. {note}", frame, [*notes, note], frame)
    proto = protocol(results, plan, [run for arm, base in pairs for run in arms[arm] + arms[base]])
    records = []
    for arm, base in pairs:
        for benchmark in plan.benchmarks:
            _, matrix = outcomes(results, arms[arm] + arms[base], benchmark)
            test = paired_bootstrap(matrix[:len(arms[arm])], matrix[len(arms[arm]):], n_boot=n_boot)
            records.append({"arm": arm, "base_arm": base, "benchmark": benchmark,
                            "diff_pts": 100 * test["diff"], "low_pts": 100 * test["low"],
                            "high_pts": 100 * test["high"], "p_value": test["p_value"], "n_questions": test["n"],
                            "seeds": len(arms[arm]), "base_seeds": len(arms[base]),
                            "runs": " ".join(arms[arm]), "base_runs": " ".join(arms[base])})
    frame = pd.DataFrame(records)
    frame.insert(frame.columns.get_loc("p_value") + 1, "p_holm", holm(frame["p_value"]))
    frame = frame[list(SIGNIFICANCE_COLUMNS)]
    display = pd.DataFrame({
        "Arm": frame["arm"], "vs": frame["base_arm"], "Benchmark": frame["benchmark"].map(_column),
        "Difference (points) [95% CI]": [f"{r.diff_pts:+.1f} [{r.low_pts:+.1f}, {r.high_pts:+.1f}]"
                                         for r in frame.itertuples()],
        "p": frame["p_value"].map(_p), "p (Holm)": frame["p_holm"].map(_p), "n": frame["n_questions"],
        "seeds": [f"{a} vs {b}" for a, b in zip(frame["seeds"], frame["base_seeds"])]})
    notes += ["Difference: mean over questions of (arm's correctness averaged over its seeds - base arm's), in points.",
              (f"p: two-sided paired bootstrap over questions, p = min(1, 2 min(#(d* <= 0) + 1, #(d* >= 0) + 1) / "
               f"({n_boot} + 1)); the smallest possible is {2 / (n_boot + 1):.2g}. p (Holm): Holm-adjusted over the "
               "rows of this table.")]
    caption = (f"{title}. Paired bootstrap over benchmark questions ({n_boot} resamples), 95% interval of the "
               f"difference in accuracy, points; {_seeds_phrase([*frame['seeds'], *frame['base_seeds']])}"
               f" per arm. {proto}")
    return Table("significance", title, caption, frame, notes, display)


METRIC_KEYS = ("prompts", "effective", "extreme_success", "extreme_failure")


def appendix_a(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Training metrics of the table-1 runs per step (mean over seeds per arm) and the paper's
    table 4 quoted. ``n_boot`` is unused (no resampling here)."""
    results = Path(results)
    frames = []
    arms = _group(plan.runs("table1"), lambda s: s.arm)
    for arm, specs in arms.items():
        per_run = []
        for spec in specs:
            metrics = load_metrics(results, spec.id)
            columns = [f"durian_stats/{k}" for k in METRIC_KEYS]
            missing = [c for c in columns if c not in metrics.columns or metrics[c].isna().any()]
            if missing:
                raise ResultError(f"{results / 'train' / spec.id / 'metrics.jsonl'}: missing {', '.join(missing)} "
                                  "in some or all steps")
            per_run.append(metrics[columns].set_axis(list(METRIC_KEYS), axis=1).assign(run=spec.id))
        joined = pd.concat(per_run)
        means = joined.groupby(level=0)[list(METRIC_KEYS)].mean()
        means.insert(0, "seeds", joined.groupby(level=0)["run"].nunique())
        means.insert(0, "rollout_n", ",".join(sorted({str(s.rollout_n) for s in specs})))
        means.insert(0, "arm", arm)
        frames.append(means.rename_axis("step").reset_index())
    ours = pd.concat(frames, ignore_index=True)
    effective = ours["effective"].where(ours["effective"] > 0)
    ours["total_extreme_ratio_pct"] = 100 * (ours["extreme_success"] + ours["extreme_failure"]) / effective
    ours.insert(0, "source", "ours")
    ours = ours[["source", "arm", "rollout_n", "step", "seeds", *METRIC_KEYS, "total_extreme_ratio_pct"]]
    paper = paper_table("table4").rename(columns={"effective_samples": "effective",
                                                  "extreme_success_7of8": "extreme_success",
                                                  "extreme_failure_1of8": "extreme_failure"})
    paper = paper.assign(source="quoted", arm="dapo-durian (paper)", rollout_n="8", seeds=np.nan, prompts=np.nan)
    frame = pd.concat([ours, paper[ours.columns]], ignore_index=True)
    shown = frame[(frame["source"] == "quoted") | frame["step"].isin(_shown_steps(ours["step"]))]
    display = pd.DataFrame({
        "": shown["source"].map({"ours": "ours", "quoted": "paper (quoted)"}), "Arm": shown["arm"],
        "n": shown["rollout_n"], "Step": shown["step"].astype(int),
        "Prompts": shown["prompts"].map(_count), "Effective": shown["effective"].map(_count),
        "Extreme success": shown["extreme_success"].map(_count),
        "Extreme failure": shown["extreme_failure"].map(_count),
        "Extreme / effective (%)": shown["total_extreme_ratio_pct"].map(_pct)})
    title = "Appendix A (paper table 4): extreme samples during training"
    caption = (f"{title}. Per training step: prompts in the batch, effective prompts (rewards not all equal), "
               "extreme success (exactly one of n rollouts wrong), extreme failure (exactly one right), and "
               f"(success + failure) / effective in %; ours {_seeds_phrase(ours['seeds'].astype(int))} per arm "
               "(a ratio of the seed means); the paper's DAPO-Durian run quoted below.")
    notes = ["The paper's ratio is over effective prompts: step 1, (41 + 78) / 323 = 36.8%.",
             f"{DASH}: not defined (no effective prompts) or not printed by the paper (its batch size).",
             "seeds (CSV): how many of the arm's runs logged that step; n: rollouts per prompt."]
    if len(shown) < len(frame):
        notes.append(f"Markdown/LaTeX show steps 1, every {SHOWN_EVERY}th and the last ({MAX_SHOWN_STEPS}+ steps); "
                     "the CSV has every step.")
    return Table("appendix_a", title, caption, frame, notes, display)


MAX_SHOWN_STEPS = 30
SHOWN_EVERY = 10


def _shown_steps(steps: pd.Series) -> set[int]:
    """All steps when there are at most MAX_SHOWN_STEPS, else the paper's cadence: 1, 10, 20, ... and the last."""
    unique = sorted({int(s) for s in steps})
    if len(unique) <= MAX_SHOWN_STEPS:
        return set(unique)
    return {s for s in unique if s == 1 or s % SHOWN_EVERY == 0} | {unique[-1]}


def _count(value: float) -> str:
    if _missing(value):
        return DASH
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def perceptual_groups(entropy: np.ndarray, quantiles: tuple[float, float] = (0.25, 0.75)) -> np.ndarray:
    """0 (low) for H <= q_low, 2 (high) for H >= q_high, 1 between; linear-interpolation quantiles
    of ``entropy`` itself; low wins ties (as ``durian.advantage.perceptual_groups``)."""
    h = np.asarray(entropy, dtype=np.float64)
    q_low, q_high = np.quantile(h, quantiles)
    groups = np.ones(h.shape, dtype=np.int64)
    groups[h >= q_high] = 2
    groups[h <= q_low] = 0
    return groups


def confidence_groups(confidence: np.ndarray, num_groups: int = 10) -> np.ndarray:
    """0..num_groups-1: group u holds q(u/b) <= c < q((u+1)/b), the maximum in the last (as
    ``durian.advantage.reasoning_groups``); 0 is the least confident."""
    c = np.asarray(confidence, dtype=np.float64)
    inner = np.quantile(c, np.arange(1, num_groups) / num_groups)
    return np.searchsorted(inner, c, side="right")


def _error_shares(results: Path, plan: Plan, kind: str) -> tuple[pd.DataFrame, list[str]]:
    """Per run of table 1 (base run first) and benchmark: n, wrong, and the % of wrong answers per group."""
    labels = PERCEPTUAL if kind == "perceptual" else DECILES
    column = "visual_entropy" if kind == "perceptual" else "confidence"
    specs = ([RunSpec(plan.base_run, "base", 0, 0, (0.0, 0.0, 0.0), 0)] if plan.base_run else []) + plan.runs("table1")
    records, empty = [], []
    for spec in specs:
        for benchmark in plan.benchmarks:
            samples = _checked_samples(results, spec.id, benchmark)
            values = pd.to_numeric(samples[column], errors="coerce").to_numpy(dtype=np.float64)
            if not np.isfinite(values).all():
                raise ResultError(f"{_samples_path(results, spec.id, benchmark)}: {column} missing or not finite "
                                  f"for {int((~np.isfinite(values)).sum())} question(s)")
            groups = perceptual_groups(values) if kind == "perceptual" else confidence_groups(values)
            wrong = ~samples["correct"].to_numpy()
            counts = np.bincount(groups[wrong], minlength=len(labels))
            shares = 100 * counts / wrong.sum() if wrong.any() else np.full(len(labels), np.nan)
            if not wrong.any():
                empty.append(f"{spec.id} on {benchmark}")
            record = {"source": "ours", "run": spec.id, "arm": spec.arm, "benchmark": benchmark,
                      "n": len(samples), "wrong": int(wrong.sum())}
            if kind == "perceptual":
                record.update(q25=float(np.quantile(values, 0.25)), q75=float(np.quantile(values, 0.75)))
            record.update({f"{label}_pct": share for label, share in zip(labels, shares)})
            records.append(record)
    return pd.DataFrame(records), empty


def _appendix_b(results: str | Path, plan: Plan, kind: str) -> Table:
    results = Path(results)
    ours, empty = _error_shares(results, plan, kind)
    labels = PERCEPTUAL if kind == "perceptual" else DECILES
    paper = paper_table("table5" if kind == "perceptual" else "table6")
    paper.columns = ["benchmark", *(f"{label}_pct" for label in labels)]
    keys = {v: k for k, v in PAPER_COLUMNS.items()}
    paper = paper.assign(source="quoted", run=None, arm="paper", benchmark=paper["benchmark"].map(keys))
    frame = pd.concat([ours, paper], ignore_index=True)[list(ours.columns)]
    runs = [plan.base_run] if plan.base_run else []
    proto = protocol(results, plan, runs + [s.id for s in plan.runs("table1")])
    if kind == "perceptual":
        name, title = "appendix_b_perceptual", "Appendix B (paper table 5): wrong answers by perceptual difficulty"
        grouping = ("perceptual group by the run's visual entropy on the benchmark's own questions: low H <= q25, "
                    "high H >= q75 (low wins a tie), medium between; linear-interpolation quantiles")
        headers = {"low_pct": "Low entropy (%)", "medium_pct": "Medium (%)", "high_pct": "High entropy (%)"}
    else:
        name, title = "appendix_b_confidence", "Appendix B (paper table 6): wrong answers by confidence decile"
        grouping = ("confidence decile by the run's confidence (mean token log-prob) on the benchmark's own questions: "
                    "g1 least confident, group u holds q((u-1)/10) <= c < q(u/10), the maximum in g10")
        headers = {f"{label}_pct": label for label in labels}
    display = pd.DataFrame({
        "": frame["source"].map({"ours": "ours", "quoted": "paper (quoted)"}),
        "Run": frame["run"].fillna(""), "Benchmark": frame["benchmark"].map(_column),
        "Wrong / n": [f"{w:.0f} / {n:.0f}" if not _missing(n) else DASH for w, n in zip(frame["wrong"], frame["n"])],
        **{header: frame[col].map(_pct) for col, header in headers.items()}})
    caption = (f"{title}. Of each run's wrong answers on a benchmark, the share (%) in each {grouping}; one row per "
               f"run (no averaging over seeds, no resampling). {proto}")
    notes = [f"Shares of a row sum to 100; {DASH}: the paper has no row, or the run made no wrong answer."]
    if empty:
        notes.append(f"No wrong answers: {'; '.join(empty)}.")
    return Table(name, title, caption, frame, notes, display)


def appendix_b_perceptual(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Wrong answers per perceptual group (paper table 5). ``n_boot`` is unused."""
    return _appendix_b(results, plan, "perceptual")


def appendix_b_confidence(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Wrong answers per confidence decile (paper table 6). ``n_boot`` is unused."""
    return _appendix_b(results, plan, "confidence")


# ---------------------------------------------------------------------------------------------
# Registry

Builder = Callable[..., Table]
TABLES: dict[str, Builder] = {
    "table1": table1,
    "significance": significance,
    "table2": table2,
    "table3": table3,
    "table7": table7,
    "appendix_a": appendix_a,
    "appendix_b_perceptual": appendix_b_perceptual,
    "appendix_b_confidence": appendix_b_confidence,
}
# the plan targets each table reads (all must be in the plan for the table to be built by default)
TABLE_TARGETS = {
    "table1": ("table1",), "significance": ("table1",), "table2": ("table2_groups",),
    "table3": ("table3_weights",), "table7": ("table7_rollout",), "appendix_a": ("table1",),
    "appendix_b_perceptual": ("table1",), "appendix_b_confidence": ("table1",),
}


def available_tables(plan: Plan) -> list[str]:
    """The tables whose plan targets the plan has (significance: and a Durian arm with its base arm)."""
    return [name for name in TABLES if all(t in plan.targets for t in TABLE_TARGETS[name])
            and (name != "significance" or _durian_pairs(plan))]


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
