"""Smoke training per arm on CPU: wall time, time per step (verl's timing_s/step), and the peak
resident memory summed over every process of the run (driver, Ray, workers, rollout server).

Run: `.venv/bin/python benchmarks/bench_train.py --world DIR [--arms grpo dapo ...] [--steps 3]`
where DIR is a built smoke world whose `entropy/{train,val}.parquet` exist (the tests make them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from durian import experiment
from durian.recipe import launch as launcher


def _processes() -> list[tuple[int, int]]:
    """(process group id, resident bytes) of every process on the machine."""
    page = os.sysconf("SC_PAGE_SIZE")
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                group = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
                found.append((group, int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _rss_of_new_groups(before: set[int]) -> int:
    """The launcher runs verl in its own process group, so new groups are the run's processes."""
    return sum(rss for group, rss in _processes() if group not in before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", required=True)
    parser.add_argument("--arms", nargs="+", default=["grpo", "grpo-durian", "dapo", "dapo-durian"],
                        choices=sorted(experiment.arms()), metavar="ARM")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    world = Path(args.world)
    rows, start_all = [], time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for arm in args.arms:
            baseline = {group for group, _ in _processes()}
            peak = {"value": 0}
            stop = threading.Event()

            def poll():
                while not stop.wait(0.5):
                    peak["value"] = max(peak["value"], _rss_of_new_groups(baseline))

            thread = threading.Thread(target=poll, daemon=True)
            thread.start()
            start = time.monotonic()
            run = launcher.train(
                scale="smoke",
                arm=arm,
                model=str(world / "model"),
                train_files=str(world / "entropy" / "train.parquet"),
                val_files=str(world / "entropy" / "val.parquet"),
                out=Path(tmp) / arm,
                steps=args.steps,
                save_freq=args.steps,
            )
            wall = time.monotonic() - start
            stop.set()
            thread.join()
            steps = [json.loads(line)["timing_s/step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
            rows.append((arm, wall, steps[0], statistics.median(steps[1:]) if len(steps) > 1 else steps[0], peak["value"]))
    print(f"{'arm':16s} {'wall s':>7s} {'step 1 s':>9s} {'later steps s':>14s} {'peak RSS GB':>12s}")
    for arm, wall, first, later, rss in rows:
        print(f"{arm:16s} {wall:7.0f} {first:9.1f} {later:14.1f} {rss / 1e9:12.1f}")
    print(f"all {len(rows)} arms x {args.steps} steps: {time.monotonic() - start_all:.0f} s")


if __name__ == "__main__":
    main()
