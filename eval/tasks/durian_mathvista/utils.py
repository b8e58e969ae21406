"""``durian_mathvista``: MathVista testmini. The question as ``query`` poses it; the hub stores a
multiple-choice answer as the option's text, scored here by its letter; float answers are compared
at the document's precision. Accuracy by task and question type; judged by extraction."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from datasets import Features, Image, List

from eval import scoring
from eval.scoring import LETTERS, Target
from eval.task import FLOAT, INT, STRING, Adapter, Posed, options, png, required

if TYPE_CHECKING:
    from durian.world.task import Example


def doc_id(doc: dict) -> str:
    """The benchmark's own id of a document."""
    return str(doc["pid"])


def pose(doc: dict) -> Posed:
    """``precision`` is null (None, or NaN from a float column) unless the answer is a float;
    ``choices`` and ``unit`` are null for free-form questions."""
    precision = doc.get("precision")
    known = precision is not None and not math.isnan(float(precision))
    precision = int(precision) if doc.get("answer_type") == "float" and known else None
    if doc["question_type"] == "multi_choice":
        choices = [str(c) for c in doc.get("choices") or ()]
        answer = required(doc, "answer")
        if answer not in choices and answer.strip() in [c.strip() for c in choices]:
            choices = [c.strip() for c in choices]
            answer = answer.strip()
        target = Target(scoring.letter_of(answer, choices), "choice", tuple(choices))
    else:
        target = Target(required(doc, "answer"), precision=precision)
    return Posed(doc["query"], target, doc_id(doc))


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
    """As the real rows: ``choices`` null for free-form questions, ``precision`` null unless the
    answer is a float (every fourth free-form row: "3.0" at precision 1), ``unit`` null or a unit."""
    rows = []
    for i, e in enumerate(examples):
        choice, decimal = i % 3 == 2, i % 4 == 1 and i % 3 != 2
        choices = options(rng, e.answer) if choice else None
        unit = "sides" if e.kind != "count" and not choice and i % 2 else None
        query = e.question + (f" (Unit: {unit})" if unit else "")
        if choice:
            query += "\nChoices:\n" + "\n".join(f"({LETTERS[j]}) {c}" for j, c in enumerate(choices))
        rows.append(
            {
                "pid": str(i + 1), "question": e.question, "image": f"images/{i + 1}.png",
                "decoded_image": png(e.image), "choices": choices, "unit": unit, "precision": 1.0 if decimal else None,
                "answer": f"{e.answer}.0" if decimal else e.answer,
                "question_type": "multi_choice" if choice else "free_form",
                "answer_type": "text" if choice else "float" if decimal else "integer",
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
    "mathvista", doc_id=doc_id, visuals=lambda doc: [doc["decoded_image"]], pose=pose, fields=fields,
    groups=("task", "question_type"), judge="extract", features=FEATURES, fixture_rows=fixture_rows,
)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
