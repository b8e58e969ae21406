"""Token log-probs as verl's FSDP engine asks for them on CPU (one (tokens, vocab) matrix per
micro-batch, forward and backward): verl's ``logprobs_from_logits_v2`` (one ``logsumexp`` per row)
against ``durian.world.logprobs`` (chunks of rows), in the same process, and the ratio.

Run: `.venv/bin/python benchmarks/bench_logprobs.py [--tokens 5700] [--vocab 402] [--repeats 5]`
(the defaults: a study micro-batch of 32 sequences, about 178 tokens each, the world's vocabulary).
"""

from __future__ import annotations

import argparse
import time

import torch
import verl  # noqa: F401  (verl as the trainer imports it)

from durian.world import logprobs


def seconds(function, logits: torch.Tensor, labels: torch.Tensor, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        leaf = logits.clone().requires_grad_()
        start = time.perf_counter()
        function(leaf, labels).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=5700)
    parser.add_argument("--vocab", type=int, default=402)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a Ray worker
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(args.tokens, args.vocab, generator=generator)
    labels = torch.randint(0, args.vocab, (args.tokens,), generator=generator)
    verls = logprobs.original()
    results = {"verl's row loop": seconds(verls, logits, labels, args.repeats),
               "durian.world.logprobs": seconds(logprobs.logprobs_from_logits_chunked, logits, labels, args.repeats),
               "verl's row loop (again)": seconds(verls, logits, labels, args.repeats)}
    reference = (results["verl's row loop"] + results["verl's row loop (again)"]) / 2
    print(f"{args.tokens} tokens x {args.vocab} logits, fp32, forward + backward, best of {args.repeats}, torch threads=1")
    for name, value in results.items():
        print(f"{name:26s} {value * 1e3:8.1f} ms   {value / reference:5.2f}x verl's")


if __name__ == "__main__":
    main()
