"""The experiment's vocabulary, defined once: scales, arms, benchmarks, plan targets and report
scopes, weights, runs, run ids and the plan of every target. The workflow, the recipe, evaluation
and reports import it.

Plain Python and YAML (no torch, pandas or verl), so planning a DAG and building a report stay fast.
The arms are read from the recipe's ``arms.yaml``; an arm is a Durian arm because of its estimator,
never because of its name.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONFIGS = Path(__file__).parent / "recipe" / "configs"
ARMS_FILE = CONFIGS / "arms.yaml"
ARM_META_KEYS = ("base", "label", "colour")  # arms.yaml keys that are not verl overrides
ESTIMATOR_KEY = "algorithm.adv_estimator"
DURIAN_ESTIMATORS = ("durian", "durian_perceptual", "durian_reasoning")

BASE_RUN = "base"  # the untrained model's evaluation
BASE_LABEL = "base model"
BASE_COLOUR = "#7f7f7f"


# ---------------------------------------------------------------------------------------- scales
def scales() -> tuple[str, ...]:
    """The recipe's scales (smoke, paper, ...): one verl config each, ``recipe/configs/<scale>.yaml``."""
    return tuple(sorted(p.stem for p in CONFIGS.glob("*.yaml") if p != ARMS_FILE))


# ------------------------------------------------------------------------------------------ arms
@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    colour: str
    base: str | None  # the arm whose overrides come first (and, for a Durian arm, its baseline)
    overrides: dict[str, Any] = field(hash=False, compare=False)  # verl overrides, base chain merged

    @property
    def estimator(self) -> str:
        return str(self.overrides.get(ESTIMATOR_KEY, "grpo"))

    @property
    def is_durian(self) -> bool:
        return self.estimator in DURIAN_ESTIMATORS

    @property
    def baseline(self) -> str | None:
        """The arm a Durian arm is tested against (the one it is built on); None for the others."""
        return self.base if self.is_durian else None


class ArmError(ValueError):
    """An unknown arm, or an arms file that does not parse; the message names the arm or key."""


def load_arms(path: str | Path = ARMS_FILE) -> dict[str, Arm]:
    raw = yaml.safe_load(Path(path).read_text())
    if not isinstance(raw, dict):
        raise ArmError(f"{path}: expected a mapping of arm name -> overrides")

    def merged(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        if name in seen:
            raise ArmError(f"{path}: arm {name!r}: base chain loops ({' -> '.join((*seen, name))})")
        spec = raw[name]
        base = spec.get("base")
        if base is not None and base not in raw:
            raise ArmError(f"{path}: arm {name!r}: unknown base {base!r}")
        own = {k: v for k, v in spec.items() if k not in ARM_META_KEYS}
        return {**(merged(base, (*seen, name)) if base else {}), **own}

    arms = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or "label" not in spec or "colour" not in spec:
            raise ArmError(f"{path}: arm {name!r}: needs 'label' and 'colour'")
        arms[name] = Arm(name, spec["label"], spec["colour"], spec.get("base"), merged(name))
    return arms


@cache
def arms() -> dict[str, Arm]:
    return load_arms()


def arm(name: str) -> Arm:
    table = arms()
    if name not in table:
        raise ArmError(f"arm: unknown arm {name!r}; known: {sorted(table)}")
    return table[name]


def arm_label(name: str) -> str:
    return BASE_LABEL if name == BASE_RUN else arm(name).label if name in arms() else name


# ------------------------------------------------------------------------------------ benchmarks
# key -> display name, in the paper's column order; the paper's "Average" is over PAPER_BENCHMARKS.
BENCHMARKS: dict[str, str] = {
    "mathverse": "MathVerse",
    "mathvision": "MathVision",
    "mathvista": "MathVista",
    "wemath": "WeMath",
    "hallusionbench": "HallusionBench",
    "geometry3k": "Geometry3K",
}
PAPER_BENCHMARKS = ("mathverse", "mathvision", "mathvista", "wemath", "hallusionbench")
IN_DOMAIN_BENCHMARKS = ("geometry3k",)


def benchmark_label(name: str) -> str:
    return BENCHMARKS.get(name, name)


# ------------------------------------------------------------------------ targets and report scopes
# Plan targets: groups of training runs. Each varies one thing (arms, or one setting of grids.arm).
TARGETS = ("table1", "table2_groups", "table3_weights", "table7_rollout", "fig3_ablation")

# Report scope -> the tables and figures it builds, in report order.
SCOPES: dict[str, tuple[str, ...]] = {
    "table1": ("table1", "learning", "significance", "training_curves", "fig4_entropy", "appendix_a",
               "appendix_b_perceptual", "appendix_b_confidence", "appendix_b_errors", "ground_truth",
               "ground_truth_difficulty"),
    "table2_groups": ("table2", "table2_sweep"),
    "table3_weights": ("table3", "table3_sweep"),
    "table7_rollout": ("table7", "table7_sweep"),
    "fig3_ablation": ("fig3_ablation",),
    "fig4_entropy": ("fig4_entropy",),
    "appendix_a": ("appendix_a", "training_curves"),
    "appendix_b": ("appendix_b_perceptual", "appendix_b_confidence", "appendix_b_errors"),
    "all": ("table1", "learning", "significance", "fig3_ablation", "table2", "table2_sweep", "table3", "table3_sweep",
            "table7", "table7_sweep", "fig4_entropy", "appendix_a", "training_curves",
            "appendix_b_perceptual", "appendix_b_confidence", "appendix_b_errors", "ground_truth",
            "ground_truth_difficulty"),
}
# Report scope -> the plan targets whose runs it reads.
SCOPE_TARGETS: dict[str, tuple[str, ...]] = {
    "table1": ("table1",), "table2_groups": ("table2_groups",), "table3_weights": ("table3_weights",),
    "table7_rollout": ("table7_rollout",), "fig3_ablation": ("fig3_ablation",), "fig4_entropy": (),
    "appendix_a": ("table1",), "appendix_b": ("table1",), "all": TARGETS,
}
# Snakemake target -> the report scope it ends in.
WORKFLOW_TARGETS: dict[str, str] = {
    "reproduce_table1": "table1", "table2_groups": "table2_groups", "table3_weights": "table3_weights",
    "table7_rollout": "table7_rollout", "fig3_ablation": "fig3_ablation", "fig4_entropy": "fig4_entropy",
    "appendix_a": "appendix_a", "appendix_b": "appendix_b", "report": "all",
}


# --------------------------------------------------------------------------------------- weights
def check_weights(weights: Any, key: str = "weights") -> tuple[float, float, float]:
    """(alpha_Ori, alpha_Percep, alpha_Reason): three finite non-negative numbers summing to 1
    (docs/method.md §5). The one check of a weights triple; ``key`` names it in the message."""
    values = tuple(float(w) for w in weights)
    if len(values) != 3:
        raise ValueError(f"{key}: expected 3 values (alpha_Ori, alpha_Percep, alpha_Reason), got {len(values)}")
    if not all(math.isfinite(w) and w >= 0 for w in values):
        raise ValueError(f"{key}: must be finite and non-negative, got {values}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"{key}: must sum to 1, got {values} (sum {sum(values)})")
    return values  # type: ignore[return-value]


class ConfigError(ValueError):
    """A workflow config value JSON Schema cannot check; the message names the config key."""


def check_config(config: dict) -> None:
    """What the workflow schema cannot say: every weights triple (defaults.weights,
    grids.weights[i]) sums to 1."""
    triples = [("defaults.weights", config["defaults"]["weights"])]
    triples += [(f"grids.weights[{i}]", w) for i, w in enumerate(config["grids"]["weights"])]
    for key, weights in triples:
        try:
            check_weights(weights, f"config key {key}")
        except ValueError as err:
            raise ConfigError(str(err)) from None


# ------------------------------------------------------------------------------------------ runs
@dataclass(frozen=True)
class Run:
    arm: str
    seed: int
    num_reasoning_groups: int
    weights: tuple[float, float, float]
    rollout_n: int

    @property
    def is_durian(self) -> bool:
        return arm(self.arm).is_durian

    def overrides(self) -> dict[str, Any]:
        """The verl overrides of this run beyond its arm and scale."""
        extra: dict[str, Any] = {"actor_rollout_ref.rollout.n": self.rollout_n}
        if self.is_durian:
            extra["+algorithm.durian.weights"] = list(self.weights)
            extra["+algorithm.durian.num_reasoning_groups"] = self.num_reasoning_groups
        return extra


def run_id(run: Run, defaults: dict) -> str:
    """``<arm>[-k<b>][-w<a_b_c>][-n<n>]-s<seed>``: only the settings that differ from ``defaults``."""
    parts = [run.arm]
    if run.is_durian and run.num_reasoning_groups != defaults["num_reasoning_groups"]:
        parts.append(f"k{run.num_reasoning_groups}")
    if run.is_durian and not all(math.isclose(a, b) for a, b in zip(run.weights, defaults["weights"])):
        parts.append("w" + "_".join(f"{w:g}" for w in run.weights))
    if run.rollout_n != defaults["rollout_n"]:
        parts.append(f"n{run.rollout_n}")
    parts.append(f"s{run.seed}")
    return "-".join(parts)


def make_run(defaults: dict, arm_name: str, seed: int, **changes: Any) -> Run:
    arm(arm_name)  # unknown arms fail here, naming the arm
    settings = {
        "num_reasoning_groups": defaults["num_reasoning_groups"],
        "weights": defaults["weights"],
        "rollout_n": defaults["rollout_n"],
        **changes,
    }
    settings["weights"] = check_weights(settings["weights"], f"run of {arm_name}: weights")
    return Run(arm=arm_name, seed=int(seed), **settings)


def plan(config: dict) -> dict[str, dict[str, Run]]:
    """The training runs of every target: {target: {run id: Run}} (ids shared across targets)."""
    d, seeds, grids = config["defaults"], config["seeds"], config["grids"]
    a = grids["arm"]
    targets: dict[str, list[Run]] = {
        "table1": [make_run(d, x, s) for x in config["table1"]["arms"] for s in seeds],
        "table2_groups": [make_run(d, a, s, num_reasoning_groups=k) for k in grids["reasoning_groups"] for s in seeds],
        "table3_weights": [make_run(d, a, s, weights=w) for w in grids["weights"] for s in seeds],
        "table7_rollout": [make_run(d, a, s, rollout_n=n) for n in grids["rollout_n"] for s in seeds],
        "fig3_ablation": [make_run(d, x, s) for x in config["fig3"]["arms"] for s in seeds],
    }
    return {name: {run_id(r, d): r for r in runs} for name, runs in targets.items()}


def all_runs(config: dict) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    for target in plan(config).values():
        runs.update(target)
    return runs


# ------------------------------------------------------------------------------ plan.json (reports)
@dataclass(frozen=True)
class Plan:
    """plan.json read back: which runs make up which target, for reports."""
    scale: str
    base_run: str | None
    benchmarks: tuple[str, ...]
    defaults: dict[str, Any]
    grids: dict[str, Any]
    targets: dict[str, dict[str, Run]]

    def runs(self, target: str) -> dict[str, Run]:
        if target not in self.targets:
            raise PlanError(f"plan has no target {target!r} (has {sorted(self.targets)})")
        return self.targets[target]


class PlanError(ValueError):
    """plan.json is missing a field or holds a bad run; the message names the file and key."""


PLAN_KEYS = ("scale", "base_run", "benchmarks", "defaults", "grids", "targets")
RUN_KEYS = ("arm", "seed", "num_reasoning_groups", "weights", "rollout_n")


def plan_document(config: dict) -> dict[str, Any]:
    return {
        "scale": config["scale"],
        "base_run": BASE_RUN if config["table1"]["base_model"] else None,
        "benchmarks": list(config["eval"]["benchmarks"]),
        "defaults": config["defaults"],
        "grids": config["grids"],
        "targets": {name: {rid: asdict(run) for rid, run in runs.items()} for name, runs in plan(config).items()},
    }


def plan_from_document(raw: Any, source: str = "plan.json") -> Plan:
    if not isinstance(raw, dict):
        raise PlanError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    missing = [k for k in PLAN_KEYS if k not in raw]
    if missing:
        raise PlanError(f"{source}: missing field(s) {', '.join(missing)}")
    targets: dict[str, dict[str, Run]] = {}
    for target, runs in raw["targets"].items():
        targets[target] = {}
        for rid, spec in runs.items():
            absent = [k for k in RUN_KEYS if not isinstance(spec, dict) or k not in spec]
            if absent:
                raise PlanError(f"{source}: targets.{target}.{rid}: missing field(s) {', '.join(absent)}")
            targets[target][rid] = Run(arm=spec["arm"], seed=int(spec["seed"]),
                                       num_reasoning_groups=int(spec["num_reasoning_groups"]),
                                       weights=tuple(float(w) for w in spec["weights"]),
                                       rollout_n=int(spec["rollout_n"]))
    return Plan(scale=raw["scale"], base_run=raw["base_run"], benchmarks=tuple(raw["benchmarks"]),
                defaults=raw["defaults"], grids=raw["grids"], targets=targets)


def save_plan(document: dict[str, Any], path: str | Path) -> None:
    """Write a :func:`plan_document` as ``plan.json`` (atomically: a reader never sees half a plan)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(document, indent=2) + "\n")
    temp.replace(path)


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"missing plan file: {path}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PlanError(f"malformed JSON in {path}: {err}") from err
    return plan_from_document(raw, str(path))
