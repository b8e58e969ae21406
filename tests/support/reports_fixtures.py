"""Write small, fully known results folders (``results/<scale>/``) in the real schema, for the
report tests and ``benchmarks/bench_report.py``. Import it as ``from reports_fixtures import
write_results`` (``tests/support/`` is on the pytest path); ``tests/reports/conftest.py`` builds
the shared ``results_folder`` fixture with it.

Field sets copy a real smoke run's files: ``plan.json``, ``eval/<run>/<benchmark>.json`` and
``.samples.jsonl``, ``train/<run>/{metrics.jsonl,launch.json,config.yaml,timing.json}`` and
``data/train.entropy.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from durian.experiment import BASE_RUN, Plan, Run, load_plan

# the fixture plan's evaluation order (deliberately not the registry's: plan order is what reports follow)
BENCHMARKS = ("mathverse", "mathvista", "mathvision", "wemath", "hallusionbench", "geometry3k")
DEFAULTS = {"num_reasoning_groups": 12, "weights": [0.1, 0.2, 0.7], "rollout_n": 4}
GRIDS = {
    "arm": "dapo-durian",
    "reasoning_groups": [4, 6, 10, 12, 16, 20, 24, 32, 40, 48],
    "weights": [[0.1, 0.2, 0.7], [0.15, 0.25, 0.6], [0.2, 0.1, 0.7], [0.3, 0.1, 0.6],
                [0.4, 0.3, 0.3], [0.6, 0.2, 0.2], [0.7, 0.1, 0.2]],
    "rollout_n": [2, 4, 8, 16, 24, 32],
}
# eval/<run>/<benchmark>.json fields besides run, benchmark, n, limit, accuracy, sub_scores
PROTOCOL = {
    "scoring": "rules",
    "scoring_requested": "rules",
    "judge_model": None,
    "judge_base_url": None,
    "backend": "hf",
    "lmms_eval_model": "qwen2_5_vl",
    "generation": {"temperature": 0.0, "do_sample": False, "max_new_tokens": 48, "min_pixels": 3136,
                   "max_pixels": 12544, "batch_size": 1, "system_prompt": "You are a helpful assistant.",
                   "prompt": "durian.prompt.thinking_prompt (prepend)"},
    "confidence": "mean token log-prob of the response given the prompt (forward pass of the checkpoint)",
    "lmms_eval_version": "0.7.3",
    "device": "cpu",
}
# two steps of durian_stats/*, the same for every training run unless `metrics` says otherwise
METRICS = (
    {"step": 1, "prompts": 8, "effective": 4, "extreme_success": 1, "extreme_failure": 2, "accuracy": 0.25,
     "durian_stats/lone_advantage": 2.0, "durian_stats/other_advantage": 0.5},
    {"step": 2, "prompts": 8, "effective": 5, "extreme_success": 2, "extreme_failure": 2, "accuracy": 0.5,
     "durian_stats/lone_advantage": 1.5, "durian_stats/other_advantage": 0.75},
)
ENTROPY_VALUES = [round(0.05 * i, 4) for i in range(1, 21)]  # data/train.entropy.json: 0.05 .. 1.0


def default_entropy(n: int) -> list[float]:
    """Visual entropy of question i (0-based): 0.1 * (i + 1)."""
    return [round(0.1 * (i + 1), 6) for i in range(n)]


def default_confidence(n: int) -> list[float]:
    """Confidence of question i: -(n - i) / n (question 0 least confident)."""
    return [-(n - i) / n for i in range(n)]


def metrics_row(step: int, prompts: float, effective: float, extreme_success: float, extreme_failure: float,
                accuracy: float, **extra: Any) -> dict[str, Any]:
    """One metrics.jsonl line with the durian_stats/* keys of ``durian.step_stats.reward_statistics``."""
    row: dict[str, Any] = {"step": step, "durian_stats/prompts": float(prompts),
                           "durian_stats/accuracy": float(accuracy)}
    for name, count in (("effective", effective), ("extreme_success", extreme_success),
                        ("extreme_failure", extreme_failure)):
        row[f"durian_stats/{name}"] = float(count)
        row[f"durian_stats/{name}_share"] = count / prompts if prompts else 0.0
    row["critic/score/mean"] = 0.1 + 0.9 * accuracy
    row["training/global_step"] = step
    row.update(extra)
    return row


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))


def _write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def write_eval(root: Path, run: str, benchmark: str, correct: Sequence[bool], *,
               entropy: Sequence[float] | None = None, confidence: Sequence[float] | None = None,
               fields: Mapping[str, Any] | None = None) -> None:
    """``eval/<run>/<benchmark>.json`` and ``.samples.jsonl``: question i has id ``q{i}``."""
    n = len(correct)
    entropy = default_entropy(n) if entropy is None else list(entropy)
    confidence = default_confidence(n) if confidence is None else list(confidence)
    samples = [{"doc_id": i, "id": f"q{i}", "answer": "1", "extracted": "1" if ok else "0", "method": "boxed",
                "correct": bool(ok), "prediction": f"\\boxed{{{'1' if ok else '0'}}}",
                "visual_entropy": entropy[i], "confidence": confidence[i], "response_tokens": 10}
               for i, ok in enumerate(correct)]
    folder = Path(root) / "eval" / run
    _write_jsonl(folder / f"{benchmark}.samples.jsonl", samples)
    result = {"run": run, "benchmark": benchmark, "task": f"durian_{benchmark}", "split": "testmini",
              # the base run is the paper's base model (as at the paper scale); trained runs their folders
              "model": "Qwen/Qwen2.5-VL-7B-Instruct" if run == "base" else f"results/test/train/{run}/model",
              "n": n, "limit": n,
              "accuracy": sum(map(bool, correct)) / n if n else 0.0, "sub_scores": {},
              **json.loads(json.dumps(PROTOCOL)), "entropy_encoder": f"results/test/train/{run}/model:merger",
              "seconds": 1.0, "eval_seconds": 0.9, "samples_per_second": 4.0}
    for key, value in (fields or {}).items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = {**result[key], **value}
        else:
            result[key] = value
    _write_json(folder / f"{benchmark}.json", result)


def write_train(root: Path, run: str, arm: str, seed: int, rows: Iterable[Mapping[str, Any]],
                settings: Mapping[str, Any] | None = None) -> None:
    """``train/<run>/``: metrics.jsonl (rows as given), launch.json, config.yaml, timing.json."""
    folder = Path(root) / "train" / run
    _write_jsonl(folder / "metrics.jsonl", rows)
    settings = {**DEFAULTS, **(settings or {})}
    _write_json(folder / "launch.json", {
        "scale": "test", "arm": arm, "seed": seed, "steps": 2,
        "overrides": [f"data.seed={seed}", f"actor_rollout_ref.rollout.n={settings['rollout_n']}"],
        "env": {"VERL_PLATFORM": "cpu"}, "code_version": "0" * 40, "verl": "0.9.1", "torch": "2.11.0"})
    (folder / "config.yaml").write_text(f"trainer:\n  experiment_name: {run}\ndata:\n  seed: {seed}\n")
    _write_json(folder / "timing.json", {"attempts": [{"attempt": "001", "seconds": 12.5, "exit_code": 0}]})


def write_results(root: str | Path, runs: Mapping[str, Mapping[str, Any]],
                  correct: Mapping[tuple[str, str], Sequence[bool]], *,
                  base_run: str | None = BASE_RUN, benchmarks: Sequence[str] | None = None,
                  entropy: Mapping[tuple[str, str], Sequence[float]] | None = None,
                  confidence: Mapping[tuple[str, str], Sequence[float]] | None = None,
                  eval_fields: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
                  metrics: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                  truth: Mapping[str, Sequence[int]] | None = None, scale: str = "test") -> Plan:
    """Write a results folder and return its loaded :class:`Plan`.

    ``runs``: training run id -> ``{"arm", "seed", "targets": [...] (default ["table1"]),
    "num_reasoning_groups", "weights", "rollout_n" (default: DEFAULTS)}``. The base run (no
    training) is not in ``runs``; it is ``base_run`` and only has eval files.
    ``correct``: (run, benchmark) -> per-question outcomes; an eval JSON and samples file is
    written for each key (a pair left out has no eval files). ``entropy`` / ``confidence``:
    per-question values (default :func:`default_entropy` / :func:`default_confidence`).
    ``eval_fields``: (run, benchmark) -> fields to override in the eval JSON (dicts are merged one
    level deep, e.g. ``{"generation": {"max_new_tokens": 64}}``). ``metrics``: run -> kwargs of
    :func:`metrics_row` per step (default :data:`METRICS`); ``data/train.entropy.json`` holds
    :data:`ENTROPY_VALUES`. ``truth``: benchmark -> each question's clutter level, written as the
    fixtures' ground truth (default: question i has clutter i % 5, for every benchmark evaluated).
    """
    root = Path(root)
    if benchmarks is None:
        benchmarks = list(dict.fromkeys(benchmark for _, benchmark in correct))
    targets: dict[str, dict[str, Any]] = {}
    for run, spec in runs.items():
        settings = {key: spec.get(key, DEFAULTS[key]) for key in DEFAULTS}
        for target in spec.get("targets", ["table1"]):
            targets.setdefault(target, {})[run] = asdict(Run(arm=spec["arm"], seed=spec["seed"], **settings))
        steps = (metrics or {}).get(run, METRICS)
        write_train(root, run, spec["arm"], spec["seed"], [metrics_row(**step) for step in steps], settings)
    _write_json(root / "plan.json", {"scale": scale, "base_run": base_run, "benchmarks": list(benchmarks),
                                     "defaults": DEFAULTS, "grids": GRIDS, "targets": targets})
    for (run, benchmark), outcomes in correct.items():
        write_eval(root, run, benchmark, outcomes, entropy=(entropy or {}).get((run, benchmark)),
                   confidence=(confidence or {}).get((run, benchmark)),
                   fields=(eval_fields or {}).get((run, benchmark)))
    if truth is None:
        sizes = {benchmark: len(outcomes) for (_, benchmark), outcomes in correct.items()}
        truth = {benchmark: [i % 5 for i in range(n)] for benchmark, n in sizes.items()}
    for benchmark, levels in truth.items():
        _write_jsonl(root / "fixtures" / "truth" / f"{benchmark}.jsonl", [
            {"doc_id": i, "kind": "count" if i % 2 else "sides", "clutter": level, "value": 3, "shown": None}
            for i, level in enumerate(levels)])
    values = ENTROPY_VALUES
    _write_json(root / "data" / "train.entropy.json", {
        "dataset": f"results/{scale}/data/train.parquet", "encoder": f"results/{scale}/world/model:merger",
        "n": len(values), "q25": 0.2875, "q75": 0.7625, "mean": sum(values) / len(values),
        "min": min(values), "max": max(values),
        "histogram": {"edges": [0.05, 0.525, 1.0], "counts": [10, 10]}, "values": values})
    return load_plan(root / "plan.json")


def runs_of(targets: Mapping[str, Mapping[str, Run]]) -> dict[str, dict[str, Any]]:
    """``write_results``'s ``runs`` for a plan's targets ({target: {run id: Run}}, as
    ``durian.experiment.plan`` gives them): each run once, with every target it is in."""
    runs: dict[str, dict[str, Any]] = {}
    for target, members in targets.items():
        for run_id, run in members.items():
            runs.setdefault(run_id, {**asdict(run), "targets": []})["targets"].append(target)
    return runs


# The shared `results_folder` fixture: every benchmark has four questions q0..q3 with visual entropy
# 0.1, 0.2, 0.3, 0.4 and confidence -1, -0.75, -0.5, -0.25; each run answers them by its pattern.
PATTERNS = {
    "base": (1, 0, 0, 0),                          # 25%
    "grpo-s1": (1, 1, 0, 0),                       # 50%  } grpo: 62.5%
    "grpo-s2": (1, 1, 1, 0),                       # 75%  }
    "grpo-durian-s1": (1, 1, 1, 0),                # 75%  } grpo-durian: 87.5%
    "grpo-durian-s2": (1, 1, 1, 1),                # 100% }
    "dapo-s1": (1, 1, 0, 0),                       # 50%
    "dapo-durian-s1": (1, 1, 1, 0),                # 75%
    "dapo-durian-perceptual-s1": (1, 0, 1, 0),     # 50%
    "dapo-durian-reasoning-s1": (0, 1, 1, 0),      # 50%
    "dapo-durian-k4-s1": (1, 0, 0, 0),             # 25%
    "dapo-durian-k7-s1": (0, 0, 0, 0),             # 0%   (K=7: no paper row)
    "dapo-durian-w0.4_0.3_0.3-s1": (1, 1, 0, 0),   # 50%
    "dapo-durian-n2-s1": (0, 1, 0, 0),             # 25%
    "dapo-durian-n3-s1": (1, 1, 1, 1),             # 100% (n=3: no paper row)
}
RUNS = {
    "grpo-s1": {"arm": "grpo", "seed": 1},
    "grpo-s2": {"arm": "grpo", "seed": 2},
    "grpo-durian-s1": {"arm": "grpo-durian", "seed": 1},
    "grpo-durian-s2": {"arm": "grpo-durian", "seed": 2},
    "dapo-s1": {"arm": "dapo", "seed": 1, "targets": ["table1", "fig3_ablation"]},
    "dapo-durian-s1": {"arm": "dapo-durian", "seed": 1, "targets": [
        "table1", "table2_groups", "table3_weights", "table7_rollout", "fig3_ablation"]},
    "dapo-durian-perceptual-s1": {"arm": "dapo-durian-perceptual", "seed": 1, "targets": ["fig3_ablation"]},
    "dapo-durian-reasoning-s1": {"arm": "dapo-durian-reasoning", "seed": 1, "targets": ["fig3_ablation"]},
    "dapo-durian-k4-s1": {"arm": "dapo-durian", "seed": 1, "num_reasoning_groups": 4, "targets": ["table2_groups"]},
    "dapo-durian-k7-s1": {"arm": "dapo-durian", "seed": 1, "num_reasoning_groups": 7, "targets": ["table2_groups"]},
    "dapo-durian-w0.4_0.3_0.3-s1": {"arm": "dapo-durian", "seed": 1, "weights": [0.4, 0.3, 0.3],
                                    "targets": ["table3_weights"]},
    "dapo-durian-n2-s1": {"arm": "dapo-durian", "seed": 1, "rollout_n": 2, "targets": ["table7_rollout"]},
    "dapo-durian-n3-s1": {"arm": "dapo-durian", "seed": 1, "rollout_n": 3, "targets": ["table7_rollout"]},
}


def write_standard(root: str | Path) -> Plan:
    """The shared fixture's folder: :data:`RUNS` plus the base run, six benchmarks, :data:`PATTERNS`."""
    correct = {(run, benchmark): [bool(x) for x in pattern]
               for run, pattern in PATTERNS.items() for benchmark in BENCHMARKS}
    return write_results(root, RUNS, correct, base_run=BASE_RUN, benchmarks=BENCHMARKS)
