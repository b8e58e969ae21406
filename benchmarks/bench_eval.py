"""A whole smoke evaluation of one checkpoint: the six tasks on their offline fixtures through
lmms-eval's Python API (rules scoring), with per-benchmark seconds and samples per second
(model load, visual entropy and confidence included).

Run: `.venv/bin/python benchmarks/bench_eval.py --model DIR [--n 24] [--max-new-tokens 48]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from eval.fixtures import write_fixtures
from eval.run import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fixtures = write_fixtures(Path(tmp) / "fixtures", n=args.n)
        start_all = time.monotonic()
        print(f"{'benchmark':16s} {'n':>4s} {'accuracy':>9s} {'seconds':>8s} {'samples/s':>10s}")
        for benchmark, data_files in fixtures.items():
            start = time.monotonic()
            result = evaluate(
                args.model, benchmark, Path(tmp) / "out", run="bench", data_files=data_files,
                max_new_tokens=args.max_new_tokens, min_pixels=3136, max_pixels=12544,
            )
            seconds = time.monotonic() - start
            summary = json.loads(Path(result).read_text()) if Path(result).is_file() else {}
            n = summary.get("n", args.n)
            print(f"{benchmark:16s} {n:4d} {summary.get('accuracy', float('nan')):9.3f} {seconds:8.1f} {n / seconds:10.2f}")
        print(f"all six tasks: {time.monotonic() - start_all:.1f} s")


if __name__ == "__main__":
    main()
