"""The appendix tables: training metrics per arm and step (appendix A, the paper's table 4
quoted) and where the wrong answers fall (appendix B: per run and benchmark, the share of the
wrong answers in each perceptual group / confidence decile, the paper's tables 5 / 6 quoted).

The groups are the method's (``docs/method.md §2`` and ``§3``), recomputed here in numpy over a
benchmark's own questions: :func:`perceptual_groups` and :func:`confidence_groups` follow
``durian.advantage.perceptual_groups`` / ``reasoning_groups`` (a test ties them), since reports
import no torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from durian.experiment import BASE_RUN, Plan, benchmark_label
from reports.outcomes import checked_samples, group_runs, protocol, seeds_phrase
from reports.reference import PAPER_COLUMNS, paper_table
from reports.results import ResultError, load_metrics, metrics_path, samples_path
from reports.table import DASH, Table, fmt_count, fmt_pct, is_missing

PERCEPTUAL = ("low", "medium", "high")
DECILES = tuple(f"g{i}" for i in range(1, 11))
METRIC_KEYS = ("prompts", "effective", "extreme_success", "extreme_failure")
MAX_SHOWN_STEPS = 30
SHOWN_EVERY = 10


# ---------------------------------------------------------------------------------- appendix A
def appendix_a(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Training metrics of the table-1 runs per step (mean over seeds per arm) and the paper's
    table 4 quoted. ``n_boot`` is unused (no resampling here)."""
    results = Path(results)
    frames = []
    for arm, runs in group_runs(plan.runs("table1"), lambda run: run.arm).items():
        per_run = []
        for run_id in runs:
            metrics = load_metrics(results, run_id)
            columns = [f"durian_stats/{k}" for k in METRIC_KEYS]
            missing = [c for c in columns if c not in metrics.columns or metrics[c].isna().any()]
            if missing:
                raise ResultError(f"{metrics_path(results, run_id)}: missing {', '.join(missing)} "
                                  "in some or all steps")
            per_run.append(metrics[columns].set_axis(list(METRIC_KEYS), axis=1).assign(run=run_id))
        joined = pd.concat(per_run)
        means = joined.groupby(level=0)[list(METRIC_KEYS)].mean()
        means.insert(0, "seeds", joined.groupby(level=0)["run"].nunique())
        means.insert(0, "rollout_n", ",".join(sorted({str(run.rollout_n) for run in runs.values()})))
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
        "Prompts": shown["prompts"].map(fmt_count), "Effective": shown["effective"].map(fmt_count),
        "Extreme success": shown["extreme_success"].map(fmt_count),
        "Extreme failure": shown["extreme_failure"].map(fmt_count),
        "Extreme / effective (%)": shown["total_extreme_ratio_pct"].map(fmt_pct)})
    title = "Appendix A (paper table 4): extreme samples during training"
    caption = (f"{title}. Per training step: prompts in the batch, effective prompts (rewards not all equal), "
               "extreme success (exactly one of n rollouts wrong), extreme failure (exactly one right), and "
               f"(success + failure) / effective in %; ours {seeds_phrase(ours['seeds'].astype(int))} per arm "
               "(a ratio of the seed means); the paper's DAPO-Durian run quoted below.")
    notes = ["The paper's ratio is over effective prompts: step 1, (41 + 78) / 323 = 36.8%.",
             f"{DASH}: not defined (no effective prompts) or not printed by the paper (its batch size).",
             "seeds (CSV): how many of the arm's runs logged that step; n: rollouts per prompt."]
    if len(shown) < len(frame):
        notes.append(f"Markdown/LaTeX show steps 1, every {SHOWN_EVERY}th and the last ({MAX_SHOWN_STEPS}+ steps); "
                     "the CSV has every step.")
    return Table("appendix_a", title, caption, frame, notes, display)


def _shown_steps(steps: pd.Series) -> set[int]:
    """All steps when there are at most MAX_SHOWN_STEPS, else the paper's cadence: 1, 10, 20, ... and the last."""
    unique = sorted({int(s) for s in steps})
    if len(unique) <= MAX_SHOWN_STEPS:
        return set(unique)
    return {s for s in unique if s == 1 or s % SHOWN_EVERY == 0} | {unique[-1]}


# ---------------------------------------------------------------------------------- appendix B
def perceptual_groups(entropy: np.ndarray, quantiles: tuple[float, float] = (0.25, 0.75)) -> np.ndarray:
    """0 (low) for H <= q_low, 2 (high) for H >= q_high, 1 between; linear-interpolation quantiles
    of ``entropy`` itself; low wins ties (as ``durian.advantage.perceptual_groups``, eq. 10)."""
    h = np.asarray(entropy, dtype=np.float64)
    q_low, q_high = np.quantile(h, quantiles)
    groups = np.ones(h.shape, dtype=np.int64)
    groups[h >= q_high] = 2
    groups[h <= q_low] = 0
    return groups


def confidence_groups(confidence: np.ndarray, num_groups: int = 10) -> np.ndarray:
    """0..num_groups-1: group u holds q(u/b) <= c < q((u+1)/b), the maximum in the last (as
    ``durian.advantage.reasoning_groups``, eq. 16); 0 is the least confident."""
    c = np.asarray(confidence, dtype=np.float64)
    inner = np.quantile(c, np.arange(1, num_groups) / num_groups)
    return np.searchsorted(inner, c, side="right")


def _error_shares(results: Path, plan: Plan, kind: str) -> tuple[pd.DataFrame, list[str]]:
    """Per run of table 1 (base run first) and benchmark: n, wrong, and the % of wrong answers per group."""
    labels = PERCEPTUAL if kind == "perceptual" else DECILES
    column = "visual_entropy" if kind == "perceptual" else "confidence"
    runs = ([(plan.base_run, BASE_RUN)] if plan.base_run else []) + [
        (run_id, run.arm) for run_id, run in plan.runs("table1").items()]
    records, empty = [], []
    for run_id, arm in runs:
        for benchmark in plan.benchmarks:
            samples = checked_samples(results, run_id, benchmark)
            values = pd.to_numeric(samples[column], errors="coerce").to_numpy(dtype=np.float64)
            if not np.isfinite(values).all():
                raise ResultError(f"{samples_path(results, run_id, benchmark)}: {column} missing or not finite "
                                  f"for {int((~np.isfinite(values)).sum())} question(s)")
            groups = perceptual_groups(values) if kind == "perceptual" else confidence_groups(values)
            wrong = ~samples["correct"].to_numpy()
            counts = np.bincount(groups[wrong], minlength=len(labels))
            shares = 100 * counts / wrong.sum() if wrong.any() else np.full(len(labels), np.nan)
            if not wrong.any():
                empty.append(f"{run_id} on {benchmark}")
            record = {"source": "ours", "run": run_id, "arm": arm, "benchmark": benchmark,
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
    proto = protocol(results, plan, runs + list(plan.runs("table1")))
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
        "Run": frame["run"].fillna(""), "Benchmark": frame["benchmark"].map(benchmark_label),
        "Wrong / n": [f"{w:.0f} / {n:.0f}" if not is_missing(n) else DASH for w, n in zip(frame["wrong"], frame["n"])],
        **{header: frame[col].map(fmt_pct) for col, header in headers.items()}})
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
