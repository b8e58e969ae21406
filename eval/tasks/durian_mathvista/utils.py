"""``durian_mathvista``: MathVista testmini. The question as ``query`` poses it; the hub stores a
multiple-choice answer as the option's text, scored here by its letter; float answers are compared
at the document's precision. Accuracy by task and question type; judged by extraction."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from datasets import Features, Image, List

from eval import scoring
from eval.scoring import LETTERS, Target
from eval.task import FLOAT, INT, STRING, Adapter, Posed, options, png

if TYPE_CHECKING:
    from durian.world.task import Example


def pose(doc: dict) -> Posed:
    precision = doc.get("precision")
    precision = int(precision) if doc.get("answer_type") == "float" and precision is not None else None
    if doc["question_type"] == "multi_choice":
        target = Target(scoring.letter_of(doc["answer"], doc["choices"]), "choice", tuple(doc["choices"]))
    else:
        target = Target(doc["answer"], precision=precision)
    return Posed(doc["query"], target, str(doc["pid"]))


def fields(doc: dict) -> dict[str, str]:
    return {"task": str(doc["metadata"]["task"]), "question_type": str(doc["question_type"])}


FEATURES = Features(
    {
        "pid": STRING, "question": STRING, "image": STRING, "decoded_image": Image(), "choices": List(STRING),
        "unit": STRING, "precision": FLOAT, "answer": STRING, "question_type": STRING, "answer_type": STRING,
        "metadata": {
            "category": STRING, "context": STRING, "grade": STRING, "img_height": INT, "img_width": INT,
            "language": STRING, "skills": List(STRING), "source": STRING, "split": STRING, "task": STRING,
        },
        "query": STRING,
    }
)


def fixture_rows(examples: list[Example], rng: random.Random) -> list[dict]:
    rows = []
    for i, e in enumerate(examples):
        choice = i % 3 == 2
        choices = options(rng, e.answer) if choice else None
        query = e.question
        if choice:
            query += "\nChoices:\n" + "\n".join(f"({LETTERS[j]}) {c}" for j, c in enumerate(choices))
        rows.append(
            {
                "pid": str(i + 1), "question": e.question, "image": f"images/{i + 1}.png",
                "decoded_image": png(e.image), "choices": choices, "unit": None, "precision": None,
                "answer": e.answer, "question_type": "multi_choice" if choice else "free_form",
                "answer_type": "text" if choice else "integer",
                "metadata": {
                    "category": "math-targeted-vqa", "context": "synthetic scene", "grade": "elementary school",
                    "img_height": e.image.height, "img_width": e.image.width, "language": "english",
                    "skills": ["arithmetic reasoning"], "source": "durian-smoke", "split": "testmini",
                    "task": "figure question answering" if e.kind == "count" else "geometry problem solving",
                },
                "query": query,
            }
        )
    return rows


ADAPTER = Adapter(
    "mathvista", visuals=lambda doc: [doc["decoded_image"]], pose=pose, fields=fields,
    groups=("task", "question_type"), judge="extract", features=FEATURES, fixture_rows=fixture_rows,
)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
