"""``durian_geometry3k``: Geometry3K test, in-domain. Free-form answers, always graded by rules.

The hub rows (hiyouga/geometry3k) start the problem with ``<image>`` (removed: the image goes
first, as everywhere), and carry the four ``choices`` the problem text never lists; the answer is
the chosen option's text (graded as it is, as NoisyRollout does), spaces and LaTeX included."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from datasets import Features, Image, List

from eval.scoring import LETTERS, Target
from eval.task import STRING, Adapter, Posed, options, png, required

if TYPE_CHECKING:
    from durian.world.task import Example


def doc_id(doc: dict) -> str:
    """The benchmark's own id of a document."""
    return str(doc.get("id") or "")


def pose(doc: dict) -> Posed:
    answer = required(doc, "answer")
    choices = list(doc.get("choices") or ())
    if len(answer) == 1 and answer in LETTERS[: len(choices)]:  # a letter, should a copy store one
        answer = str(choices[LETTERS.index(answer)]).strip()
    return Posed(doc["problem"].replace("<image>", "").strip(), Target(answer), doc_id(doc))


FEATURES = Features({"images": List(Image()), "problem": STRING, "answer": STRING, "choices": List(STRING)})


def fixture_rows(examples: list[Example], rng: random.Random) -> list[dict]:
    return [{"images": [png(e.image)], "problem": f"<image>{e.question}", "answer": e.answer,
             "choices": options(rng, e.answer)} for e in examples]


ADAPTER = Adapter("geometry3k", doc_id=doc_id, visuals=lambda doc: doc["images"], pose=pose,
                  features=FEATURES, fixture_rows=fixture_rows)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
