"""Difficulty against ground truth: what only the project's own world can show.

The evaluation fixtures record each question's true perceptual difficulty (its image's clutter
level, ``<results>/fixtures/truth/<benchmark>.jsonl``, written by :mod:`eval.fixtures`). Beside the
evaluation samples that gives, for the base model and each arm of Table 1 (seeds pooled, the six
sets pooled):

- Spearman's rho between the visual entropy the run's own tower measured and the clutter level
  (and, on the counting questions, the number of shapes), with a bootstrap interval over
  questions: is higher visual entropy really harder, and what does it measure?
- the error rate by clutter level, by number of shapes, by perceptual group of the visual entropy (low <= Q25 < medium
  < Q75 <= high, per benchmark as in appendix B), by confidence quartile (reasoning difficulty) and
  by the count the response's thought states (the true one, another, none), each with a bootstrap
  interval: the error rate after a true count is the share of answers that do not follow from a
  right count (reasoning errors); the share of "other count" is how often the model miscounts.

The figure of it is :func:`reports.figures.ground_truth_difficulty`. Real benchmarks have no such
truth: at the paper scale the table and figure raise
:class:`~reports.results.NotApplicable`, which the report records instead of failing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from durian.experiment import BASE_RUN, Plan
from reports.outcomes import checked_samples, protocol
from reports.results import NotApplicable, ResultError, samples_path
from reports.stats import bootstrap_mean_ci
from reports.table import DASH, Table, fmt_pct
from reports.tables.appendix import PERCEPTUAL, confidence_groups, perceptual_groups

GROUPINGS = {  # measure -> (column of the pooled frame, level labels)
    "clutter": ("clutter", None),
    "number of shapes": ("shapes", None),  # the counting questions only
    "entropy group": ("entropy_group", PERCEPTUAL),
    "confidence quartile": ("confidence_quartile", ("Q1", "Q2", "Q3", "Q4")),
    "the thought's count": ("thought", ("true count", "other count", "no count")),
}
# How the world's responses state the count they read off the image (durian.world.task.Example.response)
THOUGHT_COUNT = re.compile(r"<think>(?:(?!</think>).)*?(?:There are|It has) (\d+)", re.DOTALL)


def thought_count(prediction: str | None, value: int) -> str | None:
    """What the response's thought says it counted: "true count", "other count", or "no count" (no
    thought, or none that states a count); None for a sample without its response text."""
    if not isinstance(prediction, str):
        return None
    found = THOUGHT_COUNT.search(prediction)
    return "no count" if not found else "true count" if int(found.group(1)) == value else "other count"


def truth_dir(results: str | Path) -> Path:
    return Path(results) / "fixtures" / "truth"


def read_truth(results: str | Path, benchmark: str) -> pd.DataFrame:
    path = truth_dir(results) / f"{benchmark}.jsonl"
    if not truth_dir(results).is_dir():
        raise NotApplicable(f"no ground truth ({truth_dir(results)}): the runs were evaluated on real benchmarks")
    if not path.is_file():
        raise ResultError(f"missing result file: {path}")
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise ResultError(f"malformed JSON in {path}: {err}") from err
    frame = pd.DataFrame(rows)
    missing = [k for k in ("doc_id", "kind", "clutter", "value") if k not in frame]
    if missing:
        raise ResultError(f"{path}: missing field(s) {', '.join(missing)}")
    return frame.set_index("doc_id")


def truth_frame(results: str | Path, plan: Plan) -> pd.DataFrame:
    """One row per (run, benchmark, question) of the base run and Table 1's runs, with its truth."""
    results = Path(results)
    runs = ([(plan.base_run, BASE_RUN)] if plan.base_run else []) + [
        (run_id, run.arm) for run_id, run in plan.runs("table1").items()]
    frames = []
    for benchmark in plan.benchmarks:
        truth = read_truth(results, benchmark)
        for run_id, arm in runs:
            samples = checked_samples(results, run_id, benchmark)
            unknown = sorted(set(samples["doc_id"]) - set(truth.index))
            if unknown:
                raise ResultError(f"{samples_path(results, run_id, benchmark)}: doc_id {unknown[:5]} not in "
                                  f"{truth_dir(results) / (benchmark + '.jsonl')}: fixtures and evaluation disagree")
            columns = ["doc_id", "correct", "visual_entropy", "confidence", "prediction"]
            frame = samples.reindex(columns=columns).join(truth, on="doc_id")
            frame["thought"] = [thought_count(p, v) for p, v in zip(frame["prediction"], frame["value"])]
            frame["entropy_group"] = np.asarray(PERCEPTUAL)[perceptual_groups(frame["visual_entropy"].to_numpy(float))]
            quartiles = confidence_groups(frame["confidence"].to_numpy(float), num_groups=4)
            frame["confidence_quartile"] = [f"Q{q + 1}" for q in quartiles]
            frame["shapes"] = frame["value"].where(frame["kind"] == "count")
            frames.append(frame.assign(run=run_id, arm=arm, benchmark=benchmark))
    return pd.concat(frames, ignore_index=True)


def spearman_ci(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int = 0) -> tuple[float, float, float]:
    """Spearman's rho (Pearson on average ranks) and a 95% percentile bootstrap interval."""
    def rho(a, b):
        ra, rb = rankdata(a), rankdata(b)
        return float(np.corrcoef(ra, rb)[0, 1]) if ra.std() and rb.std() else float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(x), size=(n_boot, len(x)))
    reps = np.array([rho(x[d], y[d]) for d in draws])
    if np.isnan(reps).all():  # a constant variable: no correlation to speak of
        return rho(x, y), float("nan"), float("nan")
    low, high = np.nanquantile(reps, [0.025, 0.975])
    return rho(x, y), float(low), float(high)


def ground_truth(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Spearman rho (visual entropy, clutter) and error rates by clutter, number of shapes, entropy
    group, confidence and the count the thought states."""
    frame = truth_frame(results, plan)
    records = []
    for arm, rows in frame.groupby("arm", sort=False):
        entropy, clutter = rows["visual_entropy"].to_numpy(float), rows["clutter"].to_numpy(float)
        rho, low, high = spearman_ci(entropy, clutter, n_boot)
        records.append({"arm": arm, "measure": "Spearman rho (visual entropy, clutter)", "level": "",
                        "n": len(rows), "value": rho, "ci_low": low, "ci_high": high})
        counting = rows[rows["kind"] == "count"]
        if len(counting):
            rho, low, high = spearman_ci(counting["visual_entropy"].to_numpy(float), counting["value"].to_numpy(float), n_boot)
            records.append({"arm": arm, "measure": "Spearman rho (visual entropy, number of shapes)", "level": "",
                            "n": len(counting), "value": rho, "ci_low": low, "ci_high": high})
        for measure, (column, labels) in GROUPINGS.items():
            for level in labels or sorted(rows[column].dropna().unique()):
                wrong = ~rows.loc[rows[column] == level, "correct"].to_numpy(bool)
                if not len(wrong):
                    continue
                mean, lo, hi = bootstrap_mean_ci(wrong.astype(float), n_boot=n_boot)
                level = int(level) if isinstance(level, float) else level  # shapes: NaN made the column float
                records.append({"arm": arm, "measure": f"error % by {measure}", "level": str(level), "n": len(wrong),
                                "value": 100 * mean, "ci_low": 100 * lo, "ci_high": 100 * hi})
    table = pd.DataFrame(records)
    display = pd.DataFrame({
        "Run": table["arm"], "Measure": table["measure"], "Level": table["level"], "n": table["n"],
        "Value [95% CI]": [f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]" if m.startswith("Spearman")
                           else f"{fmt_pct(v)} [{fmt_pct(lo)}, {fmt_pct(hi)}]"
                           for m, v, lo, hi in zip(table["measure"], table["value"], table["ci_low"], table["ci_high"])]})
    proto = protocol(results, plan, ([plan.base_run] if plan.base_run else []) + list(plan.runs("table1")))
    caption = ("Difficulty against the world's ground truth: every question of the six fixture sets pooled, seeds "
               "pooled per arm. Clutter 0-3 as in training, 4 heavier (the MathVision set only). Entropy groups per "
               "benchmark at its Q25/Q75 (as appendix B); confidence quartiles per benchmark of the run's mean token log-prob, Q1 "
               "least confident. The thought's count: what each response's thought says it counted, against the true "
               "count (the error rate after a true count is the reasoning error). "
               f"95% percentile bootstrap intervals over questions ({n_boot} resamples). {proto}")
    notes = [f"{DASH}: no question at that level."]
    return Table("ground_truth", "Difficulty against ground truth", caption, table, notes, display)
