"""Training per arm on CPU: wall time, time per step (verl's timing_s/step) and its generation
part (timing_s/gen), the other phases of a step (old and reference log-probs, the actor's update),
and the peak resident memory summed over every process of the run (driver, Ray, workers, rollout
server). ``--compare KEY V1 V2 ...`` runs each arm once per value of the verl
setting KEY (for example ``actor_rollout_ref.rollout.agent.num_workers 1 2``) and prints each run's
later steps as a ratio to the first value's, measured in the same run.

Run: `.venv/bin/python benchmarks/bench_train.py --world DIR [--scale study] [--arms grpo dapo ...]
[--steps 3] [--compare KEY V1 V2 ...]` where DIR is a built smoke world whose
`entropy/{train,val}.parquet` exist (the tests make them).
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

import yaml

from durian import experiment
from durian.recipe import launch as launcher


PHASES = ("gen", "old_log_prob", "ref", "update_actor", "update_weights")  # verl's timing_s/<phase>


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
    parser.add_argument("--scale", default="smoke", choices=["smoke", "study"])
    parser.add_argument("--compare", nargs="+", default=None, metavar="KEY_THEN_VALUES",
                        help="a verl setting and the values to run it at (default: the scale's own)")
    args = parser.parse_args()
    if args.compare is not None and len(args.compare) < 2:
        parser.error("--compare: a verl setting and at least one value, e.g. --compare trainer.x 1 2")
    key, values = (args.compare[0], [yaml.safe_load(v) for v in args.compare[1:]]) if args.compare else (None, [None])
    world = Path(args.world)
    rows, phases, start_all = [], [], time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for arm, value in [(arm, value) for arm in args.arms for value in values]:
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
                scale=args.scale,
                arm=arm,
                model=str(world / "model"),
                train_files=str(world / "entropy" / "train.parquet"),
                val_files=str(world / "entropy" / "val.parquet"),
                out=Path(tmp) / f"{arm}-{len(rows)}",
                steps=args.steps,
                save_freq=args.steps,
                extra=None if key is None else {key: value},
            )
            wall = time.monotonic() - start
            stop.set()
            thread.join()
            metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            later = metrics[1:] or metrics
            rows.append((arm, "scale's" if key is None else value, wall, metrics[0]["timing_s/step"],
                         statistics.median(m["timing_s/step"] for m in later),
                         statistics.median(m["timing_s/gen"] for m in later), peak["value"]))
            phases.append({phase: statistics.median(m.get(f"timing_s/{phase}", 0.0) for m in later) for phase in PHASES})
    reference = {arm: (step, gen) for arm, _, _, _, step, gen, _ in reversed(rows)}  # each arm's first setting
    width = max(13, len(key or "setting"))
    print(f"{'arm':16s} {key or 'setting':>{width}s} {'wall s':>7s} {'step 1 s':>9s} {'later steps s':>14s} "
          f"{'of which gen s':>15s} {'step ratio':>11s} {'gen ratio':>10s} {'peak RSS GB':>12s}")
    for arm, value, wall, first, step, gen, rss in rows:
        ref_step, ref_gen = reference[arm]
        print(f"{arm:16s} {value!s:>{width}} {wall:7.0f} {first:9.1f} {step:14.1f} {gen:15.1f} "
              f"{step / ref_step:11.2f} {gen / ref_gen:10.2f} {rss / 1e9:12.1f}")
    print(f"\nmedian of later steps, s: {'arm':16s} {key or 'setting':>{width}s} " + " ".join(f"{p:>13s}" for p in PHASES))
    for (arm, value, *_), phase in zip(rows, phases, strict=True):
        print(f"{'':26s}{arm:16s} {value!s:>{width}} " + " ".join(f"{phase[p]:13.2f}" for p in PHASES))
    print(f"all {len(rows)} runs x {args.steps} steps ({args.scale} scale): {time.monotonic() - start_all:.0f} s")

if __name__ == "__main__":
    main()
