"""The benchmarks' lmms-eval task folders, and what their ``utils.py`` files share.

Each benchmark owns ``eval/tasks/durian_<benchmark>/``: a task yaml that ``include:``s the shared
``eval/tasks/_default_template_yaml`` and keeps only what differs (dataset, split, hooks, extra
metrics), and a ``utils.py`` whose :class:`Adapter` holds the benchmark's own logic: the document's
images, the question as posed with the :class:`~eval.scoring.Target` it is graded against and the
document's id, the fields recorded per sample, its sub-scores, its judge protocol, and its fixture
rows in the hub dataset's schema. This module holds the plumbing they share (the lmms-eval hooks,
the prompt, accuracy by group, fixture helpers) and :func:`tasks`, the registry of the folders in
:data:`durian.experiment.BENCHMARKS` order.

No torch and no lmms-eval here (yaml, PIL and datasets' feature types), so the fixtures stay light.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import random
from collections import defaultdict
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from datasets import Features, Value
from PIL import Image

from durian.experiment import BENCHMARKS
from durian.prompt import thinking_prompt
from durian.world.task import TRAINING_MIX, Stress, choice_options
from eval import TASKS_DIR, scoring
from eval.scoring import Target

if TYPE_CHECKING:
    from durian.world.task import Example
    from eval.judge import Judge, Protocol

TEMPLATE = TASKS_DIR / "_default_template_yaml"
STRING, INT, FLOAT = Value("string"), Value("int64"), Value("float64")  # the fixtures' column types


# ------------------------------------------------------------------------------------ adapter
@dataclasses.dataclass(frozen=True)
class Posed:
    """A document as the model is asked it."""

    question: str
    target: Target
    id: str  # the benchmark's own id for the document ("": none, the row number stands in)
    judge_question: str | None = None  # what a judge reads instead of the question (MathVerse)


@dataclasses.dataclass(frozen=True)
class Adapter:
    """One benchmark, as its ``utils.py`` defines it; its methods are the task's lmms-eval hooks."""

    name: str
    visuals: Callable[[dict], list]  # doc -> its decoded images
    pose: Callable[[dict], Posed]
    features: Features  # the hub dataset's columns, as the fixture writes them
    fixture_rows: Callable[[list[Example], random.Random], list[dict]]  # world examples -> rows
    groups: tuple[str, ...] = ()  # record fields to break accuracy down by
    fields: Callable[[dict], dict[str, str]] | None = None  # recorded per sample (default: the groups)
    judge: Protocol | None = None  # how a judge scores it (eval.judge); None: always by rules (docs/method.md §9)
    metrics: tuple[str, ...] = ()  # extra lmms-eval metrics, aggregated over the records
    scores: Callable[[list[dict]], dict[str, Any]] | None = None  # the benchmark's own sub-scores
    fixture_form: str = "number"  # the world task's question form its fixture asks
    fixture_stress: Stress = TRAINING_MIX  # what its fixture stresses beyond the training mix
    doc_id: Callable[[dict], str] = lambda doc: ""  # the benchmark's own id (as pose's), read without the answer
    extractions: tuple[str, ...] = ("lenient",)  # rule extractions offered (eval.scoring.score); the first is the default
    splits: tuple[str, ...] = ()  # the hub splits besides the task yaml's test_split it may be run on

    @property
    def judged(self) -> bool:
        return self.judge is not None

    def doc_to_visual(self, doc: dict) -> list[Image.Image]:
        return [rgb(image) for image in self.visuals(doc)]

    def doc_to_text(self, doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
        return thinking_prompt(self.pose(doc).question, (lmms_eval_specific_kwargs or {}).get("prompt_position", "prepend"))

    def process_results(self, doc: dict, results: list[str], judge: Judge | None = None,
                        extraction: str | None = None) -> dict:
        """``accuracy`` (aggregated by mean), the extra metrics and a ``durian`` record per document.

        ``judge`` is an :class:`eval.judge.Judge`; it applies when the benchmark has a judge protocol.
        ``extraction`` is one of the adapter's ``extractions`` (rule scoring; default the first).
        """
        response = results[0] if results else ""
        posed = self.pose(doc)
        if judge is not None and self.judge is not None:
            verdict = judge.verdict(self.judge, response, posed.target, posed.judge_question or posed.question)
        else:
            verdict = scoring.score(response, posed.target, self.extraction(extraction))
        record = {
            "id": posed.id,
            "answer": posed.target.answer,
            "extracted": verdict.extracted,
            "method": verdict.method,
            "correct": bool(verdict.correct),
            **(self.fields(doc) if self.fields else {name: str(doc[name]) for name in self.groups}),
        }
        return {"accuracy": float(verdict.correct), "durian": record, **{name: record for name in self.metrics}}

    def extraction(self, name: str | None) -> str:
        """The rule extraction ``name`` (None: the default), checked against the adapter's."""
        if name is None:
            return self.extractions[0]
        if name not in self.extractions:
            raise ValueError(f"{self.name}: extraction one of {', '.join(self.extractions)}, got {name!r}")
        return name

    def hooks(self) -> tuple[Callable, Callable, Callable]:
        """``doc_to_visual``, ``doc_to_text``, ``process_results`` for the task yaml's ``!function utils.x``."""
        return self.doc_to_visual, self.doc_to_text, self.process_results

    def sub_scores(self, records: list[dict]) -> dict[str, Any]:
        """Accuracy by each group field, plus the benchmark's own scores."""
        out: dict[str, Any] = {}
        for name in self.groups:
            values: dict[str, list[bool]] = defaultdict(list)
            for r in records:
                values[r[name]].append(r["correct"])
            out[name] = {k: {"accuracy": sum(v) / len(v), "n": len(v)} for k, v in sorted(values.items())}
        return {**out, **(self.scores(records) if self.scores else {})}


def required(doc: dict, key: str) -> str:
    """``doc[key]`` as a stripped string; a missing or empty value is an error naming the column."""
    value = doc.get(key)
    if value is None or not str(value).strip():
        raise ValueError(f"{key!r} is missing")
    return str(value).strip()


def rgb(image: Any) -> Image.Image:
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a decoded image, got {type(image).__name__}")
    return image.convert("RGB")


# ----------------------------------------------------------------------------- fixture helpers
def png(image: Image.Image) -> dict:
    """An ``Image`` column's value: the image as encoded PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def options(rng: random.Random, answer: str, k: int = 4) -> list[str]:
    """``k`` numeric options, sorted, one of them the answer (as the world's choice form draws them)."""
    return [str(v) for v in choice_options(rng, int(answer), k)]


# ---------------------------------------------------------------------------------- task folder
class _TaskLoader(yaml.SafeLoader):
    """Reads a task yaml as lmms-eval's ``simple`` mode does: ``!function utils.x`` stays a name."""


_TaskLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def read_config(path: str | Path) -> dict[str, Any]:
    """A task yaml with its ``include:`` files merged in, as lmms-eval merges them (the task's keys win)."""
    path = Path(path)
    raw = yaml.load(path.read_text(), Loader=_TaskLoader)
    include = raw.pop("include", [])
    merged: dict[str, Any] = {}
    for name in reversed([include] if isinstance(include, str) else include):  # the first listed wins
        merged.update(read_config(path.parent / name))
    return {**merged, **raw}


class Task:
    """One benchmark's task folder: its yaml (template merged) and its ``utils.py``'s adapter."""

    def __init__(self, name: str):
        self.name = name
        self.folder = TASKS_DIR / f"durian_{name}"
        self.config = read_config(self.folder / f"durian_{name}.yaml")
        self.adapter: Adapter = importlib.import_module(f"eval.tasks.durian_{name}.utils").ADAPTER
        if self.adapter.name != name:
            raise ValueError(f"{self.folder}/utils.py: its adapter is {self.adapter.name!r}, not {name!r}")

    def __repr__(self) -> str:
        return f"Task({self.name!r})"

    @property
    def label(self) -> str:
        return BENCHMARKS[self.name]

    @property
    def task(self) -> str:  # the lmms-eval task name
        return self.config["task"]

    @property
    def split(self) -> str:
        """The task yaml's split (the default)."""
        return self.config["test_split"]

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits it may be run on: the yaml's, then the adapter's others."""
        return (self.split, *[s for s in self.adapter.splits if s != self.split])

    def check_split(self, split: str | None) -> str:
        if split is None:
            return self.split
        if split not in self.splits:
            raise ValueError(f"{self.name}: split one of {', '.join(self.splits)}, got {split!r}")
        return split

    @property
    def hub_path(self) -> str:
        return self.config["dataset_path"]

    @property
    def hub_name(self) -> str | None:
        return self.config.get("dataset_name")

    @property
    def judged(self) -> bool:
        return self.adapter.judged

    def process_docs(self) -> Callable | None:
        """The task yaml's ``process_docs`` function (``!function utils.x``), or None."""
        named = self.config.get("process_docs")
        if named is None:
            return None
        module = importlib.import_module(f"eval.tasks.durian_{self.name}.utils")
        return getattr(module, str(named).removeprefix("!function ").removeprefix("utils."))

    @property
    def prompt_position(self) -> str:
        return self.config["lmms_eval_specific_kwargs"]["default"]["prompt_position"]

    def data_source(self, data_files: str | Path | None, split: str | None = None) -> dict[str, Any]:
        """Task config overrides reading the hub (None), a local parquet file, or a local folder."""
        if data_files is None:
            return {}
        path = Path(data_files).resolve()
        if not path.exists():
            raise FileNotFoundError(f"{self.name}: data files {path} do not exist")
        if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
            return {"dataset_path": str(path), "dataset_name": None, "dataset_kwargs": {"load_from_disk": True}}
        if path.is_dir():  # hub layout (data/<split>-*.parquet); keep a config name its README declares
            readme = path / "README.md"
            declared = self.hub_name and readme.is_file() and f"config_name: {self.hub_name}" in readme.read_text()
            return {"dataset_path": str(path), "dataset_name": self.hub_name if declared else None, "dataset_kwargs": {}}
        return {"dataset_path": "parquet", "dataset_name": None,
                "dataset_kwargs": {"data_files": {self.check_split(split): str(path)}}}

    def lmms_config(self, data_files: str | Path | None = None, max_new_tokens: int | None = None,
                    judge: Judge | None = None, *, split: str | None = None,
                    extraction: str | None = None) -> dict[str, Any]:
        """The task config handed to lmms-eval: this task with run-level overrides only (data source,
        split, ``max_new_tokens`` over the template's generation settings, the judge or the rule
        extraction for process_results)."""
        generation = dict(self.config["generation_kwargs"])
        if max_new_tokens is not None:
            generation["max_new_tokens"] = max_new_tokens
        config = {"task": self.task, **self.data_source(data_files, split), "generation_kwargs": generation}
        if split is not None and self.check_split(split) != self.split:
            config["test_split"] = split
        extraction = self.adapter.extraction(extraction)
        if judge is not None or extraction != self.adapter.extraction(None):
            config["process_results"] = partial(self.adapter.process_results, judge=judge, extraction=extraction)
        return config


@cache
def tasks() -> dict[str, Task]:
    """Every benchmark's task, in :data:`durian.experiment.BENCHMARKS` order."""
    return {name: Task(name) for name in BENCHMARKS}


def task(name: str) -> Task:
    if name not in BENCHMARKS:
        raise ValueError(f"benchmark: one of {sorted(BENCHMARKS)}, got {name!r}")
    return tasks()[name]


def template() -> dict[str, Any]:
    """The settings every task shares (``eval/tasks/_default_template_yaml``)."""
    return read_config(TEMPLATE)
