"""``durian_hallusionbench``: HallusionBench, visual questions only. As NoisyRollout, the question is
kept up to its first "?" and the answer forced to \\boxed{yes}/\\boxed{no}; always scored by rules,
with one of two extractions: ``lenient`` (the default: eval.scoring's order, boxed then "answer is"
then a yes/no word) or ``strict`` (NoisyRollout's, the paper protocol: the last \\boxed{} only, no
fallback). ``gt_answer`` is the string "1" or "0"; rows without an image (``visual_input`` "0") are
left out. aAcc (per question), qAcc and fAcc as sub-scores, accuracy by category."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import TYPE_CHECKING

from datasets import Features, Image

from durian.prompt import YES_NO_INSTRUCTION
from durian.world.task import CHECKS
from eval.scoring import Target
from eval.task import STRING, Adapter, Posed, png, required

if TYPE_CHECKING:
    from durian.world.task import Example

IDS = ("category", "subcategory", "set_id", "figure_id", "question_id")


def process_docs(dataset):
    """Visual questions only (``visual_input`` != "0", an image present), as NoisyRollout. Decides
    without decoding the images, so an undecodable one is left to the bad-row check (eval.rows)."""
    raw = dataset.cast_column("image", Image(decode=False))
    kept = raw.filter(lambda doc: str(doc["visual_input"]) != "0" and doc["image"] is not None)
    return kept.cast_column("image", Image())


def doc_id(doc: dict) -> str:
    """The benchmark's own id of a document."""
    return "_".join(str(doc[k]) for k in IDS)


def pose(doc: dict) -> Posed:
    question = doc["question"].strip()
    question = question.split("?")[0] + "?" if "?" in question else question
    gold = required(doc, "gt_answer")
    if gold not in ("0", "1"):
        raise ValueError(f"gt_answer: '1' or '0', got {doc['gt_answer']!r}")
    answer = "yes" if gold == "1" else "no"
    return Posed(f"{question} {YES_NO_INSTRUCTION}", Target(answer, "yesno"), doc_id(doc))


# ------------------------------------------------------------------------------- sub-scores
def hallusionbench_scores(records: list[dict]) -> dict[str, float]:
    """aAcc (per question), qAcc (all figures of a question right), fAcc (all questions of a figure right)."""
    by_question: dict[str, list[bool]] = defaultdict(list)
    by_figure: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        base = f"{r['category']}_{r['subcategory']}_{r['set_id']}"
        by_question[f"{base}_{r['question_id']}"].append(r["correct"])
        by_figure[f"{base}_{r['figure_id']}"].append(r["correct"])
    return {
        "aAcc": sum(r["correct"] for r in records) / len(records),
        "qAcc": sum(all(v) for v in by_question.values()) / len(by_question),
        "fAcc": sum(all(v) for v in by_figure.values()) / len(by_figure),
    }


def aggregate_qAcc(records: list[dict]) -> float:  # named after the metric
    return hallusionbench_scores(records)["qAcc"]


def aggregate_fAcc(records: list[dict]) -> float:  # named after the metric
    return hallusionbench_scores(records)["fAcc"]


# --------------------------------------------------------------------------------- fixture
FEATURES = Features(
    {
        "category": STRING, "subcategory": STRING, "visual_input": STRING, "set_id": STRING, "figure_id": STRING,
        "sample_note": STRING, "question_id": STRING, "question": STRING, "gt_answer_details": STRING,
        "gt_answer": STRING, "filename": STRING, "image": Image(),
    }
)


def fixture_rows(examples: list[Example], rng: random.Random) -> list[dict]:
    """The world task's yes/no questions, two figures per question; plus two non-visual rows."""
    rows = []
    for i, e in enumerate(examples):
        rows.append(
            {
                "category": "VD", "subcategory": "figure" if e.kind == "count" else "math",
                "visual_input": "1", "set_id": str(i // 4), "figure_id": str(i % 2), "sample_note": e.kind,
                "question_id": str(i // 2 % 2), "question": CHECKS[e.kind].format(n=e.shown),
                "gt_answer_details": f"The image shows {e.value}.", "gt_answer": "1" if e.answer == "yes" else "0",
                "filename": f"./VD/{e.kind}/{i}.png", "image": png(e.image),
            }
        )
    for j in range(2):  # not visual questions: the task leaves them out
        rows.append(
            {
                "category": "VS", "subcategory": "chart", "visual_input": "0", "set_id": str(100 + j),
                "figure_id": "0", "sample_note": "no image", "question_id": "0",
                "question": "Is a triangle a polygon with three sides?", "gt_answer_details": "Yes.",
                "gt_answer": "1", "filename": "", "image": None,
            }
        )
    return rows


ADAPTER = Adapter(
    "hallusionbench", doc_id=doc_id, visuals=lambda doc: [doc["image"]], pose=pose,
    fields=lambda doc: {k: str(doc[k]) for k in IDS}, groups=("category",), metrics=("qAcc", "fAcc"),
    scores=lambda records: hallusionbench_scores(records) if records else {},
    features=FEATURES, fixture_rows=fixture_rows, fixture_form="yes_no",  # its answers are yes/no
    extractions=("lenient", "strict"),
)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
