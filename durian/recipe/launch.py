"""Train one arm with verl's real trainer: resolve the config (a scale, ``configs/<scale>.yaml``,
plus the arm's overrides from ``durian.experiment``), run it under a wall-clock limit, collect the
metrics, export the final checkpoint in Hugging Face format.

Output contract (``results/<scale>/train/<run>/``)::

    config.yaml      the fully resolved verl config (composed by verl's own Hydra config)
    launch.json      scale, arm, overrides, seed, code version, verl version, environment, and
                     ``request``: the settings of this launch (compared on a relaunch)
    train.log        everything verl printed
    metrics.jsonl    one JSON object per step, every step exactly once (across resumes)
    timing.json      wall time and exit code of every attempt (-N: ended by signal N; null: the time limit)
    train.lock       held (flock) by the one trainer of this folder while it runs; a second is refused
    attempts/        verl's per-attempt metric files, merged into metrics.jsonl
    tensorboard/     verl's tensorboard logger, every attempt (`tensorboard --logdir results/<scale>/train`)
    wandb/           verl's wandb logger's files, with --wandb (workflow key train.wandb)
    checkpoints/     verl's checkpoints (resume_mode=auto picks the last one up; one whose step a kill
                     kept from the log is dropped first, so that step is trained again)
    model/           the final policy in Hugging Face format (what lmms-eval loads)

A relaunch with the same request resumes from the last checkpoint; one whose request differs
discards the folder's checkpoints, attempts, tensorboard events and timing first (they belong to other settings).

Usage: ``python -m durian.train --scale smoke --arm grpo --model M --train T --val V --out DIR
[--seed N] [--steps K] [--save-freq F] [--time-limit SEC] [--set key=value ...] [--wandb] [--dry-run]``.
``--dry-run`` resolves the run and writes ``config.yaml`` only (verl is not started).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from durian import experiment
from durian.recipe.run_folder import (
    TRACKER,
    TrainingFailed,
    discard_stale,
    export_model,
    hold_run_folder,
    logged_steps,
    merge_metrics,
    next_attempt,
    record_attempt,
    rewind_to_logged_step,
    stale_items,
    write_atomic,
)
from durian.recipe.verl_process import (
    EX_CONFIG,
    Interrupted,
    first_error,
    refused_config,
    run_process_tree,
    signal_name,
)

CONFIGS = Path(__file__).parent / "configs"
REWARD_FILE = Path(__file__).resolve().parents[1] / "reward.py"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


class InvalidConfig(ValueError):
    """A run's config that Hydra, the recipe's rules or verl's checks refuse; the message is one line."""


@contextlib.contextmanager
def refusing_invalid_config():
    """Turn whatever composing or checking a config raises into one :class:`InvalidConfig` line."""
    try:
        yield
    except InvalidConfig:
        raise
    except Exception as error:  # Hydra and verl's dataclasses raise several kinds
        raise InvalidConfig(one_line(error)) from error


def one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def scales() -> list[str]:
    return sorted(p.stem for p in CONFIGS.glob("*.yaml") if p.stem != "arms")


def load_scale(name: str, _based_on: tuple[str, ...] = ()) -> dict[str, Any]:
    """A scale's ``env``, ``vars`` and ``overrides``; a scale with ``base: <scale>`` is a delta on
    that scale (its keys win, section by section)."""
    path = CONFIGS / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"scale: unknown scale {name!r}; known: {scales()}")
    spec = yaml.safe_load(path.read_text())
    base = spec.pop("base", None)
    if base is None:
        return spec
    if base == name or base in _based_on:
        raise ValueError(f"{path}: base: {base} is based on {name} itself")
    merged = load_scale(base, (*_based_on, name))
    for section, values in spec.items():
        merged[section] = {**merged.get(section, {}), **values}
    return merged


def resolve_overrides(
    scale: str, arm: str, values: dict[str, Any], extra: dict[str, Any] | None = None
) -> tuple[list[str], dict[str, str]]:
    """verl command-line overrides and environment for one run; ``values`` fill the ${...} slots."""
    spec = load_scale(scale)
    values = {**spec.get("vars", {}), **values}
    merged = {**spec["overrides"], **experiment.arm(arm).overrides, **(extra or {})}
    overrides = []
    for key, value in merged.items():
        text = _format(value)
        missing = [name for name in _PLACEHOLDER.findall(text) if name not in values]
        if missing:
            raise ValueError(f"{key}: no value for ${{{missing[0]}}}")
        text = _PLACEHOLDER.sub(lambda m: _format(values[m.group(1)]), text)
        overrides.append(f"{key}={text}")
    env = {key: str(value) for key, value in spec.get("env", {}).items()}
    return overrides, env


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_format(v)}" for k, v in value.items()) + "}"
    return str(value)


def verl_config_dir() -> Path:
    """verl's trainer config folder, found without importing verl (an import costs ~10 s here)."""
    [root] = importlib.util.find_spec("verl").submodule_search_locations
    return Path(root) / "trainer" / "config"


def compose(overrides: list[str]):
    """Compose verl's ppo_trainer config with the overrides, exactly as its entry point would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(verl_config_dir()), version_base=None):
        config = hydra_compose(config_name="ppo_trainer", overrides=overrides)
    OmegaConf.resolve(config)
    return config


def validate(config) -> None:
    """verl's own dataclass checks for the parts an arm changes, then :func:`check_recipe_settings`.
    Imports verl: ``durian.recipe.main_ppo`` runs it in verl's own process, before Ray starts."""
    from omegaconf import OmegaConf
    from verl.utils.config import omega_conf_to_dataclass

    algorithm = OmegaConf.to_container(config.algorithm, resolve=True)
    algorithm.pop("durian", None)  # verl keeps `algorithm` a DictConfig at run time; AlgoConfig has no slot for it
    omega_conf_to_dataclass(OmegaConf.create(algorithm))
    omega_conf_to_dataclass(config.actor_rollout_ref.actor)
    omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    check_recipe_settings(config)


def check_recipe_settings(config) -> None:
    """The recipe's own rules, without importing verl (the launcher runs them before it touches the run folder)."""
    from durian.recipe.inputs import settings_from_config
    from durian.recipe.sampler import filter_settings, poll_interval

    settings_from_config(config.algorithm)
    if config.actor_rollout_ref.actor.get("freeze_vision_tower"):  # tests/durian/recipe: still unread upstream
        raise ValueError("actor_rollout_ref.actor.freeze_vision_tower: verl 0.9.1 declares this key but no code "
                         "reads it, so the vision tower would be trained anyway; leave it false")
    loggers = config.trainer.logger
    loggers = [loggers] if isinstance(loggers, str) else list(loggers)  # verl takes one name or a list
    if "file" not in loggers:  # metrics.jsonl and the resume's rewind read the file logger's lines
        raise ValueError(f"trainer.logger: {loggers} leaves out verl's file logger; "
                         "the run's metrics.jsonl comes from it, so keep 'file' in the list")
    filter_settings(config.trainer.v1.sampler.get("sampler_kwargs"))  # DAPO's group-filter rule (sampler.py)
    poll_interval(config.trainer.v1.sampler.get("sampler_kwargs"))


def resolve_run(*, scale: str, arm: str, model: str, train_files: str, val_files: str, out: Path, seed: int,
                steps: int, save_freq: int, extra: dict[str, Any] | None, wandb: bool = False):
    """One run's ${...} values, verl overrides, environment and composed verl config, checked by the
    recipe's rules (verl's own checks run in verl's process: ``durian.recipe.main_ppo``)."""
    if wandb:  # a logger, not a setting: kept out of the request, so a relaunch with it resumes
        extra = {**(extra or {}), "trainer.logger": [*load_scale(scale)["overrides"]["trainer.logger"], "wandb"]}
    values = {
        "model": absolute_if_local(model),
        "train_files": absolute_if_local(train_files),
        "val_files": absolute_if_local(val_files),
        "seed": seed,
        "steps": steps,
        "save_freq": save_freq,
        "run": out.name,
        "checkpoint_dir": out / "checkpoints",
        "reward_file": REWARD_FILE,
    }
    overrides, env = resolve_overrides(scale, arm, values, extra)
    with refusing_invalid_config():
        config = compose(overrides)
        check_recipe_settings(config)
    return values, overrides, env, config


def dry_run(*, scale: str, arm: str, model: str, train_files: str, val_files: str, out: str | Path, seed: int = 1,
            steps: int = 2, save_freq: int = 1, extra: dict[str, Any] | None = None, wandb: bool = False,
            **_ignored: Any) -> Path:
    """Resolve the run as :func:`train` would and write ``out/config.yaml`` (the same file a real run
    writes), without starting verl; returns its path. Its checkpoints and records stay as they are."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    *_, config = resolve_run(scale=scale, arm=arm, model=model, train_files=train_files, val_files=val_files,
                             out=out, seed=seed, steps=steps, save_freq=save_freq, extra=extra, wandb=wandb)
    with refusing_invalid_config():
        validate(config)
    path = out / "config.yaml"
    write_atomic(path, _to_yaml(config))
    print(f"dry run: {scale} scale, arm {arm}: resolved verl config -> {path} (verl not started)")
    return path


def train(
    *,
    scale: str,
    arm: str,
    model: str,
    train_files: str,
    val_files: str,
    out: str | Path,
    seed: int = 1,
    steps: int = 2,
    save_freq: int = 1,
    extra: dict[str, Any] | None = None,
    time_limit: float = 1800,
    stop_after_checkpoint: int | None = None,
    wandb: bool = False,
) -> Path:
    """Train one arm into ``out``; rerunning after a kill resumes from the last checkpoint.

    ``stop_after_checkpoint`` kills the run once that step is checkpointed and logged (as a crash
    would), for tests of resumption.
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    values, overrides, env, config = resolve_run(scale=scale, arm=arm, model=model, train_files=train_files,
                                                 val_files=val_files, out=out, seed=seed, steps=steps,
                                                 save_freq=save_freq, extra=extra, wandb=wandb)
    request = {"scale": scale, "arm": arm, "model": values["model"], "train_files": values["train_files"],
               "val_files": values["val_files"], "seed": seed, "steps": steps, "save_freq": save_freq,
               "set": dict(extra or {})}
    with hold_run_folder(out):  # one trainer per run folder, for the run's whole life
        if stale_items(out, request):
            with refusing_invalid_config():  # verl's checks too (an import of verl) before another request's checkpoints go
                validate(config)
        discard_stale(out, request)
        rewind_to_logged_step(out)
        write_atomic(out / "config.yaml", _to_yaml(config))
        launch = {
            "scale": scale,
            "arm": arm,
            "seed": seed,
            "steps": steps,
            "request": request,
            "overrides": overrides,
            "env": env,
            "code_version": code_version(),
            "verl": metadata.version("verl"),
            "torch": metadata.version("torch"),
        }
        write_atomic(out / "launch.json", json.dumps(launch, indent=2))

        attempts = out / "attempts"
        attempts.mkdir(exist_ok=True)
        attempt = attempts / f"{next_attempt(attempts, out / 'timing.json'):03d}.jsonl"
        # verl's file logger writes this attempt's metrics; its tensorboard logger, every attempt's into one
        # folder (`tensorboard --logdir results/<scale>/train` compares runs offline)
        run_env = {**os.environ, **env, "VERL_FILE_LOGGER_PATH": str(attempt), "PYTHONUNBUFFERED": "1",
                   "TENSORBOARD_DIR": str(out / "tensorboard"), "WANDB_DIR": str(out)}
        command = [sys.executable, "-m", "durian.recipe.main_ppo", *overrides]
        start = time.monotonic()
        stop = None
        if stop_after_checkpoint is not None:
            tracker = out / "checkpoints" / TRACKER

            def stop() -> bool:
                saved = tracker.exists() and int(tracker.read_text().strip() or 0) >= stop_after_checkpoint
                return saved and stop_after_checkpoint in logged_steps(attempts)
        interrupted = None
        try:
            code = run_process_tree(command, run_env, out / "train.log", time_limit, stop)
        except Interrupted as error:
            code, interrupted = -error.signum, error
        record_attempt(out / "timing.json", attempt.stem, time.monotonic() - start, code)
        merge_metrics(attempts, out / "metrics.jsonl")
        if interrupted is not None:
            raise Interrupted(interrupted.signum, f"training {out.name} interrupted by {signal_name(interrupted.signum)}; "
                                                  "its process tree is ended, a rerun resumes from its last checkpoint")
        if stop is not None and stop():
            raise TrainingFailed(f"training {out.name} stopped on purpose after checkpoint {stop_after_checkpoint}")
        if code is None:
            raise TrainingFailed(f"training {out.name} ran past its time limit ({time_limit:g} s): its process tree was killed")
        if code < 0:
            raise TrainingFailed(f"training {out.name} was killed by {signal_name(-code)} (a signal from outside verl)")
        if code == EX_CONFIG and (refused := refused_config(out / "train.log")):
            raise InvalidConfig(f"{refused} (verl's traceback: {out / 'train.log'})")
        if code != 0:
            raise TrainingFailed(f"training {out.name} exited with {code}; first error:\n{first_error(out / 'train.log')}")
        export_model(out / "checkpoints", out / "model")
        print(f"trained {out.name} in {time.monotonic() - start:.0f} s -> {out / 'model'}")
        return out


def absolute_if_local(path: str | Path) -> str:
    """verl runs in the run folder: a relative local path would be read as a hub id from there."""
    return str(Path(path).resolve()) if Path(path).exists() else str(path)


def code_version() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _to_yaml(config) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(config)


def parse_set(items: list[str]) -> dict[str, Any]:
    """``--set key=value`` items as overrides; each value is read as YAML (``[0.4,0.3,0.3]``, ``4``, ``true``)."""
    extra = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        extra[key] = yaml.safe_load(value)
    return extra


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m durian.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="smoke", choices=scales(), help="configs/<scale>.yaml")
    parser.add_argument("--arm", required=True, choices=sorted(experiment.arms()))
    parser.add_argument("--model", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--out", required=True, help="the run folder")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--save-freq", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=1800, help="seconds per attempt")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra verl override (repeatable); the value is parsed as YAML")
    parser.add_argument("--wandb", action="store_true",
                        help="log to W&B too, through verl's wandb logger (WANDB_API_KEY, or WANDB_MODE=offline); "
                             "its files go to <out>/wandb")
    parser.add_argument("--dry-run", action="store_true",
                        help="resolve the run's verl config, write it to <out>/config.yaml (the same file a real "
                             "run writes) and exit 0 without starting verl")
    args = parser.parse_args(argv)
    try:
        extra = parse_set(args.set)
    except ValueError as error:
        parser.error(str(error))
    try:
        (dry_run if args.dry_run else train)(
            scale=args.scale, arm=args.arm, model=args.model, train_files=args.train, val_files=args.val,
            out=args.out, seed=args.seed, steps=args.steps, save_freq=args.save_freq, extra=extra,
            time_limit=args.time_limit, wandb=args.wandb)
    except InvalidConfig as error:
        print(f"durian.train: invalid config: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingFailed as error:
        print(f"durian.train: {error}\nfull log: {Path(args.out).resolve() / 'train.log'}", file=sys.stderr)
        raise SystemExit(128 + error.signum if isinstance(error, Interrupted) else 1) from None
