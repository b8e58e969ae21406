"""Rebuild every table, figure and the HTML report (``build(scope="all")``) from a results folder,
with seconds per item and the total against the 15 s target (2 cores).

By default the folder is synthetic and paper-sized: every plan target as ``durian.experiment.plan``
makes it (table 1 with three seeds per arm; the sweeps of tables 2, 3 and 7 and the figure-3
ablation with one), the benchmarks' real question counts and 100 training steps, written with
``tests/support/reports_fixtures.py``. ``--folder DIR`` times
an existing results folder instead (copied first; ``--partial`` for one that lacks some targets,
e.g. /work/sample-results-smoke).

Run: `.venv/bin/python benchmarks/bench_report.py [--folder DIR [--partial]] [--n-boot 2000]
[--reference-n-boot 200]`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from durian import experiment
from reports.build import build

REPO = Path(__file__).resolve().parents[1]
# the fixture writer lives with the tests' shared support; appended (not prepended) so that no
# test folder shadows a package
sys.path.append(str(REPO / "tests" / "support"))

TARGET_SECONDS = 15.0
# test / testmini questions per benchmark (MathVerse testmini: 788 problems x 5 versions)
QUESTIONS = {"mathverse": 3940, "mathvista": 1000, "mathvision": 3040, "wemath": 1740, "hallusionbench": 951,
             "geometry3k": 601}
TABLE1_ARMS = ("grpo", "grpo-durian", "dapo", "dapo-durian")
FIG3_ARMS = ("dapo", "dapo-durian-perceptual", "dapo-durian-reasoning", "dapo-durian")
ACCURACY = {experiment.BASE_RUN: 0.50, "grpo": 0.54, "grpo-durian": 0.56, "dapo": 0.55, "dapo-durian": 0.57,
            "dapo-durian-perceptual": 0.555, "dapo-durian-reasoning": 0.56}


def paper_runs(seeds: int) -> dict[str, dict]:
    """Run id -> spec (arm, seed, targets, settings) for every target of the paper plan: table 1
    with ``seeds`` seeds, the other targets with seed 1."""
    from reports_fixtures import DEFAULTS, GRIDS, runs_of

    config = {"defaults": DEFAULTS, "grids": GRIDS, "table1": {"arms": TABLE1_ARMS}, "fig3": {"arms": FIG3_ARMS}}
    targets = experiment.plan({**config, "seeds": [1]})
    targets["table1"] = experiment.plan({**config, "seeds": list(range(1, seeds + 1))})["table1"]
    return runs_of(targets)


def write_paper_sized(root: Path, seeds: int, steps: int) -> int:
    """Write the synthetic folder; returns the number of sample lines."""
    from reports_fixtures import write_results

    rng = np.random.default_rng(0)
    runs = paper_runs(seeds)
    correct, entropy, confidence, metrics = {}, {}, {}, {}
    for run in [experiment.BASE_RUN, *runs]:
        arm = experiment.BASE_RUN if run == experiment.BASE_RUN else runs[run]["arm"]
        for benchmark, n in QUESTIONS.items():
            correct[run, benchmark] = list(rng.random(n) < ACCURACY[arm])
            entropy[run, benchmark] = list(np.round(rng.gamma(4.0, 0.12, n), 6))
            confidence[run, benchmark] = list(np.round(-rng.gamma(2.0, 0.2, n), 6))
        if run != experiment.BASE_RUN:
            prompts = 128
            metrics[run] = [{"step": step, "prompts": prompts, "effective": int(e), "extreme_success": int(s),
                             "extreme_failure": int(f), "accuracy": float(a)}
                            for step, e, s, f, a in zip(range(1, steps + 1), rng.integers(80, 120, steps),
                                                        rng.integers(5, 30, steps), rng.integers(5, 30, steps),
                                                        np.linspace(0.3, 0.6, steps))]
    write_results(root, runs, correct, base_run=experiment.BASE_RUN, benchmarks=list(QUESTIONS), entropy=entropy,
                  confidence=confidence, metrics=metrics, scale="bench")
    return sum(map(len, correct.values()))


def timed_build(root: Path, n_boot: int, partial: bool) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):
        return build(root, scope="all", report_name="report.html", n_boot=n_boot, partial=partial)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, help="an existing results folder (default: synthetic, paper-sized)")
    parser.add_argument("--partial", action="store_true", help="leave out items whose results are missing")
    parser.add_argument("--seeds", type=int, default=3, help="synthetic: seeds per table-1 arm")
    parser.add_argument("--steps", type=int, default=100, help="synthetic: training steps per run")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--reference-n-boot", type=int, default=200,
                        help="also time this many resamples, to show what the bootstrap costs (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results"
        start = time.perf_counter()
        if args.folder:
            shutil.copytree(args.folder, root)
            what = f"copy of {args.folder}"
        else:
            lines = write_paper_sized(root, args.seeds, args.steps)
            what = f"synthetic paper-sized folder ({lines} sample lines, {args.steps} steps)"
        print(f"{what}: written in {time.perf_counter() - start:.1f} s")
        built = timed_build(root, args.n_boot, args.partial)
        print(f"\n{'item':24s} {'seconds':>8s}")
        for name, seconds in built["seconds"].items():
            print(f"{name:24s} {seconds:8.2f}")
        for name in built["skipped"]:
            print(f"{name:24s} {'skipped':>8s}")
        total = built["total_seconds"]
        print(f"{'total (n_boot=' + str(args.n_boot) + ')':24s} {total:8.2f}   "
              f"target {TARGET_SECONDS:.0f} s: {total / TARGET_SECONDS:.2f} of it "
              f"({'within' if total <= TARGET_SECONDS else 'OVER'})")
        if args.reference_n_boot:
            reference = timed_build(root, args.reference_n_boot, args.partial)["total_seconds"]
            print(f"{'total (n_boot=' + str(args.reference_n_boot) + ')':24s} {reference:8.2f}   "
                  f"n_boot={args.n_boot} / n_boot={args.reference_n_boot}: {total / reference:.2f}x")


if __name__ == "__main__":
    main()
