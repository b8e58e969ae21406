"""Smoke fixtures: each benchmark's own column schema, filled from the smoke task.

Questions and images come from :func:`durian.toy.make_split` (shape counting, polygon sides; the
yes/no form for HallusionBench), so the tiny smoke model answers some of them; the columns, types
and answer conventions (MathVista's option text, letter answers, WeMath's step groups,
HallusionBench's ``gt_answer`` "1"/"0") are the hub datasets'. Written as local parquet files
with images as encoded bytes in ``Image`` columns.

    python -m eval.fixtures --out /tmp/fixtures
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
from pathlib import Path

from datasets import Dataset, Features, Image, List, Value
from PIL import Image as PILImage

from durian.toy import CHECKS, Example, WorldConfig, make_split
from eval.benchmarks import BENCHMARKS
from eval.scoring import LETTERS

S, I64, F64 = Value("string"), Value("int64"), Value("float64")
FEATURES = {
    "mathvista": Features(
        {
            "pid": S, "question": S, "image": S, "decoded_image": Image(), "choices": List(S), "unit": S,
            "precision": F64, "answer": S, "question_type": S, "answer_type": S,
            "metadata": {
                "category": S, "context": S, "grade": S, "img_height": I64, "img_width": I64, "language": S,
                "skills": List(S), "source": S, "split": S, "task": S,
            },
            "query": S,
        }
    ),
    "mathverse": Features(
        {
            "sample_index": S, "problem_index": S, "problem_version": S, "question": S, "image": Image(),
            "answer": S, "question_type": S,
            "metadata": {"split": S, "source": S, "subject": S, "subfield": S},
            "query_wo": S, "query_cot": S, "question_for_eval": S,
        }
    ),
    "mathvision": Features(
        {
            "id": S, "question": S, "options": List(S), "image": S, "decoded_image": Image(), "answer": S,
            "solution": S, "level": I64, "subject": S,
        }
    ),
    "wemath": Features(
        {
            "ID": S, "split": S, "knowledge concept": S, "question": S, "option": S, "answer": S,
            "image_path": Image(), "key": S, "question number": I64, "knowledge concept description": S,
        }
    ),
    "hallusionbench": Features(
        {
            "category": S, "subcategory": S, "visual_input": S, "set_id": S, "figure_id": S, "sample_note": S,
            "question_id": S, "question": S, "gt_answer_details": S, "gt_answer": S, "filename": S, "image": Image(),
        }
    ),
    "geometry3k": Features({"images": List(Image()), "problem": S, "answer": S}),
}


def _png(image: PILImage.Image) -> dict:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def _options(rng: random.Random, answer: str, k: int = 4) -> list[str]:
    value = int(answer)
    pool = [v for v in range(1, 8) if v != value]
    return [str(v) for v in sorted(rng.sample(pool, k - 1) + [value])]


def _mathvista(examples: list[Example], rng: random.Random) -> list[dict]:
    rows = []
    for i, e in enumerate(examples):
        choice = i % 3 == 2
        choices = _options(rng, e.answer) if choice else None
        query = e.question
        if choice:
            query += "\nChoices:\n" + "\n".join(f"({LETTERS[j]}) {c}" for j, c in enumerate(choices))
        rows.append(
            {
                "pid": str(i + 1), "question": e.question, "image": f"images/{i + 1}.png",
                "decoded_image": _png(e.image), "choices": choices, "unit": None, "precision": None,
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


VERSIONS = ["Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only"]


def _mathverse(examples: list[Example], rng: random.Random) -> list[dict]:
    rows = []
    for i, e in enumerate(examples):
        choice = i % 3 == 2
        question, answer = e.question, e.answer
        if choice:
            options = _options(rng, e.answer)
            question += "\nChoices:\n" + "\n".join(f"{LETTERS[j]}:{o}" for j, o in enumerate(options))
            answer = LETTERS[options.index(e.answer)]
        rows.append(
            {
                "sample_index": str(i + 1), "problem_index": str(i // len(VERSIONS) + 1),
                "problem_version": VERSIONS[i % len(VERSIONS)], "question": question, "image": _png(e.image),
                "answer": answer, "question_type": "multi-choice" if choice else "free-form",
                "metadata": {
                    "split": "testmini", "source": "durian-smoke", "subject": "Plane Geometry", "subfield": "Length",
                },
                "query_wo": question, "query_cot": question, "question_for_eval": question,
            }
        )
    return rows


def _mathvision(examples: list[Example], rng: random.Random) -> list[dict]:
    rows = []
    for i, e in enumerate(examples):
        options = _options(rng, e.answer, 5) if i % 3 == 2 else []
        rows.append(
            {
                "id": str(i + 1), "question": e.question, "options": options, "image": f"images/{i + 1}.jpg",
                "decoded_image": _png(e.image),
                "answer": LETTERS[options.index(e.answer)] if options else e.answer,
                "solution": e.response(), "level": 1 + i % 5,
                "subject": "counting" if e.kind == "count" else "metric geometry - angle",
            }
        )
    return rows


def _wemath(examples: list[Example], rng: random.Random) -> list[dict]:
    """Groups of 2-step (2 sub-questions + composite) and 3-step (3 + composite) problems."""
    rows, i, group = [], 0, 0
    while i < len(examples):
        steps = 2 if group % 2 == 0 else 3
        keys = [f"{steps}steps_{k}" for k in range(1, steps + 1)] + [f"{steps}steps_multi"]
        for key in keys:
            if i >= len(examples):
                break
            e = examples[i]
            options = _options(rng, e.answer)
            option = "; ".join(f"{LETTERS[j]}. {o}" for j, o in enumerate(options)) + "; E. No correct answer"
            rows.append(
                {
                    "ID": f"{steps}steps_{group + 1}", "split": "testmini", "knowledge concept": "Counting",
                    "question": e.question, "option": option, "answer": LETTERS[options.index(e.answer)],
                    "image_path": _png(e.image), "key": key, "question number": i + 1,
                    "knowledge concept description": "Count objects or sides in a figure.",
                }
            )
            i += 1
        group += 1
    return rows


def _hallusionbench(examples: list[Example], rng: random.Random) -> list[dict]:
    """The smoke task's yes/no questions, two figures per question; plus two non-visual rows."""
    rows = []
    for i, e in enumerate(examples):
        rows.append(
            {
                "category": "VD", "subcategory": "figure" if e.kind == "count" else "math",
                "visual_input": "1", "set_id": str(i // 4), "figure_id": str(i % 2), "sample_note": e.kind,
                "question_id": str(i // 2 % 2), "question": CHECKS[e.kind].format(n=e.shown),
                "gt_answer_details": f"The image shows {e.value}.", "gt_answer": "1" if e.answer == "yes" else "0",
                "filename": f"./VD/{e.kind}/{i}.png", "image": _png(e.image),
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


def _geometry3k(examples: list[Example], rng: random.Random) -> list[dict]:
    return [{"images": [_png(e.image)], "problem": f"<image>{e.question}", "answer": e.answer} for e in examples]


BUILDERS = {
    "mathvista": _mathvista,
    "mathverse": _mathverse,
    "mathvision": _mathvision,
    "wemath": _wemath,
    "hallusionbench": _hallusionbench,
    "geometry3k": _geometry3k,
}


def fixture_dataset(benchmark: str, seed: int = 0, n: int = 24) -> Dataset:
    form = "yes_no" if benchmark == "hallusionbench" else "number"  # its answers are yes/no
    examples = make_split(seed, f"eval-{benchmark}", n, WorldConfig().image_size, forms=(form,))
    rows = BUILDERS[benchmark](examples, random.Random(f"{seed}-{benchmark}"))
    return Dataset.from_list(rows, features=FEATURES[benchmark])


def write_fixtures(out_dir: str | os.PathLike, seed: int = 0, n: int = 24) -> dict[str, Path]:
    """``<out_dir>/<benchmark>/<split>.parquet`` for every benchmark; returns the paths."""
    if n < 1:
        raise ValueError(f"n: must be positive, got {n}")
    paths = {}
    for name, benchmark in BENCHMARKS.items():
        path = Path(out_dir) / name / f"{benchmark.split}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
        try:
            fixture_dataset(name, seed, n).to_parquet(temp)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        paths[name] = path
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the smoke fixtures of every benchmark as parquet files.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-n", type=int, default=24)
    args = parser.parse_args(argv)
    for name, path in write_fixtures(args.out, args.seed, args.n).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
