"""Per-benchmark adapters used by the lmms-eval task utilities in ``eval/tasks``.

Each benchmark reads its own dataset schema (the hub dataset's columns) and turns a document into
the image, the user text (the thinking prompt prepended to the question as NoisyRollout poses it)
and a :class:`eval.scoring.Target`. ``process_results`` scores by rules unless a judge is given.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from PIL import Image

from durian.prompt import YES_NO_INSTRUCTION, thinking_prompt
from eval import scoring
from eval.scoring import LETTERS, Target


@dataclasses.dataclass(frozen=True)
class Benchmark:
    name: str
    hub_path: str
    hub_name: str | None
    split: str
    judged: bool  # judge mode applies (SPEC: HallusionBench and Geometry3K are always rule-scored)
    groups: tuple[str, ...] = ()  # document fields to break accuracy down by

    @property
    def task(self) -> str:
        return f"durian_{self.name}"


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("mathverse", "CaraJ/MathVerse-lmmseval", "testmini", "testmini", True, ("problem_version",)),
        Benchmark("mathvista", "AI4Math/MathVista", None, "testmini", True, ("task", "question_type")),
        Benchmark("mathvision", "MathLLMs/MathVision", None, "testmini", True, ("subject",)),
        Benchmark("wemath", "We-Math/We-Math", None, "testmini", True, ("key_kind",)),
        Benchmark("hallusionbench", "lmms-lab-encoder/HallusionBench", None, "image", False, ("category",)),
        Benchmark("geometry3k", "hiyouga/geometry3k", None, "test", False),
    )
}


def _rgb(image: Any) -> Image.Image:
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a decoded image, got {type(image).__name__}")
    return image.convert("RGB")


# ----------------------------------------------------------------------- question, target, id
def _mathverse(doc: dict) -> tuple[str, Target, str]:
    question = doc["query_cot"]
    if doc["question_type"] == "multi-choice":
        target = Target(doc["answer"].strip(), "choice", scoring.parse_options(doc["question"]))
    else:
        target = Target(doc["answer"])
    return question, target, str(doc["sample_index"])


def _mathvista(doc: dict) -> tuple[str, Target, str]:
    precision = doc.get("precision")
    precision = int(precision) if doc.get("answer_type") == "float" and precision is not None else None
    if doc["question_type"] == "multi_choice":
        target = Target(scoring.letter_of(doc["answer"], doc["choices"]), "choice", tuple(doc["choices"]))
    else:
        target = Target(doc["answer"], precision=precision)
    return doc["query"], target, str(doc["pid"])


def _mathvision(doc: dict) -> tuple[str, Target, str]:
    options = tuple(doc["options"] or ())
    question = doc["question"]
    if options:
        listed = "\n".join(f"{letter}. {option}" for letter, option in zip(LETTERS, options))
        question = f"{question}\nChoices:\n{listed}"
        target = Target(doc["answer"].strip(), "choice", options)
    else:
        target = Target(doc["answer"])
    return question, target, str(doc["id"])


def _wemath(doc: dict) -> tuple[str, Target, str]:
    question = f"{doc['question']}\n\nOptions: {doc['option']}"
    target = Target(doc["answer"].strip(), "choice", scoring.parse_options(doc["option"]))
    return question, target, f"{doc['ID']}@{doc['key']}"


def _hallusionbench(doc: dict) -> tuple[str, Target, str]:
    # As NoisyRollout: keep the question up to its first "?", then force the boxed yes/no.
    question = doc["question"].strip()
    question = question.split("?")[0] + "?" if "?" in question else question
    answer = "yes" if int(doc["gt_answer"]) == 1 else "no"
    ident = "_".join(str(doc[k]) for k in ("category", "subcategory", "set_id", "figure_id", "question_id"))
    return f"{question} {YES_NO_INSTRUCTION}", Target(answer, "yesno"), ident


def _geometry3k(doc: dict) -> tuple[str, Target, str]:
    return doc["problem"].replace("<image>", "").strip(), Target(doc["answer"]), ""


_ADAPTERS: dict[str, Callable[[dict], tuple[str, Target, str]]] = {
    "mathverse": _mathverse,
    "mathvista": _mathvista,
    "mathvision": _mathvision,
    "wemath": _wemath,
    "hallusionbench": _hallusionbench,
    "geometry3k": _geometry3k,
}
_IMAGE_COLUMN = {
    "mathverse": "image",
    "mathvista": "decoded_image",
    "mathvision": "decoded_image",
    "wemath": "image_path",
    "hallusionbench": "image",
}


def doc_to_visual(benchmark: str, doc: dict) -> list[Image.Image]:
    if benchmark == "geometry3k":
        return [_rgb(image) for image in doc["images"]]
    return [_rgb(doc[_IMAGE_COLUMN[benchmark]])]


def doc_to_text(benchmark: str, doc: dict, kwargs: dict | None = None) -> str:
    question, _, _ = _ADAPTERS[benchmark](doc)
    return thinking_prompt(question, (kwargs or {}).get("prompt_position", "prepend"))


def doc_target(benchmark: str, doc: dict) -> tuple[str, Target, str]:
    """(the question as posed, the target, the benchmark's id for the document)."""
    return _ADAPTERS[benchmark](doc)


def groups_of(benchmark: str, doc: dict) -> dict[str, str]:
    fields = {}
    for name in BENCHMARKS[benchmark].groups:
        if name == "task":
            fields[name] = str(doc["metadata"]["task"])
        elif name == "key_kind":
            fields[name] = str(doc["key"]).split("_")[0]
        else:
            fields[name] = str(doc[name])
    return fields


# ------------------------------------------------------------------------------ process_results
def process_results(benchmark: str, doc: dict, results: list[str], judge: Any = None) -> dict:
    """lmms-eval's per-document hook: ``accuracy`` (aggregated by mean) and a ``durian`` record.

    ``judge`` is an :class:`eval.judge.Judge`; it applies to the benchmarks marked ``judged``.
    """
    response = results[0] if results else ""
    question, target, ident = doc_target(benchmark, doc)
    if judge is not None and BENCHMARKS[benchmark].judged:
        # MathVerse's judge reads `question_for_eval` (the question without the answer-format hint)
        verdict = judge.score(benchmark, response, target, doc.get("question_for_eval") or question)
    else:
        verdict = scoring.score(response, target)
    record = {
        "id": ident,
        "answer": target.answer,
        "extracted": verdict.extracted,
        "method": verdict.method,
        "correct": bool(verdict.correct),
        **groups_of(benchmark, doc),
    }
    if benchmark == "wemath":
        record.update(group_id=str(doc["ID"]), key=str(doc["key"]))
    if benchmark == "hallusionbench":
        record.update({k: str(doc[k]) for k in ("category", "subcategory", "set_id", "figure_id", "question_id")})
    extra = {"wemath": ("wemath_strict", "wemath_loose"), "hallusionbench": ("qAcc", "fAcc")}.get(benchmark, ())
    return {"accuracy": float(verdict.correct), "durian": record, **{name: record for name in extra}}


def hallusionbench_visual_only(dataset):
    """Visual questions only (``visual_input`` != "0", an image present), as NoisyRollout."""
    return dataset.filter(lambda doc: str(doc["visual_input"]) != "0" and doc["image"] is not None)


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


def sub_scores(benchmark: str, records: list[dict]) -> dict[str, Any]:
    """Accuracy by each group field, plus WeMath's strict/loose and HallusionBench's a/q/fAcc."""
    out: dict[str, Any] = {}
    for name in BENCHMARKS[benchmark].groups:
        values: dict[str, list[bool]] = defaultdict(list)
        for r in records:
            values[r[name]].append(r["correct"])
        out[name] = {k: {"accuracy": sum(v) / len(v), "n": len(v)} for k, v in sorted(values.items())}
    if benchmark == "wemath":
        out["wemath"] = wemath_scores(records)
    if benchmark == "hallusionbench" and records:
        out.update(hallusionbench_scores(records))
    return out


def task_hooks(benchmark: str) -> tuple[Callable, Callable, Callable]:
    """``doc_to_visual``, ``doc_to_text`` and ``process_results`` of ``benchmark``'s lmms-eval task,
    with lmms-eval's signatures; each task's ``utils.py`` binds them (``!function utils.x`` is
    resolved in the task's own folder)."""

    def task_doc_to_visual(doc):
        return doc_to_visual(benchmark, doc)

    def task_doc_to_text(doc, lmms_eval_specific_kwargs=None):
        return doc_to_text(benchmark, doc, lmms_eval_specific_kwargs)

    def task_process_results(doc, results):
        return process_results(benchmark, doc, results)

    return task_doc_to_visual, task_doc_to_text, task_process_results


def aggregate(benchmark: str, name: str) -> Callable[[list[dict]], float | None]:
    """An lmms-eval aggregation over the records (WeMath ``strict``/``loose``, HallusionBench ``qAcc``/``fAcc``)."""

    def run(records: list[dict]) -> float | None:
        if benchmark == "wemath":
            scores = wemath_scores(records)
            return None if scores is None else scores[name]
        return hallusionbench_scores(records)[name]

    return run
