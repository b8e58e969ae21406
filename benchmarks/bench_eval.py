"""A whole smoke evaluation of one checkpoint: the six tasks on their offline fixtures in one
evaluation session (model and vision tower loaded once, as ``python -m eval.run`` does), through
lmms-eval's Python API (rules scoring), once per batch size, measured in the same run.

Per benchmark: seconds and questions per second, whole (visual entropy and confidence included;
the first benchmark also pays for loading the model) and for lmms-eval's generation alone.

Run: `.venv/bin/python benchmarks/bench_eval.py --model DIR [--n 24] [--max-new-tokens 48] [--batch-sizes 1 16]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from eval.fixtures import write_fixtures
from eval.session import Session, Settings


def one_session(model: str, fixtures: dict, out: Path, batch_size: int, max_new_tokens: int) -> tuple[float, float, int]:
    """(whole seconds, generation seconds, questions) over the six tasks."""
    settings = Settings(max_new_tokens=max_new_tokens, min_pixels=3136, max_pixels=12544, batch_size=batch_size)
    whole = generation = 0.0
    questions = 0
    print(f"batch size {batch_size}")
    print(f"  {'benchmark':16s} {'n':>4s} {'accuracy':>9s} {'seconds':>8s} {'q/s':>7s} {'generate q/s':>13s}")
    with Session(model, run="bench", settings=settings) as session:
        for benchmark, data_files in fixtures.items():
            start = time.monotonic()
            summary = json.loads(session.evaluate(benchmark, out / f"b{batch_size}", data_files).read_text())
            seconds = time.monotonic() - start
            n = summary["n"]
            whole, generation, questions = whole + seconds, generation + summary["eval_seconds"], questions + n
            print(f"  {benchmark:16s} {n:4d} {summary['accuracy']:9.3f} {seconds:8.1f} {n / seconds:7.1f}"
                  f" {n / summary['eval_seconds']:13.1f}")
    print(f"  all six tasks: {whole:.1f} s, {questions / whole:.1f} q/s; generation alone {questions / generation:.1f} q/s")
    return whole, generation, questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fixtures = write_fixtures(Path(tmp) / "fixtures", n=args.n)
        runs = {b: one_session(args.model, fixtures, Path(tmp) / "out", b, args.max_new_tokens) for b in args.batch_sizes}
    reference = args.batch_sizes[0]
    for b, (whole, generation, _) in runs.items():
        print(f"batch {b:4d}: whole {runs[reference][0] / whole:.1f}x, generation {runs[reference][1] / generation:.1f}x"
              f" against batch {reference}")


if __name__ == "__main__":
    main()
