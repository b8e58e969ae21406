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
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Self

import tenacity
import torch

from eval import TASKS_DIR
from eval.judge import Judge, JudgeConfig
from eval.task import Task, task, template

Backend = Literal["hf", "vllm"]
PAPER_MIN_PIXELS, PAPER_MAX_PIXELS = 262144, 1000000  # NoisyRollout's evaluation
SYSTEM_PROMPT = "You are a helpful assistant."  # lmms-eval qwen2_5_vl's default, Qwen's own


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

    def __post_init__(self) -> None:
        if self.scoring not in ("rules", "judge"):
            raise ValueError(f"scoring: 'rules' or 'judge', got {self.scoring!r}")
        if (self.scoring == "judge") != (self.judge is not None):
            raise ValueError("scoring='judge' needs a JudgeConfig, and a JudgeConfig needs scoring='judge'")
        if self.backend not in ("hf", "vllm"):
            raise ValueError(f"backend: must be 'hf' or 'vllm', got {self.backend!r}")

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
        self._lm = self._hf_model = self._scorer = self._tower = self._manager = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Drop the loaded models (a later :meth:`evaluate` loads them again)."""
        self._lm = self._hf_model = self._scorer = self._tower = self._manager = None

    # ---------------------------------------------------------------------- loaded once per session
    def lm(self):
        """The lmms-eval model. lmms-eval drops an HF model's weights from it after every task, so
        the session keeps them and hands them back before the next."""
        if self._lm is None:
            from lmms_eval.models import get_model

            self._lm = get_model(self.lmms_model, force_simple=True).create_from_arg_string(
                self.lmms_args, {"batch_size": 1})
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
    def evaluate(self, benchmark: str, out_dir: str | os.PathLike, data_files: str | os.PathLike | None = None) -> Path:
        """Evaluate ``benchmark`` (a key of :data:`durian.experiment.BENCHMARKS`); returns the summary's path."""
        spec = task(benchmark)
        judge = Judge(self.settings.judge) if self.settings.judge is not None and spec.judged else None
        config = spec.lmms_config(data_files, self.settings.new_tokens, judge)
        start = time.perf_counter()
        generated = self._generate(spec, config, judged=judge is not None)
        rows = self._rows(spec, generated)
        accuracy = float(generated.metrics["accuracy,none"])
        if abs(accuracy - sum(r["correct"] for r in rows) / len(rows)) > 1e-9:
            raise RuntimeError(f"lmms-eval's accuracy {accuracy} disagrees with the per-sample records")
        summary = self._summary(spec, config, data_files, rows, accuracy, judge)
        summary.update(seconds=round(time.perf_counter() - start, 2), eval_seconds=round(generated.seconds, 2),
                       samples_per_second=round(len(rows) / generated.seconds, 3), device=self.settings.device)
        return write_results(out_dir, benchmark, rows, summary)

    def evaluate_many(self, benchmarks: Iterable[str], out_dir: str | os.PathLike,
                      data_files: Mapping[str, str | os.PathLike | None] | None = None,
                      progress: Callable[[str], None] | None = None) -> dict[str, Path]:
        """Every benchmark in turn (``data_files``: benchmark -> local source, the hub for the others);
        ``progress`` receives one line per finished benchmark."""
        data_files = data_files or {}
        paths = {}
        for benchmark in benchmarks:
            paths[benchmark] = self.evaluate(benchmark, out_dir, data_files.get(benchmark))
            if progress is not None:
                progress(progress_line(json.loads(paths[benchmark].read_text())))
        return paths

    def _generate(self, spec: Task, config: dict, *, judged: bool) -> Generated:
        from lmms_eval.evaluator import simple_evaluate

        lm = self.lm()
        start = time.perf_counter()
        try:
            results = simple_evaluate(model=lm, tasks=[config], limit=self.settings.limit, log_samples=True,
                                      task_manager=self.task_manager(), bootstrap_iters=0, verbosity="WARNING",
                                      process_docs_parallel=4 if judged else 1)
        except tenacity.RetryError as error:  # lmms-eval retries loading and scoring: surface the cause
            raise error.last_attempt.exception() from error
        seconds = time.perf_counter() - start
        if not results or spec.task not in results.get("results", {}) or not results.get("samples", {}).get(spec.task):
            raise RuntimeError(f"lmms-eval returned no results for {spec.task}")
        samples = sorted(results["samples"][spec.task], key=lambda s: s["doc_id"])
        dataset = lm.task_dict[spec.task][spec.split]
        return Generated(results["results"][spec.task], samples, [dataset[s["doc_id"]] for s in samples], seconds)

    def _rows(self, spec: Task, generated: Generated) -> list[dict]:
        """The samples file's rows: lmms-eval's record, the prediction, visual entropy and confidence."""
        import numpy as np

        model, processor = self.scorer()
        tower, adapter, s = self.vision_tower(), spec.adapter, self.settings
        rows = []
        for sample, doc in zip(generated.samples, generated.docs):
            record, images = sample["durian"], adapter.doc_to_visual(doc)
            prediction = sample["resps"][0][0] if isinstance(sample["resps"][0], list) else sample["resps"][0]
            confidence, tokens = response_confidence(model, processor, images, sample["arguments"][0], prediction,
                                                     min_pixels=s.min_pixels, max_pixels=s.max_pixels)
            rows.append({"doc_id": sample["doc_id"], **record, "id": record["id"] or str(sample["doc_id"]),
                         "prediction": prediction,
                         # a document with several images gets their mean, as the training precompute
                         "visual_entropy": float(np.mean(tower.entropies(images))),
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
            "data_source": str(Path(data_files).resolve()) if data_files is not None else spec.hub_path,
            "model": self.model_dir,
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
                "batch_size": 1,
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


# ------------------------------------------------------------------------------ confidence
def _image_url(image) -> str:
    from lmms_eval.models.model_utils.media_encoder import encode_image_to_data_url

    # the same encoding lmms-eval's qwen2_5_vl sends to the model
    return encode_image_to_data_url(image, image_format="JPEG", mime_type="image/jpeg", convert_rgb=True, quality=85)


@torch.no_grad()
def response_confidence(model, processor, images, context: str, response: str, *, min_pixels: int,
                        max_pixels: int) -> tuple[float | None, int]:
    """(mean log-prob of the response's tokens given the prompt the model saw, token count)."""
    from qwen_vl_utils import process_vision_info

    content = [
        {"type": "image", "image": _image_url(im), "min_pixels": min_pixels, "max_pixels": max_pixels} for im in images
    ]
    messages = [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": content + [{"type": "text", "text": context}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image_inputs, _ = process_vision_info(messages)
    prompt = processor(text=[text], images=image_inputs, return_tensors="pt")
    answer = processor.tokenizer(response, add_special_tokens=False, return_tensors="pt").input_ids
    if answer.shape[1] == 0:
        return None, 0
    device = next(model.parameters()).device
    ids = torch.cat([prompt["input_ids"], answer], dim=1).to(device)
    logits = model(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=prompt["pixel_values"].to(device, model.dtype),
        image_grid_thw=prompt["image_grid_thw"].to(device),
    ).logits[0, prompt["input_ids"].shape[1] - 1 : -1].float()
    logprobs = torch.log_softmax(logits, dim=-1).gather(1, answer[0].to(device)[:, None])
    return float(logprobs.mean()), int(answer.shape[1])


# ---------------------------------------------------------------------------------- output
def write_results(out_dir: str | os.PathLike, benchmark: str, rows: list[dict], summary: dict) -> Path:
    """``<benchmark>.samples.jsonl``, then ``<benchmark>.json`` (its presence marks the pair complete)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_dir / f"{benchmark}.samples.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    summary_path = out_dir / f"{benchmark}.json"
    _atomic_write(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary_path


def _atomic_write(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
