"""The smoke world's warm start, in stages as a real VLM gets its start:

0. (``text_steps`` > 0) the language model alone, on text: each question with a thought that states a
   random count, trained on what follows from the count (the number to box, the letter that lists it,
   whether it is the claimed one) and not on the count itself, as a pretrained LLM knows how to read
   options and compare numbers before it has seen an image;
1. the vision tower is pretrained on the world's images (as CLIP-style towers are pretrained
   before a VLM is assembled): a linear head per question kind reads the sum of its merged
   tokens and classifies the number of shapes or of sides, and the heads are dropped after;
2. teacher-forced SFT of the language model on the task's worked answers, with the tower frozen
   (as LLaVA-style instruction tuning keeps it), so the SFT's high lr cannot undo stage 1.

Without stage 1 the 0.6M-parameter model learns the answer format but not to perceive: greedy
accuracy stays at guessing level however long the SFT (README, "The study scale").
"""

from __future__ import annotations

import dataclasses
import math
import random

import torch

from durian.world.task import LETTERS, RANGES, Example, WorldConfig, prompt_content


def warm_start(model, processor, examples: list[Example], config: WorldConfig, log=print) -> dict[str, list[float]]:
    """Every stage; returns their losses every 25 steps (``text``, ``vision`` and ``sft``)."""
    encoded = [_encode_for_sft(processor, chunk) for chunk in _chunks(examples, 256)]
    ids = [row for chunk in encoded for row in chunk[0]]
    prompt_lengths = [n for chunk in encoded for n in chunk[1]]
    pixels = torch.cat([chunk[2] for chunk in encoded])
    grid = torch.cat([chunk[3] for chunk in encoded])
    patches = int(grid[0].prod())
    if not bool((grid.prod(dim=1) == patches).all()):
        raise ValueError("warm start expects images of one size")

    def images(batch: list[int]) -> torch.Tensor:
        return torch.cat([pixels[i * patches : (i + 1) * patches] for i in batch])

    rng = random.Random(config.seed)
    model.train()
    losses = {"text": _text_stage(model, processor, examples, config, random.Random(f"{config.seed}-text"), log)}
    losses["vision"] = _pretrain_vision(model, examples, images, grid, config, rng, log)
    vision = [p for name, p in model.named_parameters() if name.startswith("model.visual.")]
    for p in vision:
        p.requires_grad_(False)
    pad = processor.tokenizer.pad_token_id
    optimizer = _optimizer([p for p in model.parameters() if p.requires_grad], config.sft_lr, config.sft_steps)
    losses["sft"] = []
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
        loss = model(input_ids=input_ids, attention_mask=attention, pixel_values=images(batch),
                     image_grid_thw=grid[batch], labels=labels).loss
        _step(optimizer, loss, model.parameters())
        if step % 25 == 0 or step == config.sft_steps - 1:
            losses["sft"].append(round(loss.item(), 4))
            log(f"warm start step {step + 1}/{config.sft_steps}: loss {loss.item():.3f}")
    for p in vision:
        p.requires_grad_(True)  # the saved model trains whole under RL
    model.eval()
    return losses


def restated(e: Example, rng: random.Random) -> Example:
    """``e`` as stage 0 sees it: its thought states a random count (one of the options; for yes/no the
    claimed number half the time) and the answer follows from that count."""
    if e.form == "choice":
        count = rng.choice(e.choices)
        return dataclasses.replace(e, value=count, answer=LETTERS[e.choices.index(count)])
    low, high = RANGES[e.kind]
    if e.form == "yes_no":
        count = e.shown if rng.random() < 0.5 else rng.choice([v for v in range(low, high + 1) if v != e.shown])
        return dataclasses.replace(e, value=count, answer="yes" if count == e.shown else "no")
    count = rng.randint(low, high)
    return dataclasses.replace(e, value=count, answer=str(count))


def _text_stage(model, processor, examples, config: WorldConfig, rng: random.Random, log) -> list[float]:
    tokenizer, pad = processor.tokenizer, processor.tokenizer.pad_token_id
    language = [p for name, p in model.named_parameters() if not name.startswith("model.visual.")]
    optimizer = _optimizer(language, config.sft_lr, config.text_steps)
    losses = []
    for step in range(config.text_steps):
        rows = [_text_row(tokenizer, restated(examples[i], rng))
                for i in rng.sample(range(len(examples)), config.text_batch_size)]
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), pad)
        labels = torch.full((len(rows), width), -100)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for row, (ids, target) in enumerate(rows):
            input_ids[row, : len(ids)], labels[row, : len(ids)], attention[row, : len(ids)] = ids, target, 1
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        _step(optimizer, loss, model.parameters())
        if step % 25 == 0 or step == config.text_steps - 1:
            losses.append(round(loss.item(), 4))
            log(f"text stage step {step + 1}/{config.text_steps}: loss {loss.item():.3f}")
    return losses


def _text_row(tokenizer, e: Example) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of a text-only prompt + response, and labels on the response but not its stated count."""
    # the question alone, without the thinking instruction: a third of the tokens, and a stage of seconds
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": e.question}], add_generation_prompt=True,
                                           tokenize=False)
    response = e.response()
    stated = f"are {e.value} shapes" if e.kind == "count" else f"has {e.value} sides"
    at = len(prompt) + response.index(stated) + 4  # the count's character
    encoded = tokenizer(prompt + response + "<|im_end|>", return_offsets_mapping=True)
    ids = torch.tensor(encoded["input_ids"])
    labels = ids.clone()
    for i, (start, end) in enumerate(encoded["offset_mapping"]):
        if end <= len(prompt) or start <= at < end:
            labels[i] = -100
    return ids, labels


def _pretrain_vision(model, examples, images, grid, config: WorldConfig, rng: random.Random, log) -> list[float]:
    kinds = sorted(RANGES)
    heads = torch.nn.ModuleDict({k: torch.nn.Linear(config.hidden_size, RANGES[k][1] - RANGES[k][0] + 1) for k in kinds})
    targets = {k: torch.tensor([e.value - RANGES[k][0] if e.kind == k else -100 for e in examples]) for k in kinds}
    tower = model.model.visual
    optimizer = _optimizer([*tower.parameters(), *heads.parameters()], config.sft_lr, config.vision_pretrain_steps)
    losses = []
    for step in range(config.vision_pretrain_steps):
        batch = rng.sample(range(len(examples)), config.sft_batch_size)
        merged = tower(images(batch), grid_thw=grid[batch]).pooler_output
        pooled = merged.view(len(batch), -1, merged.shape[-1]).sum(dim=1)
        loss = sum(torch.nn.functional.cross_entropy(heads[k](pooled), targets[k][batch], ignore_index=-100,
                                                     reduction="sum") for k in kinds) / len(batch)
        _step(optimizer, loss, tower.parameters())
        if step % 25 == 0 or step == config.vision_pretrain_steps - 1:
            losses.append(round(loss.item(), 4))
            log(f"vision pretraining step {step + 1}/{config.vision_pretrain_steps}: loss {loss.item():.3f}")
    return losses


def _optimizer(params, lr: float, steps: int):
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warm_cosine = lambda step: min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, warm_cosine)


def _step(optimizer, loss, params) -> None:
    optimizer, schedule = optimizer
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(params), 1.0)
    optimizer.step()
    schedule.step()


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
