"""Visual entropy: the Gram route (P x P, what `auto` picks when P < d) against the d x d
covariance eigendecomposition, at Qwen2.5-VL-7B's width (d=3584) and P in {256, 1024}.

Run: `.venv/bin/python benchmarks/bench_entropy.py [--repeats N]`.
"""

from __future__ import annotations

import argparse

import torch
from common import median_seconds

from durian.difficulty import visual_entropy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dims", type=int, default=3584)
    parser.add_argument("--patches", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"d={args.dims}, float64 accumulation, torch threads={torch.get_num_threads()}")
    for patches in args.patches:
        features = torch.randn(patches, args.dims, generator=torch.Generator().manual_seed(patches))
        gram = median_seconds(lambda: visual_entropy(features, route="gram"), args.repeats)
        cov = median_seconds(lambda: visual_entropy(features, route="covariance"), args.repeats)
        auto = visual_entropy(features)
        diff = abs(auto - visual_entropy(features, route="covariance"))
        print(
            f"P={patches:5d}  gram {gram * 1e3:9.1f} ms   d x d {cov * 1e3:9.1f} ms   "
            f"speed-up {cov / gram:6.1f}x   |H_gram - H_dxd| = {diff:.1e}"
        )


if __name__ == "__main__":
    main()
