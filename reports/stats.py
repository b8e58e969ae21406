"""Bootstrap statistics over benchmark questions (numpy only).

Inputs are 0/1 correctness matrices ``[seeds x questions]``: row s is one training seed's
evaluation, column q one benchmark question, the same question in every row.

- :func:`bootstrap_mean_ci`: an arm's accuracy (mean over seeds of the per-seed accuracy) with a
  percentile interval. Each bootstrap replicate draws the questions with replacement (the same
  draw for every seed, so seeds stay paired on questions) and, with more than one seed, also
  draws the seeds with replacement.
- :func:`bootstrap_average_ci`: the same for an unweighted average over benchmarks (each
  benchmark's questions drawn on their own, one draw of seeds shared by all benchmarks).
- :func:`paired_bootstrap`: arm A against arm B on the same questions. Per question the
  correctness is averaged over each arm's seeds; d_q = mean_A(q) - mean_B(q); the statistic is
  mean_q d_q. Replicates redraw the questions (pairs (A, B) move together).

  Two-sided p-value (percentile-inversion, the test that matches the percentile interval)::

      p = min(1, 2 * min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (B + 1))

  over the B bootstrap replicates d*. It is small when (almost) every replicate falls on one
  side of 0, so p < 1 - level about when the percentile interval at that level excludes 0. The
  +1 keeps p > 0: the smallest reportable value is 2 / (B + 1). Identical arms give every
  d* = 0, hence p = 1; an arm right on every question against one wrong on every question gives p = 2 / (B + 1).

:func:`holm` adjusts a table's p-values for multiple comparisons (Holm-Bonferroni).

Intervals are percentile intervals (numpy's linear-interpolation quantiles of the replicates).
Replicates are multinomial counts of the distinct outcome columns, so a replicate's statistic is
a matrix product: no loop over replicates, and the cost does not grow with the question count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TIE = 1e-12  # |d*| below this counts as d* = 0 in the p-value


def _matrix(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name}: expected a non-empty [seeds x questions] matrix, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: holds NaN or inf")
    return array


def _check(n_boot: int, level: float) -> None:
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _resample_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot x rows]: each row of ``values`` [rows x questions] averaged over a resample of its
    questions, the same resample for every row within a replicate.

    Questions with the same column of outcomes are exchangeable, so drawing q questions with
    replacement is drawing how many of each distinct column: a multinomial over the distinct
    columns (at most 2^rows for 0/1 outcomes), whatever the number of questions."""
    questions = values.shape[1]
    patterns, first, counts = np.unique(values, axis=1, return_index=True, return_counts=True)
    order = np.argsort(first)  # in order of first appearance: the draws do not depend on the values' sign
    patterns, counts = patterns[:, order], counts[order]
    draws = rng.multinomial(questions, counts / questions, size=n_boot).astype(np.float64)
    return draws @ patterns.T / questions


def _interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(correct: np.ndarray, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): mean over seeds of per-seed accuracy, percentile bootstrap interval
    (questions resampled, paired across seeds; seeds resampled too when there are several)."""
    return bootstrap_average_ci([correct], n_boot=n_boot, seed=seed, level=level)


def bootstrap_average_ci(blocks: Sequence[np.ndarray], n_boot: int = 2000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of an average over benchmarks: each block is one benchmark's
    [seeds x questions] matrix (the same seeds, in the same order, in every block); the statistic
    is the mean over seeds of the per-seed unweighted mean of block accuracies. Replicates draw
    each block's questions independently and one draw of seeds shared by all blocks."""
    matrices = [_matrix(f"blocks[{i}]", block) for i, block in enumerate(blocks)]
    if not matrices:
        raise ValueError("blocks: need at least one [seeds x questions] matrix")
    seeds = matrices[0].shape[0]
    if any(m.shape[0] != seeds for m in matrices):
        raise ValueError(f"blocks: every block needs the same seeds, got {[m.shape[0] for m in matrices]} rows")
    _check(n_boot, level)
    n_boot = int(n_boot)
    rng = np.random.default_rng(seed)
    per_seed = sum(_resample_means(m, n_boot, rng) for m in matrices) / len(matrices)  # [n_boot x seeds]
    if seeds > 1:
        weights = rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=n_boot) / seeds
        replicates = (per_seed * weights).sum(axis=1)
    else:
        replicates = per_seed[:, 0]
    low, high = _interval(replicates, level)
    mean = float(np.mean([m.mean(axis=1) for m in matrices], axis=0).mean())
    return mean, low, high


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95) -> dict[str, float]:
    """Arm ``a`` [seeds_a x questions] against arm ``b`` [seeds_b x questions] on the same
    questions: ``diff`` = mean_q(mean_seeds a - mean_seeds b), its percentile interval
    ``low``/``high``, the two-sided ``p_value`` defined in the module docstring, and ``n`` questions."""
    a, b = _matrix("a", a), _matrix("b", b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must cover the same questions: {a.shape[1]} vs {b.shape[1]} columns")
    _check(n_boot, level)
    per_question = (a.mean(axis=0) - b.mean(axis=0))[None, :]
    replicates = _resample_means(per_question, int(n_boot), np.random.default_rng(seed))[:, 0]
    replicates[np.abs(replicates) < TIE] = 0.0  # a tie that rounding moved off 0 (e.g. thirds)
    low, high = _interval(replicates, level)
    below = int(np.sum(replicates <= 0.0)) + 1
    above = int(np.sum(replicates >= 0.0)) + 1
    p_value = min(1.0, 2.0 * min(below, above) / (int(n_boot) + 1))
    return {"diff": float(per_question.mean()), "low": low, "high": high, "p_value": p_value,
            "n": int(a.shape[1])}


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in the input order;
    NaN stays NaN and does not count as a test."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = order.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out
