"""A whole smoke evaluation of one checkpoint: the six tasks on their offline fixtures in one
evaluation session (model and vision tower loaded once, as ``python -m eval.run`` does), through
lmms-eval's Python API (rules scoring), with per-benchmark seconds and samples per second (visual
entropy and confidence included; the first benchmark also pays for loading the model).

Run: `.venv/bin/python benchmarks/bench_eval.py --model DIR [--n 24] [--max-new-tokens 48]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from eval.fixtures import write_fixtures
from eval.session import Session, Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    settings = Settings(max_new_tokens=args.max_new_tokens, min_pixels=3136, max_pixels=12544)
    with tempfile.TemporaryDirectory() as tmp, Session(args.model, run="bench", settings=settings) as session:
        fixtures = write_fixtures(Path(tmp) / "fixtures", n=args.n)
        start_all = time.monotonic()
        print(f"{'benchmark':16s} {'n':>4s} {'accuracy':>9s} {'seconds':>8s} {'samples/s':>10s}")
        for benchmark, data_files in fixtures.items():
            start = time.monotonic()
            summary = json.loads(session.evaluate(benchmark, Path(tmp) / "out", data_files).read_text())
            seconds = time.monotonic() - start
            n = summary["n"]
            print(f"{benchmark:16s} {n:4d} {summary['accuracy']:9.3f} {seconds:8.1f} {n / seconds:10.2f}")
        print(f"all six tasks: {time.monotonic() - start_all:.1f} s")


if __name__ == "__main__":
    main()
