"""What the tables read of a results folder: each run's per-question outcomes on a benchmark
(checked against its eval JSON) as ``[runs x questions]`` 0/1 matrices aligned by question id,
the runs of a plan target grouped (by arm or by setting), and the evaluation protocol a table's
caption names (an error when the runs of one table were evaluated differently).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from durian.experiment import Plan, Run
from reports.results import ResultError, eval_path, load_eval, load_samples, samples_path

PROTOCOL_FIELDS = ("scoring", "judge_model", "backend", "lmms_eval_version", "limit", "extraction", "split")
GENERATION_FIELDS = ("temperature", "do_sample", "max_new_tokens", "min_pixels", "max_pixels")


def checked_samples(results: Path, run: str, benchmark: str) -> pd.DataFrame:
    """A run's samples on a benchmark, checked against its eval JSON (count and accuracy); read
    once per build: cached while neither file changes (callers must not modify the frame)."""
    files = (eval_path(results, run, benchmark), samples_path(results, run, benchmark))
    stamp = tuple((s.st_mtime_ns, s.st_size) for s in (f.stat() for f in files if f.exists()))
    return _read_checked_samples(Path(results), run, benchmark, stamp)


@functools.lru_cache(maxsize=1024)
def _read_checked_samples(results: Path, run: str, benchmark: str, stamp: tuple) -> pd.DataFrame:
    result = load_eval(results, run, benchmark)
    samples = load_samples(results, run, benchmark)
    path = samples_path(results, run, benchmark)
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
        correct = checked_samples(results, run, benchmark).set_index("id")["correct"]
        if ids is None:
            ids = list(correct.index)
        elif set(correct.index) != set(ids):
            raise ResultError(
                f"runs {runs[0]!r} and {run!r} answered different questions of {benchmark}: "
                f"{samples_path(results, runs[0], benchmark)} vs {samples_path(results, run, benchmark)}")
        rows.append(correct.loc[ids].to_numpy(dtype=np.float64))
    if ids is None:
        raise ResultError(f"no runs to read for {benchmark}")
    return ids, np.vstack(rows)


def group_runs(runs: Mapping[str, Run], key: Callable[[Run], Any]) -> dict[Any, dict[str, Run]]:
    """``runs`` ({run id: Run}, e.g. ``plan.runs(target)``) grouped by ``key(run)``, plan order kept."""
    groups: dict[Any, dict[str, Run]] = {}
    for run_id, run in runs.items():
        groups.setdefault(key(run), {})[run_id] = run
    return groups


# ------------------------------------------------------------------------------ protocol, captions
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
            result = load_eval(results, runs[0], benchmark)
            skipped = f", {result['skipped']} bad rows left out" if result.get("skipped") else ""
            described.setdefault(next(iter(seen)), []).append(f"{benchmark} (n={result['n']}{skipped})")
    parts = [f"{_describe(key)} on {', '.join(names)}" for key, names in described.items()]
    return "Protocol: " + "; ".join(parts) + "."


def _describe(key: tuple) -> str:
    (scoring, judge, backend, version, limit, extraction, split), (temperature, do_sample, max_new, min_px, max_px) = key
    scored = f"judge scoring ({judge})" if scoring == "judge" else f"{scoring} scoring"
    if scoring != "judge" and extraction:
        scored += f" ({extraction} extraction)"
    decoding = "greedy" if not do_sample and not temperature else f"sampling, T={temperature}"
    limit_text = "all questions" if limit is None else f"limit {limit} questions"
    split = f", split {split}" if split else ""
    return (f"{scored}, lmms-eval {version} {backend} backend, {decoding}, max {max_new} new tokens, "
            f"{min_px}-{max_px} pixels, {limit_text}{split}")


def seeds_phrase(counts: Iterable[int]) -> str:
    """"mean over 2 seeds", "mean over 1-3 seeds": how many seeds a caption's numbers average."""
    counts = sorted(set(counts))
    if not counts:
        return "mean over 0 seeds"
    span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"mean over {span} seed{'s' if counts[-1] > 1 else ''}"
