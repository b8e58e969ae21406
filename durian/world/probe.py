"""The smoke world's learnability check (``python -m durian.toy --check``): do sampled rewards vary
on train prompts (so GRPO has a signal), and is greedy accuracy on val neither nil nor saturated?"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from durian.world.model import encode_prompts
from durian.world.task import DATA_SOURCE, Example, WorldConfig, make_split

CHECK_PROMPTS = 256  # train prompts the check samples: the share it reports is tight enough, and it stays a minute


def generate(model, processor, examples: list[Example], *, samples: int = 1, temperature: float = 0.0,
             max_new_tokens: int = 64, batch_size: int = 32, seed: int = 0) -> list[list[str]]:
    """Responses per example (``samples`` each), greedy when temperature is 0."""
    torch.manual_seed(seed)
    outputs = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        inputs = encode_prompts(processor, chunk)
        sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature else {"do_sample": False}
        with torch.no_grad():
            ids = model.generate(**inputs, max_new_tokens=max_new_tokens, num_return_sequences=samples, **sampling)
        texts = processor.batch_decode(ids[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        outputs += [texts[i * samples : (i + 1) * samples] for i in range(len(chunk))]
    return outputs


def learnability(world: str | Path, *, samples: int = 8, temperature: float = 1.0, seed: int = 0) -> dict[str, float]:
    """The issue's thresholds: share of train prompts whose sampled rewards differ, and greedy val accuracy."""
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from durian.reward import compute_score

    world = Path(world)
    config = WorldConfig(**json.loads((world / "manifest.json").read_text())["config"])
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(world / "model").eval()
    processor = AutoProcessor.from_pretrained(world / "model")
    train = make_split(config.seed, "train", min(config.train_size, CHECK_PROMPTS), config.image_size)  # the first ones
    val = make_split(config.seed, "val", config.val_size, config.image_size)
    sampled = generate(model, processor, train, samples=samples, temperature=temperature, seed=seed)
    rewards = [[compute_score(DATA_SOURCE, r, e.answer)["score"] for r in rs] for rs, e in zip(sampled, train)]
    greedy = generate(model, processor, val)
    val_scores = [compute_score(DATA_SOURCE, rs[0], e.answer) for rs, e in zip(greedy, val)]
    return {
        "train_share_with_reward_variance": sum(len(set(r)) > 1 for r in rewards) / len(rewards),
        "train_sampled_accuracy": sum(s >= 0.9 for r in rewards for s in r) / (len(rewards) * samples),
        "val_greedy_accuracy": sum(s["accuracy"] for s in val_scores) / len(val_scores),
        "val_greedy_format": sum(s["format"] for s in val_scores) / len(val_scores),
    }
