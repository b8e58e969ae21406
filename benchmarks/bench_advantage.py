"""Durian's advantage against verl's GRPO estimators on the paper's batch (B=512, G=8, T=2048).

Durian's side does everything its verl estimator does: rewards summed per response, confidence
from per-token old log-probs, the three groupings and the combination, then the broadcast to
tokens. Run: `.venv/bin/python benchmarks/bench_advantage.py [--repeats N]`.
"""

from __future__ import annotations

import argparse
import uuid

import numpy as np
import torch
from common import median_seconds
from verl.trainer.ppo.core_algos import get_adv_estimator_fn

from durian.advantage import durian_advantage
from durian.difficulty import sequence_confidence


def paper_batch(prompts: int, rollouts: int, length: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    rows = prompts * rollouts
    lengths = torch.randint(16, length + 1, (rows,), generator=g)
    mask = (torch.arange(length) < lengths[:, None]).float()
    rewards = torch.tensor([0.0, 0.1, 0.9, 1.0])[torch.randint(0, 4, (rows,), generator=g)]
    token_rewards = torch.zeros(rows, length)
    token_rewards[torch.arange(rows), lengths - 1] = rewards
    old_log_probs = -torch.rand(rows, length, generator=g) * 3 * mask
    uids = np.repeat(np.array([str(uuid.uuid4()) for _ in range(prompts)], dtype=object), rollouts)
    entropy = torch.rand(prompts, generator=g, dtype=torch.float64) * 6
    return token_rewards, mask, old_log_probs, uids, entropy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    token_rewards, mask, old_log_probs, uids, entropy = paper_batch(args.prompts, args.rollouts, args.length)

    def verl(name):
        fn = get_adv_estimator_fn(name)
        return lambda: fn(token_level_rewards=token_rewards, response_mask=mask, index=uids)

    def durian_core():
        confidence = sequence_confidence(old_log_probs, mask, args.rollouts)
        scores = token_rewards.sum(-1).view(args.prompts, args.rollouts)
        return durian_advantage(scores, entropy, confidence)

    def durian_estimator():
        return durian_core().reshape(-1, 1) * mask

    times = {
        "verl grpo": median_seconds(verl("grpo"), max(3, args.repeats // 4)),
        "verl grpo_vectorized": median_seconds(verl("grpo_vectorized"), args.repeats),
        "durian (confidence + advantage)": median_seconds(durian_core, args.repeats),
        "durian (as an estimator: + token broadcast)": median_seconds(durian_estimator, args.repeats),
    }
    base = times["verl grpo_vectorized"]
    print(f"B={args.prompts} G={args.rollouts} T={args.length}, torch threads={torch.get_num_threads()}")
    for name, seconds in times.items():
        print(f"{name:45s} {seconds * 1e3:8.2f} ms   {seconds / base:5.2f}x grpo_vectorized")


if __name__ == "__main__":
    main()
