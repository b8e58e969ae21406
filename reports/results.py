"""Read a results folder (``results/<profile>/``): the run plan, eval results, per-question samples,
training metrics and provenance. Result files only: no torch, verl or lmms-eval here.

Every loader raises :class:`ResultError` naming the file when it is missing or malformed, so a
table never shows a silently empty cell.

The plan (``plan.json``, written by the workflow) says which runs make up which target::

    {"profile": "smoke", "base_run": "base" | null, "benchmarks": [...],
     "defaults": {"num_reasoning_groups": 12, "weights": [...], "rollout_n": 4},
     "grids": {"arm": "dapo-durian", "reasoning_groups": [...], "weights": [[...]], "rollout_n": [...]},
     "targets": {"table1": {"<run id>": {"arm", "seed", "num_reasoning_groups", "weights", "rollout_n"}},
                 "table2_groups": {...}, "table3_weights": {...}, "table7_rollout": {...},
                 "fig3_ablation": {...}}}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

EVAL_KEYS = ("run", "benchmark", "n", "accuracy", "scoring", "backend", "generation", "lmms_eval_version")
SAMPLE_KEYS = ("id", "correct", "visual_entropy", "confidence")
TARGETS = ("table1", "table2_groups", "table3_weights", "table7_rollout", "fig3_ablation")


class ResultError(ValueError):
    """A result file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class RunSpec:
    id: str
    arm: str
    seed: int
    num_reasoning_groups: int
    weights: tuple[float, float, float]
    rollout_n: int


@dataclass(frozen=True)
class Plan:
    profile: str
    base_run: str | None
    benchmarks: tuple[str, ...]
    defaults: dict[str, Any]
    grids: dict[str, Any]
    targets: dict[str, dict[str, RunSpec]]

    def runs(self, target: str) -> list[RunSpec]:
        if target not in self.targets:
            raise ResultError(f"plan has no target {target!r} (has {sorted(self.targets)})")
        return list(self.targets[target].values())


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise ResultError(f"missing result file: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ResultError(f"malformed JSON in {path}: {err}") from err


def _require(obj: Any, keys: tuple[str, ...], path: Path) -> None:
    if not isinstance(obj, dict):
        raise ResultError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ResultError(f"{path}: missing field(s) {', '.join(missing)}")


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    raw = read_json(path)
    _require(raw, ("profile", "base_run", "benchmarks", "defaults", "grids", "targets"), path)
    targets = {}
    for target, runs in raw["targets"].items():
        targets[target] = {}
        for run_id, spec in runs.items():
            _require(spec, ("arm", "seed", "num_reasoning_groups", "weights", "rollout_n"), path)
            targets[target][run_id] = RunSpec(
                id=run_id, arm=spec["arm"], seed=int(spec["seed"]),
                num_reasoning_groups=int(spec["num_reasoning_groups"]),
                weights=tuple(float(w) for w in spec["weights"]), rollout_n=int(spec["rollout_n"]))
    return Plan(profile=raw["profile"], base_run=raw["base_run"], benchmarks=tuple(raw["benchmarks"]),
                defaults=raw["defaults"], grids=raw["grids"], targets=targets)


def eval_path(results: str | Path, run: str, benchmark: str) -> Path:
    return Path(results) / "eval" / run / f"{benchmark}.json"


def load_eval(results: str | Path, run: str, benchmark: str) -> dict[str, Any]:
    """``eval/<run>/<benchmark>.json``, checked for the fields reports use."""
    path = eval_path(results, run, benchmark)
    result = read_json(path)
    _require(result, EVAL_KEYS, path)
    if not isinstance(result["accuracy"], (int, float)) or not 0 <= result["accuracy"] <= 1:
        raise ResultError(f"{path}: accuracy must be a number in [0, 1], got {result['accuracy']!r}")
    if result["run"] != run or result["benchmark"] != benchmark:
        raise ResultError(f"{path}: holds run={result['run']!r} benchmark={result['benchmark']!r}")
    return result


def load_samples(results: str | Path, run: str, benchmark: str) -> pd.DataFrame:
    """``eval/<run>/<benchmark>.samples.jsonl``: one row per question (id, correct, visual_entropy,
    confidence, and whatever else the evaluation wrote)."""
    path = Path(results) / "eval" / run / f"{benchmark}.samples.jsonl"
    if not path.is_file():
        raise ResultError(f"missing result file: {path}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ResultError(f"malformed JSON in {path} line {number}: {err}") from err
        if not isinstance(row, dict) or not all(k in row for k in SAMPLE_KEYS):
            _require(row, SAMPLE_KEYS, Path(f"{path} line {number}"))
        rows.append(row)
    if not rows:
        raise ResultError(f"{path}: no samples")
    frame = pd.DataFrame(rows)
    if frame["id"].duplicated().any():
        raise ResultError(f"{path}: duplicate question ids {sorted(frame['id'][frame['id'].duplicated()])[:5]}")
    frame["correct"] = frame["correct"].astype(bool)
    return frame


def load_metrics(results: str | Path, run: str) -> pd.DataFrame:
    """``train/<run>/metrics.jsonl``: one row per step, indexed by step."""
    path = Path(results) / "train" / run / "metrics.jsonl"
    if not path.is_file():
        raise ResultError(f"missing result file: {path}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ResultError(f"malformed JSON in {path} line {number}: {err}") from err
        _require(row, ("step",), Path(f"{path} line {number}"))
        rows.append(row)
    if not rows:
        raise ResultError(f"{path}: no steps")
    return pd.DataFrame(rows).set_index("step").sort_index()


def load_provenance(results: str | Path, run: str) -> dict[str, Any]:
    """What a training run was: resolved config hash, seed, code and library versions, wall time."""
    folder = Path(results) / "train" / run
    config = folder / "config.yaml"
    if not config.is_file():
        raise ResultError(f"missing result file: {config}")
    launch = read_json(folder / "launch.json")
    _require(launch, ("arm", "seed", "code_version", "verl"), folder / "launch.json")
    timing_path = folder / "timing.json"
    wall = sum(a["seconds"] for a in read_json(timing_path)["attempts"]) if timing_path.is_file() else None
    return {
        "run": run,
        "arm": launch["arm"],
        "seed": launch["seed"],
        "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest()[:12],
        "code_version": launch["code_version"],
        "verl": launch["verl"],
        "train_seconds": wall,
    }
