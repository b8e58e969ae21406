"""Build the smoke world: a tiny Qwen2.5-VL, the task's splits as verl rows and a supervised warm
start, all offline and deterministic from a seed, cached by (config, code) hash.

Layout of a built world::

    <out>/model/            Hugging Face Qwen2_5_VLForConditionalGeneration + processor
    <out>/data/<split>.parquet   verl RLHFDataset rows (train, val, test; sft is kept in memory)
    <out>/manifest.json     config, hash, timings, warm-start losses

    python -m durian.toy --out DIR [--seed N] [--sft-steps N] [--check]
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path

import torch

from durian.data.prepare import make_row, write_rows
from durian.prompt import THINKING_INSTRUCTION
from durian.world.model import SYSTEM_PROMPT, build_model, build_processor, build_tokenizer
from durian.world.task import (BIAS_KINDS, DATA_SOURCE, QUESTIONS, SPLITS, Example, WorldConfig, make_split,
                               plant_answer_bias)
from durian.world.warm_start import warm_start

# The warm start runs on one torch thread whatever the caller's: on two, its SFT stage is not
# repeatable (two builds of one config and code on 2 threads gave different weights), and 1,100
# steps of training turn a rounding difference into another world (one draw scored 42.5% over the
# six sets, the 1-thread build 55.1%). On one thread the weights are the same at every build.
BUILD_THREADS = 1


def rows_for(examples: list[Example], split: str) -> list[dict]:
    return [
        make_row(
            question=e.question,
            images=[e.image],  # encoded as PNG by make_row
            answer=e.answer,
            data_source=DATA_SOURCE,
            split=split,
            index=i,
            extra={"kind": e.kind, "clutter": e.clutter, "form": e.form},
        )
        for i, e in enumerate(examples)
    ]


def build_world(out: str | Path, config: WorldConfig = WorldConfig(), log=print) -> Path:
    """Build (or reuse) the smoke world in ``out``; a finished world with the same key is kept.
    Builders of one folder take turns (``<out>.lock``): a second one waits, then reuses the world."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        if not _try_lock(lock):
            log(f"waiting for the build of {out} by another process")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(out, config, log)


def _try_lock(lock) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _build_locked(out: Path, config: WorldConfig, log) -> Path:
    manifest = out / "manifest.json"
    key = config.key()
    if manifest.exists() and json.loads(manifest.read_text()).get("key") == key:
        log(f"smoke world {key} already built in {out}")
        return out
    if out.exists() and any(out.iterdir()):
        if not manifest.exists():
            shutil.rmtree(out)  # an interrupted build: nothing in it is trusted
        else:
            raise FileExistsError(f"{out} holds a smoke world with another config or code version; remove it first")
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    splits = {name: make_split(config.seed, name, getattr(config, f"{name}_size"), config.image_size) for name in SPLITS}
    sft = make_split(config.seed, "sft", config.sft_size, config.image_size)
    sft = plant_answer_bias(sft, config.answer_bias, random.Random(f"{config.seed}-answer-bias"),
                            config.answer_bias_kind)
    corpus = [THINKING_INSTRUCTION, SYSTEM_PROMPT, *QUESTIONS.values()] + [e.question + e.response() for e in sft[:200]]
    tokenizer = build_tokenizer(corpus * 4, config.vocab_size)
    processor = build_processor(tokenizer, config.image_size)
    model = build_model(config, tokenizer)
    log(f"tiny Qwen2.5-VL: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, vocab {len(tokenizer)}")
    threads = torch.get_num_threads()
    torch.set_num_threads(BUILD_THREADS)
    try:
        losses = warm_start(model, processor, sft, config, log=log)
    finally:
        torch.set_num_threads(threads)

    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging / "model")
    processor.save_pretrained(staging / "model")
    for name, examples in splits.items():
        write_rows(rows_for(examples, name), staging / "data" / f"{name}.parquet")
    info = {
        "key": key,
        "config": dataclasses.asdict(config),
        "build_seconds": round(time.perf_counter() - start, 1),
        "warm_start_losses": losses,
        "torch": torch.__version__,
        "threads": BUILD_THREADS,
        "weights_sha256": hashlib.sha256((staging / "model" / "model.safetensors").read_bytes()).hexdigest(),
    }
    (staging / "manifest.json").write_text(json.dumps(info, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(staging, out)
    log(f"smoke world {key} built in {info['build_seconds']} s -> {out}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m durian.toy",
                                     description="Build the smoke world (tiny Qwen2.5-VL + task + warm start).")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sft-steps", type=int, default=WorldConfig.sft_steps)
    parser.add_argument("--text-steps", type=int, default=WorldConfig.text_steps,
                        help="steps of the warm start's text-only stage 0")
    parser.add_argument("--answer-bias", type=float, default=WorldConfig.answer_bias,
                        help="share of warm-start answers planted wrong")
    parser.add_argument("--answer-bias-kind", choices=BIAS_KINDS, default=WorldConfig.answer_bias_kind,
                        help="what is planted: the true answer's neighbour, or the form's default")
    parser.add_argument("--check", action="store_true", help="then print the learnability figures")
    args = parser.parse_args(argv)
    world = build_world(args.out, WorldConfig(seed=args.seed, sft_steps=args.sft_steps, text_steps=args.text_steps,
                                                answer_bias=args.answer_bias,
                                                answer_bias_kind=args.answer_bias_kind))
    if args.check:
        from durian.world.probe import learnability

        print(json.dumps(learnability(world), indent=2))


if __name__ == "__main__":
    main()
