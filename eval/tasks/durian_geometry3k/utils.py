"""``durian_geometry3k``: Geometry3K test, in-domain. Free-form answers, always graded by rules."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from datasets import Features, Image, List

from eval.scoring import Target
from eval.task import STRING, Adapter, Posed, png

if TYPE_CHECKING:
    from durian.world.task import Example


def pose(doc: dict) -> Posed:
    return Posed(doc["problem"].replace("<image>", "").strip(), Target(doc["answer"]), "")


FEATURES = Features({"images": List(Image()), "problem": STRING, "answer": STRING})


def fixture_rows(examples: list[Example], rng: random.Random) -> list[dict]:
    return [{"images": [png(e.image)], "problem": f"<image>{e.question}", "answer": e.answer} for e in examples]


ADAPTER = Adapter("geometry3k", visuals=lambda doc: doc["images"], pose=pose, features=FEATURES,
                  fixture_rows=fixture_rows)
doc_to_visual, doc_to_text, process_results = ADAPTER.hooks()
