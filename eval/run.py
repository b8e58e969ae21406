"""``python -m eval.run``: evaluate one checkpoint on one or more benchmarks, in one process.

The model and the vision tower load once (:class:`eval.session.Session`); per benchmark it writes
``<out>/<benchmark>.samples.jsonl`` and ``<out>/<benchmark>.json`` and prints one line (benchmark,
questions, accuracy, seconds).

    python -m eval.run --model DIR_OR_HUB_ID --run RUN --out DIR --benchmarks mathvista,wemath \\
        [--data-file wemath=FILE_OR_FOLDER ...] [--limit N] [--max-new-tokens N] [--backend hf|vllm] \\
        [--device cpu] [--min-pixels N] [--max-pixels N] [--split mathvision=test] \\
        [--extraction hallusionbench=strict] [--skip-bad-rows] \\
        [--scoring judge --judge-url URL --judge-model M [--judge-key-env VAR] [--judge-timeout S]]

``--benchmark NAME`` (one) and ``--data-files PATH`` (its source) keep working. With ``--scoring
judge`` the key variable and the endpoint are checked before anything is generated, and the
answers are written to ``<out>/<benchmark>.generations.jsonl`` before they are judged: a rerun after
a judge failure reuses them. A row that cannot be evaluated (image missing or undecodable, answer
missing) stops the run with one line naming it; ``--skip-bad-rows`` leaves such rows out and records
them in ``<out>/<benchmark>.bad_rows.json`` (the result's ``skipped``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from durian.experiment import BENCHMARKS
from eval.judge import JudgeConfig, JudgeError
from eval.rows import BadRowError
from eval.session import PAPER_MAX_PIXELS, PAPER_MIN_PIXELS, Session, Settings
from eval.task import task


def evaluate(model_dir: str | os.PathLike, benchmark: str, out_dir: str | os.PathLike, *, run: str,
             data_files: str | os.PathLike | None = None, **settings: Any) -> Path:
    """Evaluate one benchmark (``settings``: the fields of :class:`eval.session.Settings`); returns
    the summary's path."""
    with Session(model_dir, run=run, settings=Settings(**settings)) as session:
        return session.evaluate(benchmark, out_dir, data_files)


def evaluate_many(model_dir: str | os.PathLike, benchmarks: Iterable[str], out_dir: str | os.PathLike, *, run: str,
                  data_files: Mapping[str, str | os.PathLike | None] | None = None, progress=None,
                  **settings: Any) -> dict[str, Path]:
    """Evaluate several benchmarks with the model loaded once; returns benchmark -> summary path."""
    with Session(model_dir, run=run, settings=Settings(**settings)) as session:
        return session.evaluate_many(benchmarks, out_dir, data_files, progress)


# ------------------------------------------------------------------------------------------ CLI
def _benchmarks(text: str) -> list[str]:
    names = list(BENCHMARKS) if text == "all" else [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown benchmarks {unknown}; choose from {', '.join(BENCHMARKS)} or 'all'")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a benchmark named twice in {text!r}")
    return names


def _data_file(text: str, what: str = "PATH") -> tuple[str, str]:
    benchmark, sep, path = text.partition("=")
    if not sep or not path or benchmark not in BENCHMARKS:
        raise argparse.ArgumentTypeError(f"expected BENCHMARK={what} with BENCHMARK one of {', '.join(BENCHMARKS)}, "
                                         f"got {text!r}")
    return benchmark, path


def _split(text: str) -> tuple[str, str]:
    benchmark, split = _data_file(text, "SPLIT")
    try:
        task(benchmark).check_split(split)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return benchmark, split


def _extraction(text: str) -> tuple[str, str]:
    benchmark, name = _data_file(text, "EXTRACTION")
    try:
        task(benchmark).adapter.extraction(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return benchmark, name


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.run",
        description="Evaluate a Qwen2.5-VL checkpoint on benchmarks through lmms-eval (model loaded once).")
    p.add_argument("--model", required=True, help="checkpoint folder or hub id")
    p.add_argument("--out", required=True, help="folder for <benchmark>.json and <benchmark>.samples.jsonl")
    p.add_argument("--run", required=True, help="a name recorded with the results")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--benchmarks", type=_benchmarks, help=f"comma list of {','.join(BENCHMARKS)}, or 'all'")
    which.add_argument("--benchmark", choices=list(BENCHMARKS), help="a single benchmark")
    p.add_argument("--data-file", type=_data_file, action="append", default=[], metavar="BENCHMARK=PATH",
                   help="a benchmark's local parquet file, hub-layout folder or save_to_disk folder "
                        "(repeatable; a benchmark without one reads the hub)")
    p.add_argument("--data-files", metavar="PATH", help="with --benchmark: its local source (as --data-file)")
    p.add_argument("--scoring", choices=["rules", "judge"], default="rules")
    p.add_argument("--judge-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--judge-model")
    p.add_argument("--judge-key-env", default="OPENAI_API_KEY", help="variable holding the API key ('' for none)")
    p.add_argument("--judge-timeout", type=float, default=JudgeConfig.timeout_seconds,
                   help="seconds per judge request (default %(default)s)")
    p.add_argument("--split", type=_split, action="append", default=[], metavar="BENCHMARK=SPLIT",
                   help="a benchmark's split other than its task's (mathvision=test: the full 3,040); repeatable")
    p.add_argument("--extraction", type=_extraction, action="append", default=[], metavar="BENCHMARK=NAME",
                   help="a rule-scored benchmark's extraction (hallusionbench=strict: the last \\boxed{} only, "
                        "the paper protocol; lenient: the default); repeatable")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="leave out rows that cannot be evaluated, recorded in <out>/<benchmark>.bad_rows.json")
    p.add_argument("--limit", type=int, help="the first N questions of each benchmark (N >= 1)")
    p.add_argument("--batch-size", type=int, default=1, help="questions per generate call (N >= 1; default 1)")
    p.add_argument("--max-new-tokens", type=int, help="default: the tasks' (eval/tasks/_default_template_yaml)")
    p.add_argument("--backend", choices=["hf", "vllm"], default="hf")
    p.add_argument("--device", help="default: cuda when available, else cpu")
    p.add_argument("--min-pixels", type=int, default=PAPER_MIN_PIXELS)
    p.add_argument("--max-pixels", type=int, default=PAPER_MAX_PIXELS)
    p.add_argument("--entropy-model", help="vision encoder for the visual entropy (default: --model)")
    return p


def _fail(message: str) -> NoReturn:
    print(f"eval.run: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        _fail(f"--limit: a positive number of questions (leave it out for all), got {args.limit}")
    if args.batch_size < 1:
        _fail(f"--batch-size: a positive number of questions, got {args.batch_size}")
    if not args.judge_timeout > 0:
        _fail(f"--judge-timeout: positive seconds, got {args.judge_timeout}")
    benchmarks = args.benchmarks or [args.benchmark]
    if args.data_files is not None:
        if len(benchmarks) != 1:
            p.error("--data-files PATH is one benchmark's source: use --data-file BENCHMARK=PATH with --benchmarks")
        args.data_file.append((benchmarks[0], args.data_files))
    data_files = dict(args.data_file)
    if len(data_files) != len(args.data_file):
        p.error("--data-file: a benchmark given two sources")
    if stray := sorted(set(data_files) - set(benchmarks)):
        p.error(f"--data-file for benchmarks not evaluated: {', '.join(stray)}")
    judge = None
    if args.scoring == "judge":
        if not (args.judge_url and args.judge_model):
            p.error("--scoring judge needs --judge-url and --judge-model")
        judge = JudgeConfig(args.judge_url, args.judge_model, args.judge_key_env or None,
                            timeout_seconds=args.judge_timeout)
    for option, pairs in (("--split", args.split), ("--extraction", args.extraction)):
        if len(dict(pairs)) != len(pairs):
            p.error(f"{option}: a benchmark given twice")
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        evaluate_many(args.model, benchmarks, args.out, run=args.run, data_files=data_files,
                      progress=lambda line: print(line, flush=True), scoring=args.scoring, judge=judge,
                      limit=args.limit, max_new_tokens=args.max_new_tokens, backend=args.backend, device=args.device,
                      min_pixels=args.min_pixels, max_pixels=args.max_pixels, entropy_model=args.entropy_model,
                      splits=dict(args.split), extraction=dict(args.extraction), skip_bad_rows=args.skip_bad_rows,
                      batch_size=args.batch_size)
    except (BadRowError, JudgeError) as error:  # their messages name the row or the judge: no traceback
        _fail(str(error))


if __name__ == "__main__":
    main()
