"""The ``hf`` rollout server on the tiny world: rollouts per second when the agent loop's concurrent
requests are batched into one ``generate`` (``rollout.max_num_seqs``) against one request at a time
(``max_num_seqs=1``, the server before batching), measured in the same run.

Run: `.venv/bin/python benchmarks/bench_rollout.py --world DIR [--requests 64] [--tokens 48]`
where DIR is a built smoke world (`python -m durian.toy --out DIR`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from durian.world import hf_rollout as hf
from durian.world import task


def server(world: Path, max_num_seqs: int, tokens: int):
    from verl.workers.config import HFModelConfig, RolloutConfig

    config = RolloutConfig(name="hf", dtype="float32", prompt_length=512, response_length=tokens,
                           max_num_seqs=max_num_seqs)
    return hf.HFRolloutServer(config, HFModelConfig(path=str(world / "model")), device="cpu")


def prompts(srv, n: int) -> list[tuple[list[int], list]]:
    out = []
    for example in task.make_split(0, "train", n, 112):
        messages = task.prompt_content(example.question, example.image)
        text = srv.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = srv.processor(text=[text], images=[example.image], return_tensors="pt")["input_ids"][0].tolist()
        out.append((ids, [example.image]))
    return out


def rollouts_per_second(srv, batch: list, tokens: int) -> float:
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "max_tokens": tokens, "logprobs": True}

    async def run():
        return await asyncio.gather(*[srv.generate(ids, params, f"r{i}", image_data=images)
                                      for i, (ids, images) in enumerate(batch)])

    asyncio.run(run())  # warm-up
    start = time.perf_counter()
    asyncio.run(run())
    return len(batch) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", required=True)
    parser.add_argument("--requests", type=int, default=64, help="concurrent requests (prompts x rollouts)")
    parser.add_argument("--tokens", type=int, default=48, help="max new tokens per rollout (the smoke scale's)")
    args = parser.parse_args()
    world = Path(args.world)
    one = server(world, 1, args.tokens)
    batch = prompts(one, args.requests)
    reference = rollouts_per_second(one, batch, args.tokens)
    batched = rollouts_per_second(server(world, 1024, args.tokens), batch, args.tokens)
    print(f"{args.requests} concurrent requests, up to {args.tokens} new tokens each")
    print(f"one at a time : {reference:7.1f} rollouts/s")
    print(f"batched       : {batched:7.1f} rollouts/s  ({batched / reference:.1f}x)")


if __name__ == "__main__":
    main()
