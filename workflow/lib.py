"""Helpers of the Snakemake workflow: config checks, run ids, the run plan, and the job bodies.

Plain Python (no Snakemake import), so it is unit-testable. torch, verl and lmms-eval are
imported inside the job functions only: planning a DAG (dry-run, lint) stays fast.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reports.scopes import SCOPE_TARGETS as REPORT_SCOPES  # plain data: no pandas at DAG time

BASE_RUN = "base"  # the untrained model's evaluation


class ConfigError(ValueError):
    """A config value the schema cannot express a rule for; the message names the key."""


# ------------------------------------------------------------------------------ config checks
def check_weights(config: dict) -> None:
    """Every weights triple (defaults.weights, grids.weights[i]) sums to 1."""
    triples = [("defaults.weights", config["defaults"]["weights"])]
    triples += [(f"grids.weights[{i}]", w) for i, w in enumerate(config["grids"]["weights"])]
    for key, weights in triples:
        if not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
            raise ConfigError(f"config key {key}: weights {list(weights)} must sum to 1, they sum to {sum(weights):g}")


def check_source(config: dict) -> None:
    """Either the smoke world is built (source.world_seed) or model, train and val are given."""
    source = config["source"]
    if source["world_seed"] is None:
        for key in ("model", "train", "val"):
            if not source[key]:
                raise ConfigError(f"config key source.{key}: required when source.world_seed is null")
        if source["geometry3k"] and Path(source["train"]).parent != Path(source["val"]).parent:
            raise ConfigError("config key source.val: must lie in the folder of source.train when source.geometry3k is set")
    if config["eval"]["fixtures"] is None:
        unknown = sorted(set(config["eval"]["data_files"]) - set(config["eval"]["benchmarks"]))
        if unknown:
            raise ConfigError(f"config key eval.data_files: not in eval.benchmarks: {unknown}")


def check(config: dict) -> None:
    check_weights(config)
    check_source(config)


# ---------------------------------------------------------------------------------- run plan
@dataclass(frozen=True)
class Run:
    arm: str
    seed: int
    num_reasoning_groups: int
    weights: tuple[float, float, float]
    rollout_n: int

    @property
    def durian(self) -> bool:
        return "durian" in self.arm


def _fmt(x: float) -> str:
    return f"{x:g}"


def run_id(run: Run, defaults: dict) -> str:
    """``<arm>[-k<b>][-w<a_b_c>][-n<n>]-s<seed>``: only the settings that differ from ``defaults``."""
    parts = [run.arm]
    if run.durian and run.num_reasoning_groups != defaults["num_reasoning_groups"]:
        parts.append(f"k{run.num_reasoning_groups}")
    if run.durian and not all(math.isclose(a, b) for a, b in zip(run.weights, defaults["weights"])):
        parts.append("w" + "_".join(_fmt(w) for w in run.weights))
    if run.rollout_n != defaults["rollout_n"]:
        parts.append(f"n{run.rollout_n}")
    parts.append(f"s{run.seed}")
    return "-".join(parts)


def make_run(defaults: dict, arm: str, seed: int, **changes: Any) -> Run:
    settings = {
        "num_reasoning_groups": defaults["num_reasoning_groups"],
        "weights": tuple(float(w) for w in defaults["weights"]),
        "rollout_n": defaults["rollout_n"],
    }
    settings.update(changes)
    settings["weights"] = tuple(float(w) for w in settings["weights"])
    return Run(arm=arm, seed=seed, **settings)


def plan(config: dict) -> dict[str, dict[str, Run]]:
    """The training runs of every target: {target: {run id: Run}} (ids shared across targets)."""
    d, seeds, grids = config["defaults"], config["seeds"], config["grids"]
    arm = grids["arm"]
    targets: dict[str, list[Run]] = {
        "table1": [make_run(d, a, s) for a in config["table1"]["arms"] for s in seeds],
        "table2_groups": [make_run(d, arm, s, num_reasoning_groups=k) for k in grids["reasoning_groups"] for s in seeds],
        "table3_weights": [make_run(d, arm, s, weights=w) for w in grids["weights"] for s in seeds],
        "table7_rollout": [make_run(d, arm, s, rollout_n=n) for n in grids["rollout_n"] for s in seeds],
        "fig3_ablation": [make_run(d, a, s) for a in config["fig3"]["arms"] for s in seeds],
    }
    return {name: {run_id(r, d): r for r in runs} for name, runs in targets.items()}


def all_runs(config: dict) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    for target in plan(config).values():
        runs.update(target)
    return runs


def plan_document(config: dict) -> dict[str, Any]:
    """plan.json: which runs make up which target, for reports (reports.results.load_plan)."""
    return {
        "profile": config["profile"],
        "base_run": BASE_RUN if config["table1"]["base_model"] else None,
        "benchmarks": list(config["eval"]["benchmarks"]),
        "defaults": config["defaults"],
        "grids": config["grids"],
        "targets": {name: {rid: asdict(run) for rid, run in runs.items()} for name, runs in plan(config).items()},
    }


def build_report(results: str, plan_json: str, scope: str, out_dir: str, n_boot: int) -> None:
    """One scope's tables, figures and report.html, written into ``out_dir`` (reports.build)."""
    from reports.build import build

    build(results, plan_json, scope=scope, out_dir=out_dir, report_name="report.html", n_boot=n_boot)
    for folder in ("tables", "figures"):  # declared outputs, even for a scope without tables
        Path(out_dir, folder).mkdir(parents=True, exist_ok=True)


def train_extra(run: Run) -> dict[str, Any]:
    """The verl overrides of a run beyond its arm and profile."""
    extra: dict[str, Any] = {"actor_rollout_ref.rollout.n": run.rollout_n}
    if run.durian:
        extra["+algorithm.durian.weights"] = list(run.weights)
        extra["+algorithm.durian.num_reasoning_groups"] = run.num_reasoning_groups
    return extra


# --------------------------------------------------------------------------------- job bodies
def build_world(out: str, seed: int) -> None:
    from durian.toy import WorldConfig, build_world as build

    build(out, WorldConfig(seed=seed))


def precompute(model: str, input_parquet: str, output_parquet: str, summary_json: str, features: str,
               batch_size: int) -> None:
    from durian.precompute import VisionTower, entropy_summary, precompute_entropy

    Path(output_parquet).parent.mkdir(parents=True, exist_ok=True)
    precompute_entropy(input_parquet, output_parquet, VisionTower(model, features=features),
                       batch_size=batch_size, progress=False)
    write_json(summary_json, entropy_summary(output_parquet))


def train_run(*, profile: str, run: Run, model: str, train_files: str, val_files: str, out: str, steps: int,
              save_freq: int, time_limit: float) -> None:
    """Train one run; checkpoints of an attempt with other settings are discarded, not resumed."""
    from durian.train import train

    out_path = Path(out)
    request = {"profile": profile, "run": asdict(run), "model": model, "train_files": train_files,
               "val_files": val_files, "steps": steps, "save_freq": save_freq}
    stamp = out_path / "workflow_request.json"
    if stamp.exists() and json.loads(stamp.read_text()) != json.loads(json.dumps(request)):
        for stale in ("checkpoints", "attempts"):
            shutil.rmtree(out_path / stale, ignore_errors=True)
    out_path.mkdir(parents=True, exist_ok=True)
    write_json(stamp, request)
    train(profile_name=profile, arm=run.arm, model=model, train_files=train_files, val_files=val_files, out=out,
          seed=run.seed, steps=steps, save_freq=save_freq, extra=train_extra(run), time_limit=time_limit)


def train_job(run: Run, input: Any, params: Any) -> None:
    """The body of the workflow's train rule."""
    train_run(profile=params.profile, run=run, model=params.model, train_files=os.path.abspath(input.train),
              val_files=os.path.abspath(input.val), out=params.out, steps=params.steps,
              save_freq=params.save_freq, time_limit=params.time_limit)


def evaluate_run(*, model: str, benchmarks: list[str], out_dir: str, run: str, data_files: dict[str, str | None],
                 settings: dict) -> None:
    """Every benchmark of one run in one process: torch and lmms-eval load once, not per benchmark."""
    from eval.run import evaluate

    for benchmark in benchmarks:
        print(f"evaluating {run} on {benchmark}", flush=True)
        evaluate(model, benchmark, out_dir, run=run, data_files=data_files[benchmark], limit=settings["limit"],
                 max_new_tokens=settings["max_new_tokens"], backend=settings["backend"], device=settings["device"],
                 min_pixels=settings["min_pixels"], max_pixels=settings["max_pixels"])


def prepare_geometry3k(source: str, outputs: list[str]) -> None:
    from durian.data import prepare_geometry3k as prepare

    paths = [Path(p) for p in outputs]
    prepare(source, paths[0].parent, splits=[p.stem for p in paths], overwrite=True)


def write_fixtures(out_dir: str, seed: int, n: int) -> None:
    from eval.fixtures import write_fixtures as write

    write(out_dir, seed=seed, n=n)


def fixture_path(fixtures_dir: str, benchmark: str) -> str:
    from eval.benchmarks import BENCHMARKS

    return os.path.join(fixtures_dir, benchmark, f"{BENCHMARKS[benchmark].split}.parquet")


def write_json(path: str | Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(obj, indent=2))
    os.replace(temp, path)
