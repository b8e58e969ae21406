"""``make preflight``: the paper scale's code paths on the tiny world, on one GPU, before GPU days.

Runs, in order, each step's own command line (as the workflow does), each to its log under
``<out>/logs/``, and stops at the first failure with its root cause and log:

1. ``world``    the tiny world (``python -m durian.toy``)
2. ``entropy``  the visual-entropy precompute on CUDA (train and val rows)
3. ``train``    2 steps of ``dapo-durian`` at the **paper** scale: FSDP2 on CUDA, vLLM rollouts,
                EasyR1's group filter; only the sizes are the tiny world's (one GPU, 4 prompts x 4
                rollouts, short prompts and responses), set with ``--set``
4. ``fixtures`` the offline evaluation sets
5. ``eval``     the trained policy on every benchmark's fixture with the vLLM backend
6. ``judge``    one benchmark scored by the judge, if ``DURIAN_JUDGE_URL`` and ``DURIAN_JUDGE_MODEL``
                are set (the key in the variable ``DURIAN_JUDGE_KEY_ENV`` names, default OPENAI_API_KEY)

``--dry-run`` prints the commands and resolves the training step's verl config
(``durian.train --dry-run``), without a GPU.

    python -m durian.recipe.preflight [--out results/preflight] [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ARM = "dapo-durian"
STEPS = 2
# The tiny world's sizes on one GPU; every other value is the paper scale's (configs/paper.yaml, arms.yaml).
TRAIN_SETTINGS = {
    "trainer.n_gpus_per_node": 1,
    "actor_rollout_ref.rollout.tensor_model_parallel_size": 1,
    "actor_rollout_ref.rollout.gpu_memory_utilization": 0.3,
    "data.train_batch_size": 4,
    "actor_rollout_ref.actor.ppo_mini_batch_size": 4,
    "actor_rollout_ref.rollout.n": 4,
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": 4,
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": 4,
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": 4,
    "data.max_prompt_length": 256,
    "data.max_response_length": 48,
    "+reward.reward_kwargs.max_resp_len": 48,
    "+algorithm.durian.num_reasoning_groups": 4,  # 4 prompts a step: b = 4 quantile groups
}
EVAL_LIMIT = 8


@dataclass(frozen=True)
class Step:
    name: str
    command: list[str]


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def steps(out: Path, env: dict[str, str] | None = None) -> list[Step]:
    """The preflight's steps for the folder ``out``, as command lines."""
    from durian.experiment import BENCHMARKS

    env = dict(os.environ if env is None else env)
    world, data, run = out / "world", out / "data", out / "train" / ARM
    plan = [Step("world", _python("durian.toy", "--out", str(world)))]
    plan += [Step(f"entropy-{split}", _python("durian.data.precompute", "--model", str(world / "model"), "--input",
                                     str(world / "data" / f"{split}.parquet"), "--output",
                                     str(data / f"{split}.parquet"), "--device", "cuda"))
             for split in ("train", "val")]
    train = _python("durian.train", "--scale", "paper", "--arm", ARM, "--model", str(world / "model"),
                    "--train", str(data / "train.parquet"), "--val", str(data / "val.parquet"), "--out", str(run),
                    "--steps", str(STEPS), "--save-freq", str(STEPS), "--time-limit", "1500")
    for key, value in TRAIN_SETTINGS.items():
        train += ["--set", f"{key}={value}"]
    plan.append(Step("train", train))
    fixtures = out / "fixtures"
    plan.append(Step("fixtures", _python("eval.fixtures", "--out", str(fixtures), "-n", str(EVAL_LIMIT))))
    evaluate = _python("eval.run", "--model", str(run / "model"), "--run", ARM, "--out", str(out / "eval"),
                       "--benchmarks", ",".join(BENCHMARKS), "--backend", "vllm", "--device", "cuda",
                       "--limit", str(EVAL_LIMIT))
    for benchmark in BENCHMARKS:
        evaluate += ["--data-file", f"{benchmark}={_fixture(fixtures, benchmark)}"]
    plan.append(Step("eval", evaluate))
    if env.get("DURIAN_JUDGE_URL") and env.get("DURIAN_JUDGE_MODEL"):
        plan.append(Step("judge", _python(
            "eval.run", "--model", str(run / "model"), "--run", ARM, "--out", str(out / "judge"),
            "--benchmarks", "mathvista", "--data-file", f"mathvista={_fixture(fixtures, 'mathvista')}",
            "--backend", "vllm", "--device", "cuda", "--limit", str(EVAL_LIMIT), "--scoring", "judge",
            "--judge-url", env["DURIAN_JUDGE_URL"], "--judge-model", env["DURIAN_JUDGE_MODEL"],
            "--judge-key-env", env.get("DURIAN_JUDGE_KEY_ENV", "OPENAI_API_KEY"))))
    return plan


def _fixture(folder: Path, benchmark: str) -> Path:
    from eval.fixtures import fixture_path

    return fixture_path(folder, benchmark)


def check_gpu() -> str | None:
    """Why the preflight cannot run here (no CUDA device, no vLLM), or None."""
    try:
        import torch
    except ImportError as error:
        return f"torch is not importable: {error}"
    if not torch.cuda.is_available():
        return "no CUDA device visible (torch.cuda.is_available() is False): run `make preflight` on a GPU node"
    try:
        import vllm  # noqa: F401
    except ImportError as error:
        return f"vLLM is not importable ({error}): the paper scale's rollouts and evaluation need it"
    return None


def run_step(step: Step, log: Path) -> str | None:
    """Run one step into its log; None when it succeeded, else its root cause."""
    from durian.recipe.verl_process import attempt_header, first_error

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as sink:
        sink.write(attempt_header(shlex.join(step.command)))
        sink.flush()
        code = subprocess.run(step.command, stdout=sink, stderr=subprocess.STDOUT, check=False).returncode
    if code == 0:
        return None
    return f"exited with {code}; root cause:\n{first_error(log)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m durian.recipe.preflight", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/preflight", help="the preflight's folder")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands and resolve the training step's verl config only (no GPU needed)")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    plan = steps(out)
    if args.dry_run:
        for step in plan:
            print(f"{step.name}: {shlex.join(step.command)}")
        [train] = [step for step in plan if step.name == "train"]
        from durian.recipe.launch import main as train_main

        train_main([*train.command[3:], "--dry-run"])  # the arguments after `python -m durian.train`
        return 0
    reason = check_gpu()
    if reason:
        print(f"preflight: cannot run: {reason}", file=sys.stderr)
        return 2
    for step in plan:
        log = out / "logs" / f"{step.name}.log"
        start = time.monotonic()
        print(f"preflight: {step.name} ...", flush=True)
        failure = run_step(step, log)
        if failure:
            print(f"preflight: {step.name} failed, {failure}\nfull log: {log}", file=sys.stderr)
            return 1
        print(f"preflight: {step.name} ok ({time.monotonic() - start:.0f} s)", flush=True)
    print(f"preflight: all {len(plan)} steps passed; logs in {out / 'logs'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
