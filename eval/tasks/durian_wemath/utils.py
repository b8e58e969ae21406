"""``durian_wemath``: WeMath testmini. The options follow the question and answers are letters.
Per-question accuracy (by step kind) and WeMath's own strict and loose scores over complete
multi-step groups; the judge extracts one option letter."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import TYPE_CHECKING

from datasets import Features, Image

from eval import scoring
from eval.scoring import LETTERS
from durian.world.task import Stress
from eval.task import INT, STRING, Adapter, Posed, options, png, required

if TYPE_CHECKING:
    from durian.world.task import Example


def doc_id(doc: dict) -> str:
    """The benchmark's own id of a document."""
    return f"{doc['ID']}@{doc['key']}"


def pose(doc: dict) -> Posed:
    question = f"{doc['question']}\n\nOptions: {doc['option']}"
    # `option` is one string, ";"-separated with irregular spacing (eval.scoring.parse_options)
    target = scoring.choice_target(required(doc, "answer"), scoring.parse_options(doc["option"]))
    return Posed(question, target, doc_id(doc))


def fields(doc: dict) -> dict[str, str]:
    return {"key_kind": str(doc["key"]).split("_")[0], "group_id": str(doc["ID"]), "key": str(doc["key"])}


# ------------------------------------------------------------------------------- sub-scores
def wemath_scores(records: list[dict]) -> dict[str, float | int] | None:
    """WeMath's four-dimensional scores over complete multi-step groups (None when there are none).

    A group is one problem's sub-questions (``2steps_1``, ``2steps_2``...) and its composite
    (``2steps_multi``). IK: composite wrong and some step wrong; IG: steps all right, composite
    wrong; CM: composite right and steps all right (strict) or any right (loose); RM the rest of
    the composite-right groups. Score = (groups - 0.5 IG - RM - IK) / groups.
    """
    by_group: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for r in records:
        steps, _, part = r["key"].partition("_")
        if steps in ("2steps", "3steps"):
            by_group[(steps, r["group_id"])][part] = r["correct"]
    counts = {"IK": 0, "IG": 0, "CM_strict": 0, "CM_loose": 0, "RM_strict": 0, "RM_loose": 0}
    complete = 0
    for (steps, _), parts in by_group.items():
        needed = [str(i) for i in range(1, int(steps[0]) + 1)]
        if "multi" not in parts or any(p not in parts for p in needed):
            continue
        complete += 1
        step_results = [parts[p] for p in needed]
        if not parts["multi"]:
            counts["IG" if all(step_results) else "IK"] += 1
        else:
            counts["CM_strict" if all(step_results) else "RM_strict"] += 1
            counts["CM_loose" if any(step_results) else "RM_loose"] += 1
    if not complete:
        return None
    base = complete - 0.5 * counts["IG"] - counts["IK"]
    return {
        "groups": complete,
        **counts,
        "strict": (base - counts["RM_strict"]) / complete,
        "loose": (base - counts["RM_loose"]) / complete,
    }


def aggregate_strict(records: list[dict]) -> float | None:
    scores = wemath_scores(records)
    return None if scores is None else scores["strict"]


def aggregate_loose(records: list[dict]) -> float | None:
    scores = wemath_scores(records)
    return None if scores is None else scores["loose"]


# --------------------------------------------------------------------------------- fixture
FEATURES = Features(
    {
        "ID": STRING, "split": STRING, "knowledge concept": STRING, "question": STRING, "option": STRING,
        "answer": STRING, "image_path": Image(), "key": STRING, "question number": INT,
        "knowledge concept description": STRING,
    }
)


def fixture_rows(examples: list[Example], rng: random.Random) -> list[dict]:
    """Groups of 2-step (2 sub-questions + composite) and 3-step (3 + composite) problems."""
    rows, i, group = [], 0, 0
    while i < len(examples):
        steps = 2 if group % 2 == 0 else 3
        keys = [f"{steps}steps_{k}" for k in range(1, steps + 1)] + [f"{steps}steps_multi"]
        for key in keys:
            if i >= len(examples):
                break
            e = examples[i]
            choices = options(rng, e.answer)
            option = _option_string(choices, i)
            rows.append(
                {
                    "ID": f"{steps}steps_{group + 1}", "split": "testmini", "knowledge concept": "Counting",
                    "question": e.question, "option": option, "answer": LETTERS[choices.index(e.answer)],
                    "image_path": png(e.image), "key": key, "question number": i + 1,
                    "knowledge concept description": "Count objects or sides in a figure.",
                }
            )
            i += 1
        group += 1
    return rows


def _option_string(choices: list[str], i: int) -> str:
    """The real `option` strings' shapes in turn: "; " separators, none (";B."), runs of spaces,
    a trailing period inside an option, and "No correct answer" as the fifth option."""
    parts = [f"{LETTERS[j]}. {o}" for j, o in enumerate(choices)]
    shape = i % 4
    if shape == 1:
        return ";".join(parts) + "; E. No correct answer"
    if shape == 2:
        return ";    ".join(parts) + "; E. No correct answer"
    if shape == 3:
        return "; ".join(p + "." if j == 1 else p for j, p in enumerate(parts)) + "; E. No correct answer"
    return "; ".join(parts) + "; E. No correct answer"


ADAPTER = Adapter(
    "wemath", doc_id=doc_id, visuals=lambda doc: [doc["image_path"]], pose=pose, fields=fields, groups=("key_kind",),
    judge="letter", metrics=("wemath_strict", "wemath_loose"),
    scores=lambda records: {"wemath": wemath_scores(records)}, features=FEATURES, fixture_rows=fixture_rows,
    fixture_stress=Stress(more_to_count=True),  # more steps of counting: the most shapes, the most sides
)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
