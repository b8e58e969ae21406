"""An evaluation session: one checkpoint, loaded once, evaluated on many benchmarks.

A :class:`Session` loads the lmms-eval model (for the ``vllm`` backend also the HF checkpoint that
scores confidence) and the vision tower for per-sample visual entropy the first time a benchmark
needs them, and keeps them for the next. Per benchmark it runs the task through lmms-eval's Python
API and writes ``<out>/<benchmark>.samples.jsonl`` (one line per question: id, prediction, extracted
answer, correct, the image's visual entropy from the policy's own vision tower, and the model's
confidence = mean token log-prob of its response) and then ``<out>/<benchmark>.json`` (the summary
with every generation and scoring setting), both atomically. Any failure raises.

Generation settings come from the tasks (``eval/tasks/_default_template_yaml``); a session
overrides only run-level ones (:class:`Settings`).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Literal, Self

import tenacity
import torch

from eval import TASKS_DIR
from eval import rows as rows_mod
from eval.confidence import SYSTEM_PROMPT, Scored, response_confidences
from eval.judge import Judge, JudgeConfig
from eval.rows import BadRowError
from eval.task import Task, task, template

Backend = Literal["hf", "vllm"]
PAPER_MIN_PIXELS, PAPER_MAX_PIXELS = 262144, 1000000  # NoisyRollout's evaluation


@dataclasses.dataclass(frozen=True)
class Settings:
    """A run's settings, the same for every benchmark of a session."""

    limit: int | None = None
    max_new_tokens: int | None = None  # None: the task template's
    backend: Backend = "hf"
    device: str = "cpu"
    min_pixels: int = PAPER_MIN_PIXELS
    max_pixels: int = PAPER_MAX_PIXELS
    scoring: Literal["rules", "judge"] = "rules"
    judge: JudgeConfig | None = None
    entropy_model: str | None = None  # the vision encoder for visual entropy (None: the model's own)
    splits: Mapping[str, str] = dataclasses.field(default_factory=dict)  # benchmark -> split (default: its yaml's)
    extraction: Mapping[str, str] = dataclasses.field(default_factory=dict)  # benchmark -> rule extraction
    skip_bad_rows: bool = False  # leave out rows that cannot be evaluated (recorded), instead of failing
    batch_size: int = 1  # questions per generate call of lmms-eval's model (left-padded; greedy answers unchanged)

    def __post_init__(self) -> None:
        if self.scoring not in ("rules", "judge"):
            raise ValueError(f"scoring: 'rules' or 'judge', got {self.scoring!r}")
        if (self.scoring == "judge") != (self.judge is not None):
            raise ValueError("scoring='judge' needs a JudgeConfig, and a JudgeConfig needs scoring='judge'")
        if self.backend not in ("hf", "vllm"):
            raise ValueError(f"backend: must be 'hf' or 'vllm', got {self.backend!r}")
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or self.limit < 1):
            raise ValueError(f"limit: a positive number of questions (None: all), got {self.limit!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size: a positive number of questions, got {self.batch_size!r}")
        for benchmark, split in self.splits.items():
            task(benchmark).check_split(split)
        for benchmark, name in self.extraction.items():
            task(benchmark).adapter.extraction(name)

    @property
    def new_tokens(self) -> int:
        return self.max_new_tokens if self.max_new_tokens is not None else template()["generation_kwargs"]["max_new_tokens"]


def model_args(backend: Backend, model_dir: str, *, device: str, min_pixels: int, max_pixels: int,
               max_new_tokens: int) -> tuple[str, str]:
    """(lmms-eval model name, model_args string). ``vllm`` is the paper scale's configuration."""
    if backend == "hf":
        return "qwen2_5_vl", (
            f"pretrained={model_dir},device={device},device_map={device},"
            f"min_pixels={min_pixels},max_pixels={max_pixels}"
        )
    if backend == "vllm":
        pixels = json.dumps({"min_pixels": min_pixels, "max_pixels": max_pixels})
        return "vllm", (
            f"model={model_dir},tensor_parallel_size=1,gpu_memory_utilization=0.7,max_model_len=8192,"
            f"max_new_tokens={max_new_tokens},image_first=True,mm_processor_kwargs={pixels}"
        )
    raise ValueError(f"backend: must be 'hf' or 'vllm', got {backend!r}")


@dataclasses.dataclass
class Generated:
    """lmms-eval's answers on one task: its metrics, the samples by doc id, their documents."""

    metrics: dict[str, Any]
    samples: list[dict]
    docs: list[dict]
    seconds: float


class Session:
    """One checkpoint under one run's :class:`Settings`; :meth:`evaluate` any number of benchmarks."""

    def __init__(self, model_dir: str | os.PathLike, *, run: str, settings: Settings | None = None):
        self.model_dir, self.run = str(model_dir), run
        self.settings = settings or Settings()
        self.lmms_model, self.lmms_args = model_args(
            self.settings.backend, self.model_dir, device=self.settings.device, min_pixels=self.settings.min_pixels,
            max_pixels=self.settings.max_pixels, max_new_tokens=self.settings.new_tokens)
        self.encoder = self.settings.entropy_model or self.model_dir
        self._lm = self._hf_model = self._scorer = self._tower = self._manager = self._judge = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Drop the loaded models (a later :meth:`evaluate` loads them again)."""
        self._lm = self._hf_model = self._scorer = self._tower = self._manager = self._judge = None

    # ---------------------------------------------------------------------- loaded once per session
    def lm(self):
        """The lmms-eval model. lmms-eval drops an HF model's weights from it after every task, so
        the session keeps them and hands them back before the next."""
        if self._lm is None:
            from lmms_eval.models import get_model

            self._lm = get_model(self.lmms_model, force_simple=True).create_from_arg_string(
                self.lmms_args, {"batch_size": self.settings.batch_size})
            self._hf_model = self._lm._model if self.settings.backend == "hf" else None
        if self._hf_model is not None:
            self._lm._model = self._hf_model
        return self._lm

    def task_manager(self):
        if self._manager is None:
            from lmms_eval.tasks import TaskManager

            self._manager = TaskManager("WARNING", include_path=str(TASKS_DIR), include_defaults=False)
        return self._manager

    def scorer(self) -> tuple[Any, Any]:
        """(model, processor) whose forward pass scores a response's confidence."""
        if self._scorer is None:
            if self.settings.backend == "hf":
                lm = self.lm()
                self._scorer = (self._hf_model, lm.processor)
            else:  # the vLLM engine exposes no forward pass: score with the HF checkpoint
                from transformers import (
                    AutoProcessor,
                    Qwen2_5_VLForConditionalGeneration,
                )

                s = self.settings
                model = Qwen2_5_VLForConditionalGeneration.from_pretrained(self.model_dir, dtype="auto")
                processor = AutoProcessor.from_pretrained(self.model_dir, min_pixels=s.min_pixels,
                                                          max_pixels=s.max_pixels)
                self._scorer = (model.to(s.device).eval(), processor)
        return self._scorer

    def vision_tower(self):
        if self._tower is None:
            from durian.data.precompute import VisionTower

            self._tower = VisionTower(self.encoder, device=self.settings.device)
        return self._tower

    # -------------------------------------------------------------------------------- evaluate
    def judge_for(self, spec: Task) -> Judge | None:
        """The run's judge, for a benchmark with a judge protocol; checked (key and endpoint) once."""
        if self.settings.judge is None or not spec.judged:
            return None
        if self._judge is None:
            judge = Judge(self.settings.judge)
            judge.check()  # before any generation: an unset key or an unreachable judge fails now
            self._judge = judge
        return self._judge

    def evaluate(self, benchmark: str, out_dir: str | os.PathLike, data_files: str | os.PathLike | None = None) -> Path:
        """Evaluate ``benchmark`` (a key of :data:`durian.experiment.BENCHMARKS`); returns the summary's path.

        Order: the judge checked, the rows checked, the answers generated (or the matching
        generations file reused), written, then scored, then the results written."""
        spec, s, out_dir = task(benchmark), self.settings, Path(out_dir)
        judge = self.judge_for(spec)
        split, extraction = spec.check_split(s.splits.get(benchmark)), spec.adapter.extraction(s.extraction.get(benchmark))
        config = spec.lmms_config(data_files, s.new_tokens, split=split, extraction=extraction)
        start = time.perf_counter()
        original, found = spec.process_docs(), {}
        config["process_docs"] = partial(rows_mod.screen, benchmark=benchmark, adapter=spec.adapter,
                                         original=original, limit=s.limit, found=found)
        try:
            self._load_task(dict(config))  # the rows checked before any generation
        except Exception as error:
            if found.get("bad") and not found.get("keep"):  # no good row left for lmms-eval to load
                raise BadRowError(rows_mod.bad_row_message(benchmark, found["bad"])) from None
            if isinstance(error, KeyError) and error.args[:1] == (split,) and not found:  # before process_docs
                raise ValueError(f"{benchmark}: {self._source(spec, data_files)} has no split {split!r}") from None
            if isinstance(error, tenacity.RetryError):  # lmms-eval retries loading: surface the cause
                raise error.last_attempt.exception() from error
            raise
        bad = found["bad"]
        if bad and not s.skip_bad_rows:
            raise BadRowError(rows_mod.bad_row_message(benchmark, bad))
        (out_dir / f"{benchmark}.bad_rows.json").unlink(missing_ok=True)
        if bad:  # the kept rows, not checked again
            config["process_docs"] = partial(rows_mod.keep_rows, keep=found["keep"], original=original)
        elif original is not None:
            config["process_docs"] = original
        else:
            del config["process_docs"]
        header = self._generations_header(spec, config, data_files, split, [r["index"] for r in bad])
        gen_path = rows_mod.generations_path(out_dir, benchmark)
        generated_rows, metrics = rows_mod.read_generations(gen_path, header), None
        reused = generated_rows is not None
        if not reused:
            generated = self._generate(spec, config, split)
            generated_rows, metrics = self._rows(spec, generated), generated.metrics
            rows_mod.write_generations(gen_path, header, generated_rows)
            eval_seconds = generated.seconds
            docs = generated.docs
        else:
            eval_seconds = 0.0
            dataset = self._load_task(dict(config))[spec.task].test_docs()
            docs = [dataset[r["doc_id"]] for r in generated_rows]
        rows = self._score(spec, generated_rows, docs, judge, extraction)
        accuracy = sum(r["correct"] for r in rows) / len(rows)
        if metrics is not None and abs(float(metrics["accuracy,none"]) - sum(
                r["rule_correct"] for r in generated_rows) / len(generated_rows)) > 1e-9:
            raise RuntimeError(f"lmms-eval's accuracy {metrics['accuracy,none']} disagrees with the per-sample records")
        if bad:
            record = {"benchmark": benchmark, "split": split, "data_source": self._source(spec, data_files),
                      "skipped": len(bad), "rows": bad}
            rows_mod.write_bad_rows(out_dir, benchmark, record)
        summary = self._summary(spec, config, data_files, rows, accuracy, judge)
        seconds = time.perf_counter() - start
        summary.update(split=split, extraction=f"judge:{spec.adapter.judge}" if judge is not None else extraction,
                       skipped=len(bad), generations="reused" if reused else "generated",
                       seconds=round(seconds, 2), eval_seconds=round(eval_seconds, 2),
                       samples_per_second=round(len(rows) / (eval_seconds or seconds), 3), device=s.device)
        return write_results(out_dir, benchmark, rows, summary)

    def _load_task(self, config: dict) -> dict:
        """lmms-eval's task objects for ``config``, without the model (docs, and their checks)."""
        from lmms_eval.tasks import get_task_dict

        return get_task_dict([config], self.task_manager())

    def _source(self, spec: Task, data_files) -> str:
        return str(Path(data_files).resolve()) if data_files is not None else spec.hub_path

    def _generations_header(self, spec: Task, config: dict, data_files, split: str, skipped: list[int]) -> dict:
        """What the generations depend on; a generations file with another header is regenerated."""
        s = self.settings
        return {"run": self.run, "benchmark": spec.name, "model": self.model_dir,
                "weights": rows_mod.model_stamp(self.model_dir), "data_source": self._source(spec, data_files),
                "split": split, "limit": s.limit, "skipped_rows": skipped, "backend": s.backend,
                "generation": config["generation_kwargs"], "min_pixels": s.min_pixels, "max_pixels": s.max_pixels,
                "entropy_encoder": self.encoder, "prompt_position": spec.prompt_position}

    def _score(self, spec: Task, generated_rows: list[dict], docs: list[dict], judge: Judge | None,
               extraction: str) -> list[dict]:
        """Each generation scored (by the judge in parallel, or by rules); the samples file's rows."""
        def one(pair):
            row, doc = pair
            record = spec.adapter.process_results(doc, [row["prediction"]], judge=judge,
                                                  extraction=extraction)["durian"]
            kept = {k: v for k, v in row.items() if k != "rule_correct"}
            return {"doc_id": row["doc_id"], **kept, **record, "id": record["id"] or str(row["doc_id"])}

        pairs = list(zip(generated_rows, docs))
        if judge is None:
            return [one(pair) for pair in pairs]
        with ThreadPoolExecutor(max_workers=4) as pool:  # judge requests overlap; the first failure raises
            return list(pool.map(one, pairs))

    def evaluate_many(self, benchmarks: Iterable[str], out_dir: str | os.PathLike,
                      data_files: Mapping[str, str | os.PathLike | None] | None = None,
                      progress: Callable[[str], None] | None = None) -> dict[str, Path]:
        """Every benchmark in turn (``data_files``: benchmark -> local source, the hub for the others);
        ``progress`` receives one line per finished benchmark."""
        data_files, benchmarks = data_files or {}, list(benchmarks)
        if judged := [b for b in benchmarks if task(b).judged]:
            self.judge_for(task(judged[0]))  # the judge checked before the first benchmark generates
        paths = {}
        for benchmark in benchmarks:
            paths[benchmark] = self.evaluate(benchmark, out_dir, data_files.get(benchmark))
            if progress is not None:
                progress(progress_line(json.loads(paths[benchmark].read_text())))
        return paths

    def _generate(self, spec: Task, config: dict, split: str) -> Generated:
        """lmms-eval generates (and scores by rules, a check on our records); never the judge."""
        from lmms_eval.evaluator import simple_evaluate

        lm = self.lm()
        start = time.perf_counter()
        try:
            results = simple_evaluate(model=lm, tasks=[dict(config)], limit=self.settings.limit, log_samples=True,
                                      task_manager=self.task_manager(), bootstrap_iters=0, verbosity="WARNING",
                                      process_docs_parallel=1)
        except tenacity.RetryError as error:  # lmms-eval retries loading and scoring: surface the cause
            raise error.last_attempt.exception() from error
        seconds = time.perf_counter() - start
        if not results or spec.task not in results.get("results", {}) or not results.get("samples", {}).get(spec.task):
            raise RuntimeError(f"lmms-eval returned no results for {spec.task}")
        samples = sorted(results["samples"][spec.task], key=lambda s: s["doc_id"])
        dataset = lm.task_dict[spec.task][split]
        return Generated(results["results"][spec.task], samples, [dataset[s["doc_id"]] for s in samples], seconds)

    def _rows(self, spec: Task, generated: Generated) -> list[dict]:
        """The samples file's rows: lmms-eval's record, the prediction, visual entropy and confidence,
        both computed in batches of the session's batch size with the hf backend, one question at a
        time with vLLM (whose batch, 512 at the paper scale, is all the prompts at once: a forward
        pass of that many full sequences, logits and all, would not fit beside vLLM on the GPU)."""
        import numpy as np

        model, processor = self.scorer()
        tower, adapter, s = self.vision_tower(), spec.adapter, self.settings
        batch = s.batch_size if s.backend == "hf" else 1
        images = [adapter.doc_to_visual(doc) for doc in generated.docs]
        predictions = [sample["resps"][0][0] if isinstance(sample["resps"][0], list) else sample["resps"][0]
                       for sample in generated.samples]
        confidences = response_confidences(
            model, processor, [Scored(list(im), sample["arguments"][0], prediction)
                               for im, sample, prediction in zip(images, generated.samples, predictions)],
            min_pixels=s.min_pixels, max_pixels=s.max_pixels, batch_size=batch)
        flat = [image for doc_images in images for image in doc_images]
        entropy = [e for first in range(0, len(flat), batch) for e in tower.entropies(flat[first : first + batch])]
        ends = np.cumsum([len(doc_images) for doc_images in images]).tolist()
        rows = []
        for sample, prediction, (confidence, tokens), end, doc_images in zip(
                generated.samples, predictions, confidences, ends, images, strict=True):
            rows.append({"doc_id": sample["doc_id"], "rule_correct": sample["durian"]["correct"],
                         "prediction": prediction,
                         # a document with several images gets their mean, as the training precompute
                         "visual_entropy": float(np.mean(entropy[end - len(doc_images) : end])),
                         "confidence": confidence, "response_tokens": tokens})
        return rows

    def _summary(self, spec: Task, config: dict, data_files, rows: list[dict], accuracy: float,
                 judge: Judge | None) -> dict[str, Any]:
        s, generation = self.settings, config["generation_kwargs"]
        return {
            "run": self.run,
            "benchmark": spec.name,
            "task": spec.task,
            "split": spec.split,
            "data_source": self._source(spec, data_files),
            "model": self.model_dir,
            "model_name": rows_mod.model_name(self.model_dir),  # what tables call it (reports)
            "n": len(rows),
            "limit": s.limit,
            "accuracy": accuracy,
            "sub_scores": spec.adapter.sub_scores(rows),
            "scoring": "judge" if judge is not None else "rules",
            "scoring_requested": s.scoring,
            "judge_model": judge.model if judge is not None else None,
            "judge_base_url": judge.config.base_url if judge is not None else None,
            "backend": s.backend,
            "lmms_eval_model": self.lmms_model,
            "generation": {
                "temperature": float(generation["temperature"]),
                "do_sample": bool(generation["do_sample"]),
                "max_new_tokens": generation["max_new_tokens"],
                "min_pixels": s.min_pixels,
                "max_pixels": s.max_pixels,
                "batch_size": s.batch_size,
                "system_prompt": SYSTEM_PROMPT,
                "prompt": f"durian.prompt.thinking_prompt ({spec.prompt_position})",
            },
            "entropy_encoder": f"{self.encoder}:merger",
            "confidence": "mean token log-prob of the response given the prompt (forward pass of the checkpoint)",
            "lmms_eval_version": importlib.metadata.version("lmms-eval"),
        }


def progress_line(summary: dict) -> str:
    """One line per finished benchmark: benchmark, questions, accuracy, seconds."""
    return (f"{summary['benchmark']:<15s} n={summary['n']:<4d} accuracy={summary['accuracy']:.3f} "
            f"{summary['seconds']:7.1f} s")


# ---------------------------------------------------------------------------------- output
def write_results(out_dir: str | os.PathLike, benchmark: str, rows: list[dict], summary: dict) -> Path:
    """``<benchmark>.samples.jsonl``, then ``<benchmark>.json`` (its presence marks the pair complete)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_dir / f"{benchmark}.samples.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    summary_path = out_dir / f"{benchmark}.json"
    _atomic_write(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary_path


_atomic_write = rows_mod.atomic_write  # one atomic writer for every result file
