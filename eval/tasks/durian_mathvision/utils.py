"""``durian_mathvision``: MathVision, split ``testmini`` (304, the yaml's) or ``test`` (the full 3,040,
NoisyRollout's and the paper scale's). The options are listed under the question as letters and
multiple choice is scored by letter. Accuracy by subject; judged by extraction."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from datasets import Features, Image, List

from durian.world.task import Stress
from eval import scoring
from eval.scoring import LETTERS, Target
from eval.task import INT, STRING, Adapter, Posed, options, png, required

if TYPE_CHECKING:
    from durian.world.task import Example


def doc_id(doc: dict) -> str:
    """The benchmark's own id of a document."""
    return str(doc["id"])


def pose(doc: dict) -> Posed:
    """Options listed under the question. Real rows also have empty options with a letter answer and
    options that are just the letters (both: drawn in the image; the letter alone is graded); the
    question's ``<image1>``-style placeholders are kept, as lmms-eval's task does."""
    choices = tuple(str(o).strip() for o in doc.get("options") or ())
    question, answer = doc["question"], required(doc, "answer")
    letters_only = bool(choices) and all(o in LETTERS and o == LETTERS[i] for i, o in enumerate(choices))
    if letters_only:
        question = f"{question}\nChoices: {', '.join(choices)}"
        target = scoring.choice_target(answer, choices)
    elif choices:
        listed = "\n".join(f"{letter}. {option}" for letter, option in zip(LETTERS, choices))
        question = f"{question}\nChoices:\n{listed}"
        target = scoring.choice_target(answer, choices)
    elif len(answer) == 1 and answer in LETTERS[:5]:  # a letter answer, the options only in the image
        target = scoring.choice_target(answer)
    else:
        target = Target(answer)
    return Posed(question, target, doc_id(doc))


FEATURES = Features(
    {
        "id": STRING, "question": STRING, "options": List(STRING), "image": STRING, "decoded_image": Image(),
        "answer": STRING, "solution": STRING, "level": INT, "subject": STRING,
    }
)


def fixture_rows(examples: list[Example], rng: random.Random) -> list[dict]:
    """Every third row multiple choice with its options as text; as real rows, every fourth of those
    has options that are only the letters, every fifth row no options but a letter answer (the
    choices drawn in the image: the question lists them, the row does not)."""
    rows = []
    for i, e in enumerate(examples):
        choices = options(rng, e.answer, 5) if i % 3 == 2 or i % 5 == 4 else []
        answer = LETTERS[choices.index(e.answer)] if choices else e.answer
        question, listed = e.question, choices
        if i % 5 == 4:  # options in the picture: the text names them, the row's options are empty
            question, listed = e.question + " " + ", ".join(f"({LETTERS[j]}) {o}" for j, o in enumerate(choices)), []
        elif i % 12 == 11:
            question = e.question + " " + ", ".join(f"({LETTERS[j]}) {o}" for j, o in enumerate(choices))
            listed = list(LETTERS[: len(choices)])
        rows.append(
            {
                "id": str(i + 1), "question": f"<image1>{question}" if i % 7 == 6 else question, "options": listed,
                "image": f"images/{i + 1}.jpg", "decoded_image": png(e.image), "answer": answer,
                "solution": e.response(), "level": 1 + i % 5,
                "subject": "counting" if e.kind == "count" else "metric geometry - angle",
            }
        )
    return rows


ADAPTER = Adapter(
    "mathvision", doc_id=doc_id, visuals=lambda doc: [doc["decoded_image"]], pose=pose, groups=("subject",),
    judge="extract", features=FEATURES, fixture_rows=fixture_rows, splits=("test",),
    fixture_stress=Stress(clutter=(4, 4)),  # heavier clutter than any training image
)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
