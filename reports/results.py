"""Read a results folder (``results/<scale>/``): eval results, per-question samples, training
metrics and provenance. Result files only: no torch, verl or lmms-eval here.

Every loader raises :class:`ResultError` naming the file when it is missing or malformed, so a
table never shows a silently empty cell. The plan (``plan.json``: which runs make up which
target) is :class:`durian.experiment.Plan`, read by :func:`durian.experiment.load_plan`, which
raises :class:`durian.experiment.PlanError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from durian.experiment import PlanError

EVAL_KEYS = ("run", "benchmark", "n", "accuracy", "scoring", "backend", "generation", "lmms_eval_version")
SAMPLE_KEYS = ("id", "correct", "visual_entropy", "confidence")


class ResultError(ValueError):
    """A result file is missing or malformed; the message names the file."""


class NotApplicable(ResultError):
    """An item that the results cannot have (ground truth of a real benchmark): the report leaves it
    out with this reason, in every mode."""


# what a build reports as one line naming the file (a result file, or plan.json), never a traceback
REPORT_ERRORS = (ResultError, PlanError)


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


def eval_path(results: str | Path, run: str, benchmark: str) -> Path:
    return Path(results) / "eval" / run / f"{benchmark}.json"


def samples_path(results: str | Path, run: str, benchmark: str) -> Path:
    return Path(results) / "eval" / run / f"{benchmark}.samples.jsonl"


def metrics_path(results: str | Path, run: str) -> Path:
    return Path(results) / "train" / run / "metrics.jsonl"


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
    path = samples_path(results, run, benchmark)
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
    path = metrics_path(results, run)
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
