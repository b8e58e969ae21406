"""The smoke world's task: shapes to count and polygons whose sides to count, rendered from a
seed, with their questions (a number, or a yes/no check of a stated number) and ground truth.

PIL only (no torch): the evaluation fixtures (``eval.fixtures``) draw their examples from here
without loading the model stack. The world built on it (tiny Qwen2.5-VL, warm start, cache) is
``durian.world.build``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

from durian.prompt import IMAGE_PLACEHOLDER, YES_NO_INSTRUCTION, chat_messages

DATA_SOURCE = "durian/smoke-shapes"
SPLITS = ("train", "val", "test")
# The code a built world depends on: a change to any of these files makes a new world key.
WORLD_CODE = ("world/task.py", "world/model.py", "world/warm_start.py", "world/build.py", "data/prepare.py", "prompt.py")


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    seed: int = 0
    image_size: int = 112  # 8 x 8 patches of 14 px -> 16 visual tokens after the 2 x 2 merger
    train_size: int = 1024
    val_size: int = 64
    test_size: int = 64
    sft_size: int = 8192
    vocab_size: int = 400
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    vision_hidden_size: int = 64
    vision_depth: int = 2
    vision_pretrain_steps: int = 800
    sft_steps: int = 300
    sft_batch_size: int = 32
    sft_lr: float = 3e-3
    text_steps: int = 0  # stage 0 of the warm start (text only), before the vision pretraining
    text_batch_size: int = 32
    answer_bias: float = 0.0  # share of warm-start answers planted wrong (``plant_answer_bias``)
    answer_bias_kind: str = "neighbour"  # what is planted: the true answer's neighbour, or the form's default

    def key(self) -> str:
        package = Path(__file__).resolve().parents[1]
        code = b"".join((package / name).read_bytes() for name in WORLD_CODE)
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode() + code
        return hashlib.sha256(blob).hexdigest()[:16]


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
# The multiple-choice form: the count among four or five options, answered by letter, listed in one of
# the ways the benchmarks list them (MathVista's "(A) 2" lines, MathVerse's "A:2", MathVision's "A. 2"
# lines and inline "(A) 2, (B) 3", WeMath's "Options: A. 2; B. 3"), so that a model's multiple-choice
# errors are about the image rather than about a listing it has never seen.
LETTERS = "ABCDE"
LISTINGS = {
    "parenthesized": lambda pairs: "\nChoices:\n" + "\n".join(f"({x}) {c}" for x, c in pairs),
    "colon": lambda pairs: "\nChoices:\n" + "\n".join(f"{x}:{c}" for x, c in pairs),
    "dotted": lambda pairs: "\nChoices:\n" + "\n".join(f"{x}. {c}" for x, c in pairs),
    "inline": lambda pairs: " " + ", ".join(f"({x}) {c}" for x, c in pairs),
    "semicolon": lambda pairs: "\n\nOptions: " + "; ".join(f"{x}. {c}" for x, c in pairs),
}
FORMS = ("number", "choice", "yes_no")


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
    shown: int | None = None  # the number a yes/no question states; None for the other forms
    choices: tuple[int, ...] | None = None  # the options of a multiple-choice question, in letter order

    @property
    def form(self) -> str:
        return "yes_no" if self.shown is not None else "choice" if self.choices else "number"

    def response(self) -> str:
        # Short on purpose: under token-mean policy gradients every token of a response shares its
        # reward, so words that carry no information only add noise to what RL learns.
        thought = f"There are {self.value} shapes." if self.kind == "count" else f"It has {self.value} sides."
        if self.shown is not None:  # a distinct opening: the first token already tells the forms apart
            thought = f"Claim {self.shown}. {thought[:-1]}, so {self.answer}."
        elif self.choices:
            thought = f"Options. {thought[:-1]}: ({self.answer})."
        return f"<think>{thought}</think> \\boxed{{{self.answer}}}"


# The answer a biased model gives whatever it sees (``answer_bias_kind="default"``): a yes-bias, the
# first option, one number, the priors real VLMs fall back on.
DEFAULT_ANSWERS = {"number": "3", "choice": "A", "yes_no": "yes"}
BIAS_KINDS = ("neighbour", "default")


def plant_answer_bias(examples: list[Example], share: float, rng: random.Random,
                      kind: str = "neighbour") -> list[Example]:
    """The warm start's systematic error: in ``share`` of the examples the box and the thought's
    conclusion give a planted answer while the thought still states the true count. ``neighbour``
    plants the true answer's neighbour (the count plus one, the next option's letter, yes and no
    swapped); ``default`` plants the form's default answer (``DEFAULT_ANSWERS``), which no count
    leads to, so RL cannot pay for it with a matching miscount. A base model trained so reads the
    image but reports the planted answer more often than the right one, which it still samples: the
    gap between sampling and greedy accuracy that RL with verifiable rewards closes."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"answer_bias: a share from 0 to 1, got {share}")
    if kind not in BIAS_KINDS:
        raise ValueError(f"answer_bias_kind: one of {', '.join(BIAS_KINDS)}, got {kind!r}")
    planted = []
    for e in examples:
        if rng.random() >= share:
            planted.append(e)
        elif kind == "default":
            planted.append(dataclasses.replace(e, answer=DEFAULT_ANSWERS[e.form]))
        elif e.form == "yes_no":
            planted.append(dataclasses.replace(e, answer="no" if e.answer == "yes" else "yes"))
        elif e.form == "choice":
            planted.append(dataclasses.replace(e, answer=LETTERS[(e.choices.index(e.value) + 1) % len(e.choices)]))
        else:
            planted.append(dataclasses.replace(e, answer=str(e.value + 1)))
    return planted


def choice_options(rng: random.Random, value: int, k: int = 4) -> list[int]:
    """``k`` sorted options from 1 to 7, one of them ``value``."""
    return sorted(rng.sample([v for v in range(1, 8) if v != value], k - 1) + [value])


def choice_question(kind: str, choices: list[int], listing: str = "parenthesized") -> str:
    return QUESTIONS[kind] + LISTINGS[listing](zip(LETTERS, choices))


def _background(rng: random.Random, size: int, clutter: int) -> Image.Image:
    """Visual complexity grows with clutter: plain, faint grid, noisy lines, speckle; 4 (evaluation
    only) doubles the lines and speckle."""
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
    if clutter >= 4:  # heavier than any training image: evaluation only (Stress)
        for _ in range(rng.randint(10, 16)):
            points = [(rng.randint(0, size), rng.randint(0, size)) for _ in range(2)]
            draw.line(points, fill=tuple(rng.randint(60, 200) for _ in range(3)), width=2)
        for _ in range(rng.randint(300, 500)):
            x, y = rng.randint(0, size - 1), rng.randint(0, size - 1)
            draw.point((x, y), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return image


def _polygon(cx: float, cy: float, radius: float, sides: int, angle: float) -> list[tuple[float, float]]:
    return [
        (cx + radius * math.cos(angle + 2 * math.pi * k / sides), cy + radius * math.sin(angle + 2 * math.pi * k / sides))
        for k in range(sides)
    ]


@dataclasses.dataclass(frozen=True)
class Stress:
    """What a set of examples stresses; the default is the training mix. The evaluation fixtures
    give each benchmark its own (``fixture_stress`` of its adapter)."""

    kinds: tuple[str, ...] = ("count", "sides")
    clutter: tuple[int, int] = (0, 3)  # inclusive; level 4 is heavier than any training image
    more_to_count: bool = False  # only the upper half of each kind's range: the most shapes, the most sides

    def values(self, kind: str) -> tuple[int, int]:
        low, high = RANGES[kind]
        return ((low + high + 1) // 2, high) if self.more_to_count else (low, high)


TRAINING_MIX = Stress()


def render_example(rng: random.Random, size: int, form: str = "number", stress: Stress = TRAINING_MIX) -> Example:
    kind = rng.choice(list(stress.kinds))
    clutter = rng.randint(*stress.clutter)
    image = _background(rng, size, clutter)
    draw = ImageDraw.Draw(image)
    value = rng.randint(*stress.values(kind))
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
    if form == "choice":
        choices = choice_options(rng, value, rng.choice([4, 5]))
        letter = LETTERS[choices.index(value)]
        return Example(image, choice_question(kind, choices, rng.choice(sorted(LISTINGS))), letter, kind, clutter, value, choices=tuple(choices))
    if form != "yes_no":
        raise ValueError(f"form: must be 'number', 'choice' or 'yes_no', got {form!r}")
    low, high = RANGES[kind]
    shown = value if rng.random() < 0.5 else rng.choice([v for v in range(low, high + 1) if v != value])
    return Example(image, yes_no_question(kind, shown), "yes" if shown == value else "no", kind, clutter, value, shown)


def make_split(seed: int, split: str, n: int, size: int, forms: tuple[str, ...] = FORMS,
               stress: Stress = TRAINING_MIX) -> list[Example]:
    """n examples; the i-th takes the form ``forms[i % len(forms)]`` (number, choice or yes/no question)."""
    rng = random.Random(f"{seed}-{split}")
    return [render_example(rng, size, forms[i % len(forms)], stress) for i in range(n)]


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
