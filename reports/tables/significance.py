"""Paired tests over questions (see :mod:`reports.stats` for the p-value):

- ``significance``: one row per (Durian arm, benchmark) against the arm it is built on
  (``durian.experiment.arm(name).baseline``), with Holm-adjusted p-values over the table;
- ``learning``: each Table 1 arm against the base model, per benchmark and over every
  benchmark's questions pooled (the study's learnability rule reads that row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from durian.experiment import Plan, arm, arms, benchmark_label
from reports.outcomes import group_runs, outcomes, protocol, seeds_phrase
from reports.results import NotApplicable
from reports.stats import holm, paired_bootstrap
from reports.table import Table, fmt_p

# the plan targets whose arms the table tests (those of them the plan has)
SIGNIFICANCE_TARGETS = ("table1", "fig3_ablation")
SIGNIFICANCE_COLUMNS = ("arm", "base_arm", "benchmark", "diff_pts", "low_pts", "high_pts", "p_value", "p_holm",
                        "n_questions", "seeds", "base_seeds", "runs", "base_runs")


def arm_runs(plan: Plan) -> dict[str, list[str]]:
    """arm -> its run ids over the significance targets the plan has, each run once, plan order."""
    runs: dict[str, list[str]] = {}
    for target in SIGNIFICANCE_TARGETS:
        for run_id, run in plan.targets.get(target, {}).items():
            if run_id not in runs.setdefault(run.arm, []):
                runs[run.arm].append(run_id)
    return runs


def baseline(name: str) -> str | None:
    """The arm a Durian arm is tested against; None for other arms and names the registry lacks."""
    return arm(name).baseline if name in arms() else None


def durian_pairs(plan: Plan) -> list[tuple[str, str]]:
    """(Durian arm, its base arm) for each Durian arm of the significance targets whose base arm is there too."""
    runs = arm_runs(plan)
    return [(name, baseline(name)) for name in runs if baseline(name) in runs]


def significance(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Each Durian arm of targets table1 / fig3_ablation against its base arm, per benchmark:
    paired bootstrap over questions (seed-averaged correctness per question)."""
    results = Path(results)
    runs = arm_runs(plan)
    pairs = durian_pairs(plan)
    notes = [f"{name}: no {baseline(name)} runs in the plan to test against." for name in runs
             if baseline(name) is not None and baseline(name) not in runs]
    title = "Significance: each Durian arm against its base arm"
    if not pairs:  # a plan of baselines only: an explicit empty table, not an error
        note = (f"No Durian arm with its base arm in this plan (arms: {', '.join(runs) or 'none'}): "
                "nothing to test.")
        frame = pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)
        return Table("significance", title, f"{title}. {note}", frame, [*notes, note], frame)
    proto = protocol(results, plan, [run for name, base in pairs for run in runs[name] + runs[base]])
    records = []
    for name, base in pairs:
        for benchmark in plan.benchmarks:
            _, matrix = outcomes(results, runs[name] + runs[base], benchmark)
            test = paired_bootstrap(matrix[:len(runs[name])], matrix[len(runs[name]):], n_boot=n_boot)
            records.append({"arm": name, "base_arm": base, "benchmark": benchmark,
                            "diff_pts": 100 * test["diff"], "low_pts": 100 * test["low"],
                            "high_pts": 100 * test["high"], "p_value": test["p_value"], "n_questions": test["n"],
                            "seeds": len(runs[name]), "base_seeds": len(runs[base]),
                            "runs": " ".join(runs[name]), "base_runs": " ".join(runs[base])})
    frame = pd.DataFrame(records)
    frame.insert(frame.columns.get_loc("p_value") + 1, "p_holm", holm(frame["p_value"]))
    frame = frame[list(SIGNIFICANCE_COLUMNS)]
    display = pd.DataFrame({
        "Arm": frame["arm"], "vs": frame["base_arm"], "Benchmark": frame["benchmark"].map(benchmark_label),
        "Difference (points) [95% CI]": [f"{r.diff_pts:+.1f} [{r.low_pts:+.1f}, {r.high_pts:+.1f}]"
                                         for r in frame.itertuples()],
        "p": frame["p_value"].map(fmt_p), "p (Holm)": frame["p_holm"].map(fmt_p), "n": frame["n_questions"],
        "seeds": [f"{a} vs {b}" for a, b in zip(frame["seeds"], frame["base_seeds"])]})
    notes += ["Difference: mean over questions of (arm's correctness averaged over its seeds - base arm's), in points.",
              (f"p: two-sided paired bootstrap over questions, p = min(1, 2 min(#(d* <= 0) + 1, #(d* >= 0) + 1) / "
               f"({n_boot} + 1)); the smallest possible is {2 / (n_boot + 1):.2g}. p (Holm): Holm-adjusted over the "
               "rows of this table.")]
    caption = (f"{title}. Paired bootstrap over benchmark questions ({n_boot} resamples), 95% interval of the "
               f"difference in accuracy, points; {seeds_phrase([*frame['seeds'], *frame['base_seeds']])}"
               f" per arm. {proto}")
    return Table("significance", title, caption, frame, notes, display)


LEARNING_COLUMNS = ("arm", "benchmark", "base_pts", "arm_pts", "diff_pts", "low_pts", "high_pts", "p_value",
                    "n_questions", "seeds", "runs")
POOLED = "all"  # the benchmark column of the row that pools every benchmark's questions


def learning(results: str | Path, plan: Plan, n_boot: int = 2000) -> Table:
    """Each arm of target ``table1`` against the base model: paired bootstrap over questions
    (seed-averaged correctness per question), per benchmark and pooled over all of them."""
    results = Path(results)
    if plan.base_run is None:
        raise NotApplicable("no base model in the plan (table1.base_model: false): nothing to learn against")
    by_arm = {name: list(runs) for name, runs in group_runs(plan.runs("table1"), lambda run: run.arm).items()}
    proto = protocol(results, plan, [plan.base_run, *(run for runs in by_arm.values() for run in runs)])
    records = []
    for name, runs in by_arm.items():
        matrices = [outcomes(results, [*runs, plan.base_run], benchmark)[1] for benchmark in plan.benchmarks]
        for benchmark, matrix in [*zip(plan.benchmarks, matrices), (POOLED, np.concatenate(matrices, axis=1))]:
            test = paired_bootstrap(matrix[:-1], matrix[-1:], n_boot=n_boot)
            records.append({"arm": name, "benchmark": benchmark, "base_pts": 100 * matrix[-1].mean(),
                            "arm_pts": 100 * matrix[:-1].mean(), "diff_pts": 100 * test["diff"],
                            "low_pts": 100 * test["low"], "high_pts": 100 * test["high"],
                            "p_value": test["p_value"], "n_questions": test["n"], "seeds": len(runs),
                            "runs": " ".join(runs)})
    frame = pd.DataFrame(records, columns=list(LEARNING_COLUMNS))
    label = lambda b: f"all {len(plan.benchmarks)} pooled" if b == POOLED else benchmark_label(b)
    display = pd.DataFrame({
        "Arm": frame["arm"], "Benchmark": frame["benchmark"].map(label),
        "Base model": frame["base_pts"].map("{:.1f}".format), "Arm (mean over seeds)": frame["arm_pts"].map("{:.1f}".format),
        "Difference (points) [95% CI]": [f"{r.diff_pts:+.1f} [{r.low_pts:+.1f}, {r.high_pts:+.1f}]"
                                         for r in frame.itertuples()],
        "p": frame["p_value"].map(fmt_p), "n": frame["n_questions"], "seeds": frame["seeds"]})
    title = "Learning: each arm against the base model"
    notes = [f"The '{POOLED}' row pools the questions of every benchmark: the mean of the benchmarks when they are "
             "of equal size.", "p: two-sided paired bootstrap over questions, as in the significance table; "
             "no multiplicity adjustment (this table checks that training moved the model, not which arm wins)."]
    caption = (f"{title} ({plan.base_run}). Paired bootstrap over benchmark questions ({n_boot} resamples), 95% "
               f"interval of the difference in accuracy, points; {seeds_phrase(frame['seeds'])} per arm. {proto}")
    return Table("learning", title, caption, frame, notes, display)
