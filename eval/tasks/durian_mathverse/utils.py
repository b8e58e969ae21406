"""``durian_mathverse``: MathVerse testmini. The question as ``query_cot`` poses it; multi-choice
answers are letters, their options parsed from the question. Accuracy by problem version; the
judge reads ``question_for_eval`` and decides whether the answer matches."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from datasets import Features, Image

from durian.world.task import Stress
from eval import scoring
from eval.scoring import LETTERS, Target
from eval.task import STRING, Adapter, Posed, options, png, required

if TYPE_CHECKING:
    from durian.world.task import Example

VERSIONS = ["Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only"]


def doc_id(doc: dict) -> str:
    """The benchmark's own id of a document."""
    return str(doc["sample_index"])


def pose(doc: dict) -> Posed:
    question = doc["query_cot"]
    if doc["question_type"] == "multi-choice":
        # Vision Only (and some Vision Dominant) rows draw the options in the diagram: `question` is
        # empty or lists none, so the gold letter is graded alone (eval.scoring.choice_target)
        parsed = scoring.parse_options(doc.get("question") or "") or scoring.parse_options(
            doc.get("question_for_eval") or "")
        target = scoring.choice_target(required(doc, "answer"), parsed)
    else:
        target = Target(required(doc, "answer"))
    # the judge reads `question_for_eval` (the question without the answer-format hint)
    return Posed(question, target, doc_id(doc), doc.get("question_for_eval"))


FEATURES = Features(
    {
        "sample_index": STRING, "problem_index": STRING, "problem_version": STRING, "question": STRING,
        "image": Image(), "answer": STRING, "question_type": STRING,
        "metadata": {"split": STRING, "source": STRING, "subject": STRING, "subfield": STRING},
        "query_wo": STRING, "query_cot": STRING, "question_for_eval": STRING,
    }
)


# The real rows' prompts when the question is only in the image (Vision Only): the instruction alone.
VISION_ONLY_QUERY = {
    "multi-choice": "According to the question shown in the image, please first conduct reasoning, and then "
                    "answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.",
    "free-form": "According to the question shown in the image, please first conduct reasoning, and then answer "
                 "the question and provide the final value, e.g., 1, 2.5, 300, at the end.",
}


def fixture_rows(examples: list[Example], rng: random.Random) -> list[dict]:
    """Every third row multiple choice. Vision Only rows (every fifth) as the real ones: `question`
    empty, the prompt the instruction alone, no options in any text; Vision Dominant choice rows
    list their options only in `question_for_eval`."""
    rows = []
    for i, e in enumerate(examples):
        choice, version = i % 3 == 2, VERSIONS[i % len(VERSIONS)]
        question, answer, listed = e.question, e.answer, e.question
        if choice:
            choices = options(rng, e.answer)
            listed += "\nChoices:\n" + "\n".join(f"{LETTERS[j]}:{o}" for j, o in enumerate(choices))
            answer = LETTERS[choices.index(e.answer)]
            question = question if version == "Vision Dominant" else listed  # options only in the image
        kind = "multi-choice" if choice else "free-form"
        query = VISION_ONLY_QUERY[kind] if version == "Vision Only" else question
        rows.append(
            {
                "sample_index": str(i + 1), "problem_index": str(i // len(VERSIONS) + 1),
                "problem_version": version, "question": "" if version == "Vision Only" else question,
                "image": png(e.image), "answer": answer, "question_type": kind,
                "metadata": {
                    "split": "testmini", "source": "durian-smoke", "subject": "Plane Geometry", "subfield": "Length",
                },
                "query_wo": query, "query_cot": query,
                "question_for_eval": e.question if version == "Vision Only" else listed,
            }
        )
    return rows


ADAPTER = Adapter(
    "mathverse", doc_id=doc_id, visuals=lambda doc: [doc["image"]], pose=pose, groups=("problem_version",),
    judge="match", features=FEATURES, fixture_rows=fixture_rows,
    fixture_stress=Stress(kinds=("sides",)),  # plane geometry: the polygons only
)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
