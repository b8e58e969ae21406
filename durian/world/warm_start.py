"""The smoke world's warm start: teacher-forced SFT of the tiny model on the task's worked answers."""

from __future__ import annotations

import math
import random

import torch

from durian.world.task import Example, WorldConfig, prompt_content


def warm_start(model, processor, examples: list[Example], config: WorldConfig, log=print) -> list[float]:
    """Teacher-forced SFT on response tokens only; returns the loss every 25 steps."""
    encoded = [_encode_for_sft(processor, chunk) for chunk in _chunks(examples, 256)]
    ids = [row for chunk in encoded for row in chunk[0]]
    prompt_lengths = [n for chunk in encoded for n in chunk[1]]
    pixels = torch.cat([chunk[2] for chunk in encoded])
    grid = torch.cat([chunk[3] for chunk in encoded])
    patches = int(grid[0].prod())
    if not bool((grid.prod(dim=1) == patches).all()):
        raise ValueError("warm start expects images of one size")
    pad = processor.tokenizer.pad_token_id

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.sft_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / config.sft_steps))
    )
    rng = random.Random(config.seed)
    losses = []
    model.train()
    for step in range(config.sft_steps):
        batch = rng.sample(range(len(examples)), config.sft_batch_size)
        width = max(len(ids[i]) for i in batch)
        input_ids = torch.full((len(batch), width), pad)
        labels = torch.full((len(batch), width), -100)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            n = len(ids[i])
            input_ids[row, :n] = ids[i]
            attention[row, :n] = 1
            labels[row, prompt_lengths[i] : n] = ids[i][prompt_lengths[i] :]
        pixel_values = torch.cat([pixels[i * patches : (i + 1) * patches] for i in batch])
        loss = model(
            input_ids=input_ids,
            attention_mask=attention,
            pixel_values=pixel_values,
            image_grid_thw=grid[batch],
            labels=labels,
        ).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 25 == 0 or step == config.sft_steps - 1:
            losses.append(round(loss.item(), 4))
            log(f"warm start step {step + 1}/{config.sft_steps}: loss {loss.item():.3f}")
    model.eval()
    return losses


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _encode_for_sft(processor, examples: list[Example]):
    """Token ids of prompt + response + <|im_end|>, prompt lengths, and the images' patches."""
    prompts = [
        processor.apply_chat_template(prompt_content(e.question, e.image), add_generation_prompt=True, tokenize=False)
        for e in examples
    ]
    images = [e.image for e in examples]
    full = processor(text=[p + e.response() + "<|im_end|>" for p, e in zip(prompts, examples)], images=images)
    prompt_only = processor(text=prompts, images=images)
    ids = [torch.tensor(row) for row in full["input_ids"]]
    lengths = [len(row) for row in prompt_only["input_ids"]]
    for row, prompt in zip(ids, prompt_only["input_ids"]):
        if row[: len(prompt)].tolist() != list(prompt):  # labels rely on the prompt being a prefix
            raise ValueError("the tokenizer merges the response into the prompt's last tokens")
    return ids, lengths, torch.as_tensor(full["pixel_values"]), torch.as_tensor(full["image_grid_thw"])
