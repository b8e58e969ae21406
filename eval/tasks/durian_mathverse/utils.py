"""``durian_mathverse``: MathVerse testmini. The question as ``query_cot`` poses it; multi-choice
answers are letters, their options parsed from the question. Accuracy by problem version; the
judge reads ``question_for_eval`` and decides whether the answer matches."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from datasets import Features, Image

from eval import scoring
from eval.scoring import LETTERS, Target
from eval.task import STRING, Adapter, Posed, options, png

if TYPE_CHECKING:
    from durian.world.task import Example

VERSIONS = ["Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only"]


def pose(doc: dict) -> Posed:
    question = doc["query_cot"]
    if doc["question_type"] == "multi-choice":
        target = Target(doc["answer"].strip(), "choice", scoring.parse_options(doc["question"]))
    else:
        target = Target(doc["answer"])
    # the judge reads `question_for_eval` (the question without the answer-format hint)
    return Posed(question, target, str(doc["sample_index"]), doc.get("question_for_eval"))


FEATURES = Features(
    {
        "sample_index": STRING, "problem_index": STRING, "problem_version": STRING, "question": STRING,
        "image": Image(), "answer": STRING, "question_type": STRING,
        "metadata": {"split": STRING, "source": STRING, "subject": STRING, "subfield": STRING},
        "query_wo": STRING, "query_cot": STRING, "question_for_eval": STRING,
    }
)


def fixture_rows(examples: list[Example], rng: random.Random) -> list[dict]:
    rows = []
    for i, e in enumerate(examples):
        choice = i % 3 == 2
        question, answer = e.question, e.answer
        if choice:
            choices = options(rng, e.answer)
            question += "\nChoices:\n" + "\n".join(f"{LETTERS[j]}:{o}" for j, o in enumerate(choices))
            answer = LETTERS[choices.index(e.answer)]
        rows.append(
            {
                "sample_index": str(i + 1), "problem_index": str(i // len(VERSIONS) + 1),
                "problem_version": VERSIONS[i % len(VERSIONS)], "question": question, "image": png(e.image),
                "answer": answer, "question_type": "multi-choice" if choice else "free-form",
                "metadata": {
                    "split": "testmini", "source": "durian-smoke", "subject": "Plane Geometry", "subfield": "Length",
                },
                "query_wo": question, "query_cot": question, "question_for_eval": question,
            }
        )
    return rows


ADAPTER = Adapter(
    "mathverse", visuals=lambda doc: [doc["image"]], pose=pose, groups=("problem_version",),
    judge="match", features=FEATURES, fixture_rows=fixture_rows,
)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
