"""The report's figures (matplotlib, Agg): one function per figure, ``(results, plan) -> Figure``,
and :func:`save`, which writes ``<out_dir>/<name>.png`` and ``.svg`` atomically.

Result files only (through :mod:`reports.results`): no torch, verl or lmms-eval. Each arm keeps
one colour in every figure (:func:`arm_colour`: the arm's ``colour`` in ``arms.yaml``); the
paper's numbers are drawn dashed beside ours.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from durian import experiment  # noqa: E402
from durian.experiment import BASE_COLOUR, BASE_RUN, Plan, Run  # noqa: E402
from reports.reference import paper_column, paper_table  # noqa: E402
from reports.results import ResultError, load_eval, load_metrics, metrics_path, read_json  # noqa: E402
from reports.tables.appendix import DECILES, PERCEPTUAL, appendix_b_confidence, appendix_b_perceptual  # noqa: E402
from reports.tables.truth import GROUPINGS, ground_truth  # noqa: E402

# a plan.json may name an arm the registry lacks (an older plan): it gets one of these, by name
SPARE_COLOURS = ("#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173", "#5254a3")
# no dates or versions in the files: the same results give the same bytes
FIGURE_DPI = 144
SAVE_OPTIONS = {"png": {"dpi": FIGURE_DPI, "metadata": {"Software": None}}, "svg": {"metadata": {"Date": None}}}
PAPER_STYLE = {"linestyle": "--", "marker": "s", "markerfacecolor": "none", "color": "#555555", "linewidth": 1.2}

# What the training curves plot: panel title -> metric columns summed per step (x 100 for a "%" title).
CURVES = {
    "Mean reward": ("critic/score/mean",),
    "Rollout accuracy (%)": ("durian_stats/accuracy",),
    "Extreme-sample share (%)": ("durian_stats/extreme_success_share", "durian_stats/extreme_failure_share"),
    "|Advantage|, extreme prompts' lone rollout": ("durian_stats/lone_advantage",),
    "|Advantage|, other effective rollouts": ("durian_stats/other_advantage",),
}
# logged only on steps that have such rollouts (durian.step_stats.advantage_statistics): a run without
# any, or one trained before they were logged, leaves a gap instead of failing the figure
SOMETIMES_LOGGED = {"durian_stats/lone_advantage", "durian_stats/other_advantage"}


def arm_colour(name: str) -> str:
    """The arm's colour in ``arms.yaml`` (the base run: BASE_COLOUR); a spare one, stable by name,
    for an arm the registry lacks."""
    if name == BASE_RUN:
        return BASE_COLOUR
    if name in experiment.arms():
        return experiment.arm(name).colour
    return SPARE_COLOURS[sum(map(ord, name)) % len(SPARE_COLOURS)]


def _is_durian(name: str) -> bool:
    return name in experiment.arms() and experiment.arm(name).is_durian


def benchmark_label(benchmark: str) -> str:
    """A panel's or a column's benchmark name: the paper's column, else the benchmark key."""
    return paper_column(benchmark) or benchmark


def save(fig: Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``<name>.png`` (144 dpi) and ``<name>.svg`` into ``out_dir``, each through a temporary
    file renamed into place, so a reader never sees half a figure. Closes the figure."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for fmt, options in SAVE_OPTIONS.items():
            path = out_dir / f"{name}.{fmt}"
            temp = out_dir / f".{name}.{fmt}.{os.getpid()}.tmp"
            try:
                with matplotlib.rc_context({"svg.hashsalt": name}):
                    fig.savefig(temp, format=fmt, **options)
                os.replace(temp, path)
            finally:
                temp.unlink(missing_ok=True)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def _new(ncols: int, nrows: int = 1, *, width: float = 4.0, height: float = 3.0) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                             layout="constrained")
    return fig, axes.ravel()


def _legend(fig: Figure) -> None:
    """One legend for the figure, below the panels: every labelled series of any panel, once."""
    entries: dict[str, Any] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    # as many columns as fit the figure's width (an entry: marker and text at 8 pt, about 0.07 in a letter)
    entry_width = 0.6 + 0.07 * max(map(len, entries), default=0)
    ncols = max(1, min(len(entries), 4, int(fig.get_figwidth() // entry_width)))
    fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=ncols, fontsize=8,
               frameon=False)


def accuracy_frame(results: str | Path, runs: dict[str, Run], benchmarks: tuple[str, ...]) -> pd.DataFrame:
    """One row per (run, benchmark): the run's settings and its accuracy in points."""
    rows = [{"run": run_id, "arm": run.arm, "seed": run.seed, "num_reasoning_groups": run.num_reasoning_groups,
             "weights": "/".join(f"{w:g}" for w in run.weights), "rollout_n": run.rollout_n,
             "benchmark": benchmark, "accuracy": 100 * load_eval(results, run_id, benchmark)["accuracy"]}
            for run_id, run in runs.items() for benchmark in benchmarks]
    return pd.DataFrame(rows)


def _arms(runs: dict[str, Run]) -> list[str]:
    return list(dict.fromkeys(run.arm for run in runs.values()))


# --- Figure 3 ---------------------------------------------------------------------------------


def fig3_ablation(results: str | Path, plan: Plan) -> Figure:
    """Accuracy per benchmark of each ablation arm (mean over seeds, min-max over seeds as error
    bars), each bar labelled with its gain over the arm without Durian."""
    runs = plan.runs("fig3_ablation")
    arms = _arms(runs)
    reference = next((name for name in arms if not _is_durian(name)), arms[0])
    frame = accuracy_frame(results, runs, plan.benchmarks)
    stats = frame.groupby(["arm", "benchmark"])["accuracy"].agg(["mean", "min", "max"])
    fig, (ax,) = _new(1, width=max(7.0, 1.5 * len(plan.benchmarks)), height=3.6)
    width = 0.8 / len(arms)
    x = np.arange(len(plan.benchmarks))
    for i, arm in enumerate(arms):
        cell = stats.loc[arm].reindex(list(plan.benchmarks))
        bars = ax.bar(x + (i - (len(arms) - 1) / 2) * width, cell["mean"], width, label=arm,
                      color=arm_colour(arm), yerr=[cell["mean"] - cell["min"], cell["max"] - cell["mean"]],
                      capsize=2, error_kw={"linewidth": 0.8})
        if arm != reference:
            gains = cell["mean"] - stats.loc[reference].reindex(list(plan.benchmarks))["mean"]
            ax.bar_label(bars, labels=[f"{g:+.1f}" for g in gains], fontsize=6, padding=2, rotation=90)
    ax.set_xticks(x, [benchmark_label(b) for b in plan.benchmarks])
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Ablation: gain over {reference} per benchmark")
    _legend(fig)
    ax.margins(y=0.15)
    return fig


# --- Figure 4 ---------------------------------------------------------------------------------


def fig4_entropy(results: str | Path, plan: Plan) -> Figure:
    """Density of the training set's visual entropy with the Q25 / Q75 thresholds that split it
    into the low / medium / high perceptual groups (``data/train.entropy.json``)."""
    path = Path(results) / "data" / "train.entropy.json"
    summary = read_json(path)
    missing = [key for key in ("n", "q25", "q75", "histogram") if key not in summary]
    if missing:
        raise ResultError(f"{path}: missing field(s) {', '.join(missing)}")
    edges = np.asarray(summary["histogram"]["edges"], dtype=float)
    if "counts" in summary["histogram"]:
        counts = np.asarray(summary["histogram"]["counts"], dtype=float)
    elif "values" in summary:
        counts, _ = np.histogram(summary["values"], bins=edges)
    else:
        raise ResultError(f"{path}: histogram has no counts and the file no values")
    if len(counts) != len(edges) - 1 or counts.sum() <= 0:
        raise ResultError(f"{path}: histogram has {len(counts)} counts for {len(edges)} edges")
    density = counts / (counts.sum() * np.diff(edges))
    q25, q75 = float(summary["q25"]), float(summary["q75"])
    fig, (ax,) = _new(1, width=6.5, height=3.4)
    for low, high, label, colour in ((edges[0], q25, "low", "#c6dbef"), (q25, q75, "medium", "#fdd0a2"),
                                     (q75, edges[-1], "high", "#fcbba1")):
        ax.axvspan(low, high, color=colour, alpha=0.5, linewidth=0, label=f"{label} perceptual difficulty")
    ax.stairs(density, edges, fill=True, color="#4c72b0", alpha=0.85, label=f"train set (n={summary['n']})")
    for value, name in ((q25, "Q25"), (q75, "Q75")):
        ax.axvline(value, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"{name} = {value:.3f}", (value, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=8)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, 1.15 * density.max())
    ax.set_xlabel("visual entropy")
    ax.set_ylabel("density")
    ax.set_title("Visual entropy of the training images, split at Q25 / Q75")
    _legend(fig)
    return fig


# --- Training curves --------------------------------------------------------------------------


def _curve(results: str | Path, run_id: str, columns: tuple[str, ...]) -> pd.Series:
    metrics = load_metrics(results, run_id)
    missing = [c for c in columns if c not in metrics]
    if missing and set(missing) <= SOMETIMES_LOGGED:
        return pd.Series(np.nan, index=metrics.index)
    if missing:
        raise ResultError(f"{metrics_path(results, run_id)}: no metric {', '.join(missing)}")
    return metrics[list(columns)].sum(axis=1, min_count=len(columns))


def training_curves(results: str | Path, plan: Plan) -> Figure:
    """Reward, rollout accuracy, extreme-sample share and the advantages extreme prompts' lone rollouts
    get beside the others, per step for each arm of Table 1: mean over seeds, min-max band over seeds."""
    runs = plan.runs("table1")
    fig, axes = _new(len(CURVES), width=4.2, height=3.1)
    per_run = {run_id: {title: _curve(results, run_id, cols) for title, cols in CURVES.items()} for run_id in runs}
    for ax, title in zip(axes, CURVES):
        scale = 100 if "(%)" in title else 1
        for arm in _arms(runs):
            seeds = pd.concat({run.seed: per_run[run_id][title] for run_id, run in runs.items() if run.arm == arm},
                              axis=1) * scale
            colour = arm_colour(arm)
            ax.plot(seeds.index, seeds.mean(axis=1), color=colour, marker="o" if len(seeds) < 20 else None,
                    markersize=3, label=f"{arm} ({seeds.shape[1]} seed{'s' if seeds.shape[1] > 1 else ''})")
            if seeds.shape[1] > 1:
                ax.fill_between(seeds.index, seeds.min(axis=1), seeds.max(axis=1), color=colour, alpha=0.2,
                                linewidth=0)
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(fig)
    return fig


# --- Sweeps (Tables 2, 3, 7) ------------------------------------------------------------------


def _sweep(results: str | Path, plan: Plan, target: str, key: str, paper: pd.DataFrame,
           paper_key: Callable[[pd.DataFrame], pd.Series], xlabel: str, title: str, *,
           categorical: bool = False, log2: bool = False) -> Figure:
    """One panel per benchmark: our accuracy (mean over seeds, min-max bars) along the grid of
    ``key``, and the paper's value at the same grid points, dashed."""
    runs = plan.runs(target)
    frame = accuracy_frame(results, runs, plan.benchmarks)
    paper = paper.assign(_key=paper_key(paper)).set_index("_key")
    grid = list(dict.fromkeys([*frame[key], *paper.index]))  # ours, then the paper's other points
    if not categorical:
        grid = sorted(grid)
    positions = {value: (i if categorical else value) for i, value in enumerate(grid)}
    ncols = min(3, len(plan.benchmarks))
    fig, axes = _new(ncols, -(-len(plan.benchmarks) // ncols), width=4.0, height=2.9)
    arms = _arms(runs)
    for ax, benchmark in zip(axes, plan.benchmarks):
        for arm in arms:
            cell = frame[(frame.benchmark == benchmark) & (frame.arm == arm)].groupby(key)["accuracy"]
            stats = cell.agg(["mean", "min", "max"]).reindex(grid).dropna()
            x = [positions[value] for value in stats.index]
            ax.errorbar(x, stats["mean"], yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
                        color=arm_colour(arm), marker="o", markersize=4, capsize=2, label=f"ours ({arm})")
        column = paper_column(benchmark)
        if column in paper:
            values = paper[column].reindex(grid).dropna()
            ax.plot([positions[value] for value in values.index], values, label="paper", **PAPER_STYLE)
        ax.set_title(benchmark_label(benchmark))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%)")
        if categorical:
            ax.set_xticks(range(len(grid)), grid, rotation=35, ha="right", fontsize=7)
        elif log2:
            ax.set_xscale("log", base=2)
            ax.set_xticks(grid, [str(v) for v in grid])
            ax.minorticks_off()
        else:
            ax.set_xticks(grid, [str(v) for v in grid], fontsize=7)
    for ax in axes[len(plan.benchmarks):]:
        ax.set_visible(False)
    _legend(fig)
    fig.suptitle(title)
    return fig


def table2_sweep(results: str | Path, plan: Plan) -> Figure:
    """Accuracy per benchmark against the number of reasoning groups K (target table2_groups):
    ours as the mean over seeds (bars: min-max over seeds), the paper's table 2 dashed."""
    return _sweep(results, plan, "table2_groups", "num_reasoning_groups", paper_table("table2_reasoning_groups"),
                  lambda p: p["groups"].astype(int), "reasoning groups K", "Table 2: number of reasoning groups")


def table3_sweep(results: str | Path, plan: Plan) -> Figure:
    """Accuracy per benchmark for each weight triple (original / perceptual / reasoning advantage,
    target table3_weights): ours as the mean over seeds (bars: min-max), the paper's table 3 dashed."""
    def triple(p: pd.DataFrame) -> pd.Series:
        columns = ["alpha_ori", "alpha_percep", "alpha_reason"]
        return p[columns].apply(lambda row: "/".join(f"{w:g}" for w in row), axis=1)

    return _sweep(results, plan, "table3_weights", "weights", paper_table("table3_weights"), triple,
                  "weights (orig / percep / reason)", "Table 3: combination weights", categorical=True)


def table7_sweep(results: str | Path, plan: Plan) -> Figure:
    """Accuracy per benchmark against the rollouts per prompt n (target table7_rollout, log scale):
    ours as the mean over seeds (bars: min-max), the paper's table 7 dashed."""
    return _sweep(results, plan, "table7_rollout", "rollout_n", paper_table("table7_rollout"),
                  lambda p: p["rollout"].astype(int), "rollouts per prompt n", "Table 7: rollout size", log2=True)


# --- Appendix B -------------------------------------------------------------------------------

PAPER_MARKERS = ("s", "^", "D", "v")


def appendix_b_errors(results: str | Path, plan: Plan, tables: Mapping[str, Any] | None = None) -> Figure:
    """Where the wrong answers fall: the share (%) of each arm's wrong answers in each perceptual
    group (left) and confidence decile (right), averaged over its runs and the benchmarks where it
    made a wrong answer; the paper's tables 5 and 6 dashed, one line per benchmark.

    ``tables``: already built tables by name; the two appendix-B tables are built when absent."""
    builders = {"appendix_b_perceptual": appendix_b_perceptual, "appendix_b_confidence": appendix_b_confidence}
    fig, axes = _new(2, width=5.2, height=3.3)
    panels = (("appendix_b_perceptual", PERCEPTUAL, "Perceptual group (visual entropy)"),
              ("appendix_b_confidence", DECILES, "Confidence decile (g1 least confident)"))
    for ax, (name, labels, title) in zip(axes, panels):
        table = (tables or {}).get(name) or builders[name](results, plan)
        frame = table.frame
        columns = [f"{label}_pct" for label in labels]
        x = np.arange(len(labels))
        ours = frame[frame["source"] == "ours"]
        for arm, rows in ours.groupby("arm", sort=False):
            ax.plot(x, rows[columns].mean(), color=arm_colour(str(arm)), marker="o", markersize=3.5, label=str(arm))
        paper = frame[frame["source"] == "quoted"].reset_index(drop=True)
        for i, row in paper.iterrows():
            style = {**PAPER_STYLE, "marker": PAPER_MARKERS[i % len(PAPER_MARKERS)]}
            ax.plot(x, row[columns].astype(float), label=f"paper, {benchmark_label(row.benchmark)}", **style)
        ax.set_xticks(x, labels)
        ax.set_title(title)
        ax.set_ylabel("share of wrong answers (%)")
    _legend(fig)
    return fig


# --- Difficulty against ground truth -----------------------------------------------------------


def ground_truth_difficulty(results: str | Path, plan: Plan, tables: dict | None = None) -> Figure:
    """Error rate by the true clutter level, by the true number of shapes (counting questions), by
    visual-entropy group, by confidence quartile and by the count the thought states, base
    model and each arm (seeds and sets pooled, 95% bootstrap bars); the legend gives each run's
    Spearman rho between visual entropy and clutter."""
    table = (tables or {}).get("ground_truth") or ground_truth(results, plan, n_boot=500)
    frame = table.frame
    fig, axes = _new(len(GROUPINGS), width=3.8, height=3.2)
    arms = list(dict.fromkeys(frame["arm"]))
    for ax, measure in zip(axes, GROUPINGS):
        rows = frame[frame["measure"] == f"error % by {measure}"]
        levels = list(dict.fromkeys(rows["level"]))
        x = np.arange(len(levels))
        for k, arm in enumerate(arms):
            mine = rows[rows["arm"] == arm].set_index("level").reindex(levels)
            rho = frame[(frame["arm"] == arm) & frame["measure"].str.startswith("Spearman")]["value"].iloc[0]
            offset = (k - (len(arms) - 1) / 2) * 0.08
            ax.errorbar(x + offset, mine["value"], yerr=[mine["value"] - mine["ci_low"], mine["ci_high"] - mine["value"]],
                        color=arm_colour(arm), marker="o", markersize=3, capsize=2, linewidth=1.2,
                        label=f"{arm} (rho of entropy and clutter {rho:+.2f})" if measure == "clutter" else None)
        ax.set_xticks(x, levels)
        ax.set_xlabel(measure)
        ax.set_ylabel("error rate (%)")
        ax.set_title(f"Error by {measure}")
    _legend(fig)
    return fig


FIGURES: dict[str, Callable[..., Figure]] = {
    "fig3_ablation": fig3_ablation,
    "fig4_entropy": fig4_entropy,
    "training_curves": training_curves,
    "table2_sweep": table2_sweep,
    "table3_sweep": table3_sweep,
    "table7_sweep": table7_sweep,
    "appendix_b_errors": appendix_b_errors,
    "ground_truth_difficulty": ground_truth_difficulty,
}
TITLES = {
    "fig3_ablation": "Figure 3: ablation of the two difficulty groupings",
    "fig4_entropy": "Figure 4: visual entropy and the perceptual thresholds",
    "training_curves": "Training curves per arm",
    "table2_sweep": "Table 2 as a sweep: reasoning groups K",
    "table3_sweep": "Table 3 as a sweep: combination weights",
    "table7_sweep": "Table 7 as a sweep: rollouts per prompt",
    "appendix_b_errors": "Appendix B: where the wrong answers fall",
    "ground_truth_difficulty": "Difficulty against ground truth (the world's clutter levels)",
}
# figures drawn from tables (given the built ones as ``tables=``, so they are not built twice)
FROM_TABLES = ("appendix_b_errors", "ground_truth_difficulty")
# the plan targets whose runs each figure reads
FIGURE_TARGETS = {
    "fig3_ablation": ("fig3_ablation",), "fig4_entropy": (), "training_curves": ("table1",),
    "table2_sweep": ("table2_groups",), "table3_sweep": ("table3_weights",), "table7_sweep": ("table7_rollout",),
    "appendix_b_errors": ("table1",), "ground_truth_difficulty": ("table1",),
}


def caption(name: str) -> str:
    """A figure's caption: the first paragraph of its function's docstring, on one line."""
    doc = inspect.getdoc(FIGURES[name]) or ""
    return " ".join(doc.split("\n\n")[0].replace("``", "").split())
