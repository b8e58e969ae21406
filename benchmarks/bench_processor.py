"""verl's agent loop calls the processor for every rollout (its prompt, then the finished sequence,
then again for the reward loop). This times that call as the agent loop makes it
(``verl.utils.tokenizer.build_multimodal_processor_inputs``, tensors out) on the world's train
prompts, with transformers' own image-token check and with ``durian.recipe.token_check``'s, then
with ``durian.recipe.image_memo`` too (each prompt's image seen before, as for a prompt's later
rollouts), in the same process, and prints the ratios.

Run: `.venv/bin/python benchmarks/bench_processor.py --world DIR [--calls 2000]` where DIR is a
built world (the smoke world's cache or `results/<scale>/world`).
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from PIL import Image
from transformers import AutoProcessor
from transformers.image_processing_utils import BaseImageProcessor
from transformers.processing_utils import ProcessorMixin
from verl.utils.tokenizer import build_multimodal_processor_inputs

from durian.recipe import image_memo, token_check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", required=True)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a Ray worker
    world = Path(args.world)
    processor = AutoProcessor.from_pretrained(world / "model")
    items = []
    for row in pq.read_table(world / "data" / "train.parquet").slice(0, 16).to_pylist():
        question = row["prompt"][0]["content"].replace("<image>", "")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        items.append((processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True),
                      Image.open(io.BytesIO(row["images"][0]["bytes"])).convert("RGB")))

    def per_call(check, memo: bool = False) -> float:
        ProcessorMixin._check_special_mm_tokens = check
        BaseImageProcessor.__call__ = image_memo.remembered_call if memo else image_memo.original()
        for text, image in items:  # warm-up
            build_multimodal_processor_inputs(processor, text=[text], images=[image])
        start = time.perf_counter()
        for i in range(args.calls):
            text, image = items[i % len(items)]
            build_multimodal_processor_inputs(processor, text=[text], images=[image])
        return (time.perf_counter() - start) / args.calls * 1e3

    theirs = token_check.original()
    tokens = len(processor(text=[items[0][0]], images=[items[0][1]])["input_ids"][0])
    print(f"{len(items)} train prompts ({items[0][1].size[0]} x {items[0][1].size[1]} images, {tokens} tokens), "
          f"{args.calls} calls each, torch threads=1")
    results = {}
    ours = token_check.check_special_mm_tokens
    for name, check, memo in (("transformers' check", theirs, False), ("token_check", ours, False),
                              ("token_check + image_memo", ours, True), ("transformers' check (again)", theirs, False)):
        results[name] = per_call(check, memo)
    reference = (results["transformers' check"] + results["transformers' check (again)"]) / 2
    for name, ms in results.items():
        print(f"{name:30s} {ms:6.2f} ms a call   {ms / reference:5.2f}x transformers' check")
    ProcessorMixin._check_special_mm_tokens = token_check.check_special_mm_tokens
    BaseImageProcessor.__call__ = image_memo.remembered_call


if __name__ == "__main__":
    main()
