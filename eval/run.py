"""Evaluate one checkpoint on one benchmark through lmms-eval's Python API.

Writes ``<out_dir>/<benchmark>.samples.jsonl`` (one line per question: id, prediction, extracted
answer, correct, the image's visual entropy from the policy's own vision tower, and the model's
confidence = mean token log-prob of its response) and then ``<out_dir>/<benchmark>.json`` (the
summary with every generation and scoring setting), both atomically. Any failure raises.

    PYTHONPATH=. python -m eval.run --model DIR_OR_HUB_ID --benchmark mathvista --out results/ \\
        --run my-run [--data-files FILE_OR_FOLDER] [--scoring judge --judge-url URL --judge-model M]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import tenacity
import torch

from eval import TASKS_DIR
from eval.benchmarks import BENCHMARKS, doc_to_visual, sub_scores
from eval.judge import Judge, JudgeConfig

Backend = Literal["hf", "vllm"]
PAPER_MIN_PIXELS, PAPER_MAX_PIXELS = 262144, 1000000  # NoisyRollout's evaluation
SYSTEM_PROMPT = "You are a helpful assistant."  # lmms-eval qwen2_5_vl's default, Qwen's own


# ------------------------------------------------------------------------------ configuration
def data_source(benchmark: str, data_files: str | os.PathLike | None) -> dict[str, Any]:
    """Task config overrides reading the hub (None), a local parquet file, or a local folder."""
    spec = BENCHMARKS[benchmark]
    if data_files is None:
        return {}
    path = Path(data_files).resolve()
    if not path.exists():
        raise FileNotFoundError(f"{benchmark}: data files {path} do not exist")
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        return {"dataset_path": str(path), "dataset_name": None, "dataset_kwargs": {"load_from_disk": True}}
    if path.is_dir():  # hub layout (data/<split>-*.parquet); keep a config name its README declares
        readme = path / "README.md"
        declared = spec.hub_name and readme.is_file() and f"config_name: {spec.hub_name}" in readme.read_text()
        return {"dataset_path": str(path), "dataset_name": spec.hub_name if declared else None, "dataset_kwargs": {}}
    return {"dataset_path": "parquet", "dataset_name": None, "dataset_kwargs": {"data_files": {spec.split: str(path)}}}


def generation_kwargs(max_new_tokens: int) -> dict[str, Any]:
    return {
        "max_new_tokens": max_new_tokens, "temperature": 0.0, "do_sample": False, "num_beams": 1,
        "until": ["<|im_end|>"],
    }


def model_args(backend: Backend, model_dir: str, *, device: str, min_pixels: int, max_pixels: int,
               max_new_tokens: int) -> tuple[str, str]:
    """(lmms-eval model name, model_args string). ``vllm`` is the paper profile's configuration."""
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


def task_config(benchmark: str, data_files, max_new_tokens: int, judge: Judge | None) -> dict[str, Any]:
    from functools import partial

    from eval.benchmarks import process_results

    config = {"task": BENCHMARKS[benchmark].task, **data_source(benchmark, data_files),
              "generation_kwargs": generation_kwargs(max_new_tokens)}
    if judge is not None:
        config["process_results"] = partial(process_results, benchmark, judge=judge)
    return config


# ------------------------------------------------------------------------ per-sample extras
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


def _visual_entropies(docs: list[dict], benchmark: str, encoder: str, device: str) -> list[float]:
    import numpy as np

    from durian.precompute import VisionTower

    tower = VisionTower(encoder, device=device)
    values = []
    for doc in docs:  # a document with several images gets their mean, as the training precompute
        values.append(float(np.mean(tower.entropies(doc_to_visual(benchmark, doc)))))
    return values


def _atomic_write(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------ evaluate
def evaluate(
    model_dir: str | os.PathLike,
    benchmark: str,
    out_dir: str | os.PathLike,
    *,
    run: str,
    data_files: str | os.PathLike | None = None,
    scoring: Literal["rules", "judge"] = "rules",
    judge: JudgeConfig | None = None,
    limit: int | None = None,
    max_new_tokens: int = 2048,
    backend: Backend = "hf",
    device: str = "cpu",
    min_pixels: int = PAPER_MIN_PIXELS,
    max_pixels: int = PAPER_MAX_PIXELS,
    entropy_model: str | None = None,
) -> Path:
    """Run ``benchmark`` (a key of :data:`eval.benchmarks.BENCHMARKS`); returns the summary's path."""
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.models import get_model
    from lmms_eval.tasks import TaskManager

    if benchmark not in BENCHMARKS:
        raise ValueError(f"benchmark: one of {sorted(BENCHMARKS)}, got {benchmark!r}")
    if scoring not in ("rules", "judge"):
        raise ValueError(f"scoring: 'rules' or 'judge', got {scoring!r}")
    if (scoring == "judge") != (judge is not None):
        raise ValueError("scoring='judge' needs a JudgeConfig, and a JudgeConfig needs scoring='judge'")
    spec, model_dir, out_dir = BENCHMARKS[benchmark], str(model_dir), Path(out_dir)
    judged = judge is not None and spec.judged
    name, args = model_args(backend, model_dir, device=device, min_pixels=min_pixels, max_pixels=max_pixels,
                            max_new_tokens=max_new_tokens)

    config = task_config(benchmark, data_files, max_new_tokens, Judge(judge) if judged else None)
    start = time.perf_counter()
    lm = get_model(name, force_simple=True).create_from_arg_string(args, {"batch_size": 1})
    manager = TaskManager("WARNING", include_path=str(TASKS_DIR), include_defaults=False)
    hf_model = lm._model if backend == "hf" else None  # lmms-eval drops the model from lm when done
    eval_start = time.perf_counter()
    try:
        results = simple_evaluate(model=lm, tasks=[config], limit=limit, log_samples=True, task_manager=manager,
                                  bootstrap_iters=0, verbosity="WARNING", process_docs_parallel=4 if judged else 1)
    except tenacity.RetryError as error:  # lmms-eval retries loading and scoring: surface the cause
        raise error.last_attempt.exception() from error
    eval_seconds = time.perf_counter() - eval_start
    if not results or spec.task not in results.get("results", {}) or not results.get("samples", {}).get(spec.task):
        raise RuntimeError(f"lmms-eval returned no results for {spec.task}")
    samples = sorted(results["samples"][spec.task], key=lambda s: s["doc_id"])
    dataset = lm.task_dict[spec.task][spec.split]
    docs = [dataset[s["doc_id"]] for s in samples]

    if backend == "hf":
        model, processor = hf_model, lm.processor
    else:  # the vLLM engine exposes no forward pass: score with the HF checkpoint
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype="auto").to(device).eval()
        processor = AutoProcessor.from_pretrained(model_dir, min_pixels=min_pixels, max_pixels=max_pixels)
    encoder = entropy_model or model_dir
    entropies = _visual_entropies(docs, benchmark, encoder, device)

    rows = []
    for sample, doc, entropy in zip(samples, docs, entropies):
        record = sample["durian"]
        prediction = sample["resps"][0][0] if isinstance(sample["resps"][0], list) else sample["resps"][0]
        confidence, tokens = response_confidence(
            model, processor, doc_to_visual(benchmark, doc), sample["arguments"][0], prediction,
            min_pixels=min_pixels, max_pixels=max_pixels,
        )
        rows.append({"doc_id": sample["doc_id"], **record, "id": record["id"] or str(sample["doc_id"]),
                     "prediction": prediction, "visual_entropy": entropy, "confidence": confidence,
                     "response_tokens": tokens})
    task_results = results["results"][spec.task]
    accuracy = float(task_results["accuracy,none"])
    if abs(accuracy - sum(r["correct"] for r in rows) / len(rows)) > 1e-9:
        raise RuntimeError(f"lmms-eval's accuracy {accuracy} disagrees with the per-sample records")

    summary = {
        "run": run,
        "benchmark": benchmark,
        "task": spec.task,
        "split": spec.split,
        "data_source": str(Path(data_files).resolve()) if data_files is not None else spec.hub_path,
        "model": model_dir,
        "n": len(rows),
        "limit": limit,
        "accuracy": accuracy,
        "sub_scores": sub_scores(benchmark, rows),
        "scoring": "judge" if judged else "rules",
        "scoring_requested": scoring,
        "judge_model": judge.model if judged else None,
        "judge_base_url": judge.base_url if judged else None,
        "backend": backend,
        "lmms_eval_model": name,
        "generation": {
            "temperature": 0.0,
            "do_sample": False,
            "max_new_tokens": max_new_tokens,
            "min_pixels": min_pixels,
            "max_pixels": max_pixels,
            "batch_size": 1,
            "system_prompt": SYSTEM_PROMPT,
            "prompt": "durian.prompt.thinking_prompt (prepend)",
        },
        "entropy_encoder": f"{encoder}:merger",
        "confidence": "mean token log-prob of the response given the prompt (forward pass of the checkpoint)",
        "lmms_eval_version": importlib.metadata.version("lmms-eval"),
        "seconds": round(time.perf_counter() - start, 2),
        "eval_seconds": round(eval_seconds, 2),
        "samples_per_second": round(len(rows) / eval_seconds, 3),
        "device": device,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    samples_path = out_dir / f"{benchmark}.samples.jsonl"
    _atomic_write(samples_path, "".join(json.dumps(r) + "\n" for r in rows))
    summary_path = out_dir / f"{benchmark}.json"
    _atomic_write(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate a Qwen2.5-VL checkpoint on one benchmark (lmms-eval).")
    parser.add_argument("--model", required=True, help="checkpoint folder or hub id")
    parser.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--run", required=True, help="a name recorded with the result")
    parser.add_argument(
        "--data-files", help="local parquet file, hub-layout folder or save_to_disk folder (default: the hub)"
    )
    parser.add_argument("--scoring", choices=["rules", "judge"], default="rules")
    parser.add_argument("--judge-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--judge-model")
    parser.add_argument("--judge-key-env", default="OPENAI_API_KEY", help="variable holding the API key ('' for none)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--max-new-tokens", type=int, default=2048)
    parser.add_argument("--backend", choices=["hf", "vllm"], default="hf")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--min-pixels", type=int, default=PAPER_MIN_PIXELS)
    parser.add_argument("--max-pixels", type=int, default=PAPER_MAX_PIXELS)
    parser.add_argument("--entropy-model", help="vision encoder for the visual entropy (default: --model)")
    args = parser.parse_args(argv)
    judge = None
    if args.scoring == "judge":
        if not (args.judge_url and args.judge_model):
            parser.error("--scoring judge needs --judge-url and --judge-model")
        judge = JudgeConfig(args.judge_url, args.judge_model, args.judge_key_env or None)
    path = evaluate(
        args.model, args.benchmark, args.out, run=args.run, data_files=args.data_files, scoring=args.scoring,
        judge=judge, limit=args.limit, max_new_tokens=args.max_new_tokens, backend=args.backend,
        device=args.device, min_pixels=args.min_pixels, max_pixels=args.max_pixels,
        entropy_model=args.entropy_model,
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
