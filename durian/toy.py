"""The smoke world: a tiny Qwen2.5-VL, a learnable visual-math task and a supervised warm start,
all built offline and deterministically from a seed, cached by (config, code) hash.

Layout of a built world::

    <out>/model/            Hugging Face Qwen2_5_VLForConditionalGeneration + processor
    <out>/data/<split>.parquet   verl RLHFDataset rows (train, val, test; sft is kept in memory)
    <out>/manifest.json     config, hash, timings, warm-start losses

The tokenizer is a byte-level BPE trained on the task's own text (a few hundred tokens) plus
Qwen2.5-VL's special tokens: with Qwen's real 151k vocabulary the embedding tables would be
~95% of a tiny model, slowing every CPU step for nothing the task needs.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import math
import os
import random
import shutil
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from durian import data
from durian.prompt import IMAGE_PLACEHOLDER, THINKING_INSTRUCTION, YES_NO_INSTRUCTION, chat_messages

DATA_SOURCE = "durian/smoke-shapes"
SPLITS = ("train", "val", "test")
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
SYSTEM_PROMPT = "You are a helpful assistant."

# Qwen2-VL's chat template: default system turn, <|vision_start|><|image_pad|><|vision_end|> per image.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    seed: int = 0
    image_size: int = 112  # 8 x 8 patches of 14 px -> 16 visual tokens after the 2 x 2 merger
    train_size: int = 256
    val_size: int = 64
    test_size: int = 64
    sft_size: int = 2048
    vocab_size: int = 400
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    vision_hidden_size: int = 64
    vision_depth: int = 2
    sft_steps: int = 300
    sft_batch_size: int = 32
    sft_lr: float = 3e-3

    def key(self) -> str:
        code = Path(__file__).read_bytes() + Path(data.__file__).read_bytes()
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode() + code
        return hashlib.sha256(blob).hexdigest()[:16]


# --------------------------------------------------------------------------------------- task
COLORS = [(220, 40, 40), (40, 120, 220), (40, 170, 70), (230, 170, 30), (150, 60, 190), (20, 20, 20)]
QUESTIONS = {
    "count": "How many shapes are in the image?",
    "sides": "How many sides does the polygon in the image have?",
}
# The yes/no form (HallusionBench's): is a stated number right? Asked in a third of the examples.
CHECKS = {
    "count": "Are there {n} shapes in the image?",
    "sides": "Does the polygon in the image have {n} sides?",
}
RANGES = {"count": (1, 5), "sides": (3, 6)}
FORMS = ("number", "number", "yes_no")


def yes_no_question(kind: str, shown: int) -> str:
    """The yes/no question as training sees it: the check, then the boxed yes/no instruction."""
    return f"{CHECKS[kind].format(n=shown)} {YES_NO_INSTRUCTION}"


@dataclasses.dataclass
class Example:
    image: Image.Image
    question: str
    answer: str
    kind: str  # what is counted: "count" (shapes) or "sides"
    clutter: int
    value: int  # the true count
    shown: int | None = None  # the number a yes/no question states; None for a number question

    def response(self) -> str:
        if self.kind == "count":
            thought = f"I count the shapes one by one. There are {self.value} shapes."
        else:
            thought = f"I count the corners of the polygon. It has {self.value} corners, so {self.value} sides."
        if self.shown is not None:  # a distinct opening: the first token already tells the two forms apart
            thought = f"I check the claim of {self.shown}. {thought} So the claim is {self.answer == 'yes'}."
        return f"<think>{thought}</think> The answer is \\boxed{{{self.answer}}}."


def _background(rng: random.Random, size: int, clutter: int) -> Image.Image:
    """Visual complexity grows with clutter: plain, faint grid, noisy lines, speckle."""
    shade = rng.randint(225, 255)
    image = Image.new("RGB", (size, size), (shade, shade, shade))
    draw = ImageDraw.Draw(image)
    if clutter >= 1:
        step = rng.choice([14, 16, 28])
        for x in range(0, size, step):
            draw.line([(x, 0), (x, size)], fill=(200, 200, 210))
            draw.line([(0, x), (size, x)], fill=(200, 200, 210))
    if clutter >= 2:
        for _ in range(rng.randint(3, 8)):
            points = [(rng.randint(0, size), rng.randint(0, size)) for _ in range(2)]
            draw.line(points, fill=tuple(rng.randint(120, 200) for _ in range(3)), width=1)
    if clutter >= 3:
        for _ in range(rng.randint(80, 200)):
            x, y = rng.randint(0, size - 1), rng.randint(0, size - 1)
            draw.point((x, y), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return image


def _polygon(cx: float, cy: float, radius: float, sides: int, angle: float) -> list[tuple[float, float]]:
    return [
        (cx + radius * math.cos(angle + 2 * math.pi * k / sides), cy + radius * math.sin(angle + 2 * math.pi * k / sides))
        for k in range(sides)
    ]


def render_example(rng: random.Random, size: int, form: str = "number") -> Example:
    kind = rng.choice(["count", "sides"])
    clutter = rng.randint(0, 3)
    image = _background(rng, size, clutter)
    draw = ImageDraw.Draw(image)
    value = rng.randint(*RANGES[kind])
    if kind == "count":
        cell = size // 3
        cells = rng.sample(range(9), value)  # one shape per cell of a 3 x 3 grid: never overlapping
        for c in cells:
            cx, cy = (c % 3 + 0.5) * cell, (c // 3 + 0.5) * cell
            r = rng.uniform(cell * 0.25, cell * 0.42)
            color = rng.choice(COLORS)
            shape = rng.choice(["circle", "square", "triangle"])
            if shape == "circle":
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
            else:
                draw.polygon(_polygon(cx, cy, r, 4 if shape == "square" else 3, rng.uniform(0, math.pi)), fill=color)
    else:
        r = rng.uniform(size * 0.25, size * 0.42)
        center = size / 2 + rng.uniform(-6, 6), size / 2 + rng.uniform(-6, 6)
        points = _polygon(*center, r, value, rng.uniform(0, 2 * math.pi))
        draw.polygon(points, fill=rng.choice(COLORS), outline=(0, 0, 0))
    if form == "number":
        return Example(image, QUESTIONS[kind], str(value), kind, clutter, value)
    if form != "yes_no":
        raise ValueError(f"form: must be 'number' or 'yes_no', got {form!r}")
    low, high = RANGES[kind]
    shown = value if rng.random() < 0.5 else rng.choice([v for v in range(low, high + 1) if v != value])
    return Example(image, yes_no_question(kind, shown), "yes" if shown == value else "no", kind, clutter, value, shown)


def make_split(seed: int, split: str, n: int, size: int, forms: tuple[str, ...] = FORMS) -> list[Example]:
    """n examples; the i-th takes the form ``forms[i % len(forms)]`` (number or yes/no question)."""
    rng = random.Random(f"{seed}-{split}")
    return [render_example(rng, size, forms[i % len(forms)]) for i in range(n)]


# ------------------------------------------------------------------------------- tokenizer, model
def build_tokenizer(corpus: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        model_max_length=4096,
        padding_side="left",
    )
    fast.add_tokens(["<think>", "</think>"])  # whole tokens, decoded as text (not special)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_processor(tokenizer, image_size: int):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = image_size * image_size
    image_processor = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=pixels)
    video_processor = Qwen2VLVideoProcessor(min_pixels=56 * 56, max_pixels=pixels)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor, chat_template=CHAT_TEMPLATE
    )


def build_model(config: WorldConfig, tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    head_dim = config.hidden_size // config.num_heads
    spatial = (head_dim // 2 - head_dim // 8) // 2  # Qwen's 16/24/24 split of head_dim/2, scaled down
    ids = tokenizer.convert_tokens_to_ids
    model_config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": config.hidden_size,
            "intermediate_size": config.hidden_size * 2,
            "num_hidden_layers": config.num_layers,
            "num_attention_heads": config.num_heads,
            "num_key_value_heads": config.num_heads // 2,
            "max_position_embeddings": 4096,
            "max_window_layers": config.num_layers,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [head_dim // 2 - 2 * spatial, spatial, spatial],
            },
            "bos_token_id": ids("<|endoftext|>"),
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": ids("<|endoftext|>"),
        },
        vision_config={
            "depth": config.vision_depth,
            "hidden_size": config.vision_hidden_size,
            "intermediate_size": config.vision_hidden_size * 2,
            "num_heads": 4,
            "out_hidden_size": config.hidden_size,
            "fullatt_block_indexes": [config.vision_depth - 1],
            "window_size": 112,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )
    torch.manual_seed(config.seed)
    model = Qwen2_5_VLForConditionalGeneration(model_config)
    model.generation_config.eos_token_id = [ids("<|im_end|>"), ids("<|endoftext|>")]
    model.generation_config.pad_token_id = ids("<|endoftext|>")
    return model


def prompt_content(question: str, image: Image.Image) -> list[dict]:
    """The user turn as verl's RLHFDataset builds it from the ``prompt`` column."""
    [turn] = chat_messages(question)
    content: list[dict] = []
    for i, piece in enumerate(turn["content"].split(IMAGE_PLACEHOLDER)):
        if i:
            content.append({"type": "image", "image": image})
        if piece:
            content.append({"type": "text", "text": piece})
    return [{"role": "user", "content": content}]


def encode_prompts(processor, examples: list[Example]) -> dict[str, torch.Tensor]:
    texts = [
        processor.apply_chat_template(prompt_content(e.question, e.image), add_generation_prompt=True, tokenize=False)
        for e in examples
    ]
    return processor(text=texts, images=[e.image for e in examples], return_tensors="pt", padding=True)


# ------------------------------------------------------------------------------------ warm start
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


# ------------------------------------------------------------------------------------ the world
def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def rows_for(examples: list[Example], split: str) -> list[dict]:
    return [
        data.make_row(
            question=e.question,
            images=[_png(e.image)],
            answer=e.answer,
            data_source=DATA_SOURCE,
            split=split,
            index=i,
            extra={"kind": e.kind, "clutter": e.clutter, "form": "number" if e.shown is None else "yes_no"},
        )
        for i, e in enumerate(examples)
    ]


def build_world(out: str | Path, config: WorldConfig = WorldConfig(), log=print) -> Path:
    """Build (or reuse) the smoke world in ``out``; a finished world with the same key is kept."""
    out = Path(out)
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
    corpus = [THINKING_INSTRUCTION, SYSTEM_PROMPT, *QUESTIONS.values()] + [e.question + e.response() for e in sft[:200]]
    tokenizer = build_tokenizer(corpus * 4, config.vocab_size)
    processor = build_processor(tokenizer, config.image_size)
    model = build_model(config, tokenizer)
    log(f"tiny Qwen2.5-VL: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, vocab {len(tokenizer)}")
    losses = warm_start(model, processor, sft, config, log=log)

    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging / "model")
    processor.save_pretrained(staging / "model")
    for name, examples in splits.items():
        data.write_rows(rows_for(examples, name), staging / "data" / f"{name}.parquet")
    info = {
        "key": key,
        "config": dataclasses.asdict(config),
        "build_seconds": round(time.perf_counter() - start, 1),
        "warm_start_losses": losses,
        "torch": torch.__version__,
    }
    (staging / "manifest.json").write_text(json.dumps(info, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(staging, out)
    log(f"smoke world {key} built in {info['build_seconds']} s -> {out}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the smoke world (tiny Qwen2.5-VL + task + warm start).")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sft-steps", type=int, default=WorldConfig.sft_steps)
    parser.add_argument("--check", action="store_true", help="then print the learnability figures")
    args = parser.parse_args(argv)
    world = build_world(args.out, WorldConfig(seed=args.seed, sft_steps=args.sft_steps))
    if args.check:
        print(json.dumps(learnability(world), indent=2))



# --------------------------------------------------------------------------------- learnability
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
    train = make_split(config.seed, "train", config.train_size, config.image_size)
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


if __name__ == "__main__":
    main()
