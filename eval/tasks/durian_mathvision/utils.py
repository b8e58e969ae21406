"""``durian_mathvision``: MathVision testmini. The options are listed under the question as
letters and multiple choice is scored by letter. Accuracy by subject; judged by extraction."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from datasets import Features, Image, List

from eval.scoring import LETTERS, Target
from eval.task import INT, STRING, Adapter, Posed, options, png

if TYPE_CHECKING:
    from durian.world.task import Example


def pose(doc: dict) -> Posed:
    choices = tuple(doc["options"] or ())
    question = doc["question"]
    if choices:
        listed = "\n".join(f"{letter}. {option}" for letter, option in zip(LETTERS, choices))
        question = f"{question}\nChoices:\n{listed}"
        target = Target(doc["answer"].strip(), "choice", choices)
    else:
        target = Target(doc["answer"])
    return Posed(question, target, str(doc["id"]))


FEATURES = Features(
    {
        "id": STRING, "question": STRING, "options": List(STRING), "image": STRING, "decoded_image": Image(),
        "answer": STRING, "solution": STRING, "level": INT, "subject": STRING,
    }
)


def fixture_rows(examples: list[Example], rng: random.Random) -> list[dict]:
    rows = []
    for i, e in enumerate(examples):
        choices = options(rng, e.answer, 5) if i % 3 == 2 else []
        rows.append(
            {
                "id": str(i + 1), "question": e.question, "options": choices, "image": f"images/{i + 1}.jpg",
                "decoded_image": png(e.image),
                "answer": LETTERS[choices.index(e.answer)] if choices else e.answer,
                "solution": e.response(), "level": 1 + i % 5,
                "subject": "counting" if e.kind == "count" else "metric geometry - angle",
            }
        )
    return rows


ADAPTER = Adapter(
    "mathvision", visuals=lambda doc: [doc["decoded_image"]], pose=pose, groups=("subject",),
    judge="extract", features=FEATURES, fixture_rows=fixture_rows,
)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
